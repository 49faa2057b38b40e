"""Independent verifier of a synthq chaos run: nothing lost, nothing written twice.

Reads every pipeline topic read_committed with Confluent's own client (confluent-kafka,
librdkafka inside) and decodes values from Confluent's wire format itself: byte 0, the schema's
registry id (4 bytes, big-endian), then Avro binary, decoded with fastavro against the writer
schema fetched from the registry's Confluent API by id. None of synthq's code is used: what this
file knows of synthq is the topic map, the lineage field of the records, the dead-letter record
and the sink's checkpoint format, all of them public contracts (schemas/*.avsc, docs/).

For every stage S with input topic I and output topic O, and every record r of I:

  outputs(r)  = records of O whose lineage.upstream names (I, partition, offset) of r
  letters(r)  = dead letters of stage S whose source is (I, partition, offset) of r
  lost        : r lies below the stage group's committed offset (it was consumed) and has no
                output and no dead letter; at the end, when every group drained, every r
  duplicated  : outputs(r) + letters(r) > 1 counts the extra ones; an output or letter naming a
                record that is not in I (read_committed: an aborted or never-written input)
                counts as duplicated too
Root inputs: every id the run ingested must be in its input topic once (missing: lost; more
than once: duplicated). The sink (a stateful stage, not one output per input) is checked through
its newest complete checkpoint: the scored records it has seen must be exactly the records below
the offsets the checkpoint covers.

  watch  prints one JSON line per check (every --interval s) while the run goes on; on a line
         "final" on stdin it reads every partition to its high watermark, prints the final
         report as one JSON line {"type": "final", ...} and exits
  once   one final check now, printed the same way
"""
import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import select
import sys
import time
import urllib.error
import urllib.request
import uuid

import fastavro
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

# (stage, input topic suffix, output topic suffix)
STAGES = [
    ("concept-extraction", "instructions.real", "concepts"),
    ("search-retrieval", "concepts", "instructions.grounded"),
    ("situation-grounding", "instructions.grounded", "demonstrations"),
    ("document-hygiene", "documents", "documents.clean"),
    ("situation-envisioning", "documents.clean", "situations"),
    ("instruction-generation", "situations", "instructions.synthesized"),
    ("scoring", "instructions.synthesized", "instructions.scored"),
]
SINK = ("sink", "instructions.scored")
ROOTS = {"seeds": "instructions.real", "documents": "documents"}
DLQ = "dlq"
SINK_STATE = "sink.state"
SAMPLE = "sample"
# Root inputs are only counted by key; their (large) values are never decoded.
KEY_ONLY = {"instructions.real", "documents", SAMPLE}
MAX_DETAILS = 25


def log(msg):
    sys.stderr.write(f"verify: {msg}\n")
    sys.stderr.flush()


class Registry:
    """Writer schemas by id from a Confluent-compatible registry, cached; waits out restarts."""

    def __init__(self, url, wait_s=180):
        self.url = url.rstrip("/")
        self.wait_s = wait_s
        self.cache = {}

    def schema(self, schema_id):
        parsed = self.cache.get(schema_id)
        if parsed is not None:
            return parsed
        deadline = time.time() + self.wait_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/schemas/ids/{schema_id}", timeout=10) as res:
                    body = json.loads(res.read())
                break
            except (urllib.error.URLError, OSError, ValueError) as err:
                if time.time() > deadline:
                    raise RuntimeError(f"registry {self.url}: schema id {schema_id} unavailable: {err}")
                time.sleep(1)
        parsed = fastavro.parse_schema(json.loads(body["schema"]), named_schemas={})
        self.cache[schema_id] = parsed
        return parsed

    def decode(self, raw):
        if raw is None:
            return None
        if len(raw) < 5 or raw[0] != 0:
            raise ValueError(f"not Confluent wire format (first byte {raw[:1].hex()})")
        schema_id = int.from_bytes(raw[1:5], "big")
        return fastavro.schemaless_reader(io.BytesIO(raw[5:]), self.schema(schema_id))


class Verifier:
    def __init__(self, args):
        self.args = args
        self.prefix = args.prefix
        self.registry = Registry(args.registry)
        self.t = lambda suffix: f"{self.prefix}.{suffix}"
        self.stage_in = {s: self.t(i) for s, i, _ in STAGES}
        self.stage_out = {s: self.t(o) for s, _, o in STAGES}
        self.topics = sorted({self.t(x) for _, i, o in STAGES for x in (i, o)} | {self.t(DLQ), self.t(SINK_STATE), self.t(SAMPLE)})
        self.inputs_of = {}   # topic -> [stage] reading it
        self.outputs_of = {}  # topic -> [stage] writing it
        for s, i, o in STAGES:
            self.inputs_of.setdefault(self.t(i), []).append(s)
            self.outputs_of.setdefault(self.t(o), []).append(s)
        # Per topic: (partition, offset) -> key, for every committed record read.
        self.records = {t: {} for t in self.topics}
        # stage -> (partition, offset) of its input -> [(topic, partition, offset, key)] of outputs / letters
        self.outputs = {s: {} for s, _, _ in STAGES}
        self.letters = {s: {} for s in [x[0] for x in STAGES] + [SINK[0]]}
        self.sink_parts = {}  # key -> decoded checkpoint part (compacted view)
        self.sample_live = {}  # key -> bool
        self.decode_errors = []
        self.eof = {}          # (topic, partition) -> offset of the last end-of-partition event
        self.fresh = set()     # partitions with a message since their last EOF event
        self.suspects = {}     # (stage, partition, offset) -> time it was first seen lost
        self.checks = 0
        self.started = time.time()
        conf = {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"chaos-verifier-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.max.bytes": 8 * 1024 * 1024,
        }
        self.consumer = Consumer(conf)
        self.admin = AdminClient({"bootstrap.servers": args.bootstrap})
        self.group_consumers = {}
        self.assigned = []
        self.assign()

    # ---- reading ----------------------------------------------------------------------------

    def assign(self):
        md = self.admin.list_topics(timeout=30)
        tps = []
        for t in self.topics:
            tm = md.topics.get(t)
            if tm is None or tm.error is not None:
                raise RuntimeError(f"topic {t} not found in the cluster metadata")
            for p in sorted(tm.partitions):
                tps.append(TopicPartition(t, p, -2))  # OFFSET_BEGINNING
        self.consumer.assign(tps)
        self.assigned = [(tp.topic, tp.partition) for tp in tps]

    def handle(self, msg):
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        key = msg.key().decode("utf-8") if msg.key() is not None else None
        self.fresh.add((topic, partition))
        if (partition, offset) in self.records[topic]:
            return  # delivered again (an offset reset after a broker bounce): already counted
        self.records[topic][(partition, offset)] = key
        short = topic[len(self.prefix) + 1:]
        if short == SAMPLE:
            self.sample_live[key] = msg.value() is not None
            return
        if short in KEY_ONLY:
            return
        if msg.value() is None:
            if short == SINK_STATE:
                self.sink_parts.pop(key, None)
            return
        try:
            value = self.registry.decode(msg.value())
        except Exception as err:  # noqa: BLE001 - any undecodable record is a finding, not a crash
            self.decode_errors.append({"topic": topic, "partition": partition, "offset": offset, "error": str(err)})
            return
        if short == DLQ:
            stage = value["stage"]
            src = (value.get("source_partition"), value.get("source_offset"))
            self.letters.setdefault(stage, {}).setdefault(src, []).append((topic, partition, offset, key, value.get("source_topic"), value.get("error_class")))
            return
        if short == SINK_STATE:
            self.sink_parts[key] = value
            return
        for stage in self.outputs_of.get(topic, []):
            want = self.stage_in[stage]
            ups = [u for u in (value.get("lineage") or {}).get("upstream", []) if u.get("topic") == want]
            if not ups:
                self.decode_errors.append({"topic": topic, "partition": partition, "offset": offset, "error": f"no lineage.upstream entry for {want}"})
                continue
            for u in ups:
                self.outputs[stage].setdefault((u.get("partition"), u.get("offset")), []).append((topic, partition, offset, key))

    def poll_until(self, done, timeout_s):
        """Consumes until done() or the timeout; returns whether done() held."""
        deadline = time.time() + timeout_s
        while True:
            if done():
                return True
            if time.time() > deadline:
                return False
            for msg in self.consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                if err is None:
                    self.handle(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    self.eof[(msg.topic(), msg.partition())] = msg.offset()
                    self.fresh.discard((msg.topic(), msg.partition()))
                elif err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART,):
                    continue
                elif err.retriable() or not err.fatal():
                    continue  # broker bounces: librdkafka reconnects by itself
                else:
                    raise KafkaException(err)

    def at_end_now(self):
        """Every partition has reached its end (LSO) since its last message."""
        return all(tp in self.eof and tp not in self.fresh for tp in self.assigned)

    def high_watermarks(self):
        """Every partition's high watermark: one ListOffsets round from a fresh admin client (an old
        one may hold leader epochs from before a broker bounce), else partition by partition."""
        from confluent_kafka import IsolationLevel
        from confluent_kafka.admin import OffsetSpec
        for attempt in range(5):
            admin = AdminClient({"bootstrap.servers": self.args.bootstrap})
            try:
                req = {TopicPartition(t, p): OffsetSpec.latest() for t, p in self.assigned}
                futures = admin.list_offsets(req, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=15)
                return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
            except KafkaException as err:
                log(f"high watermarks: {err}; again")
                time.sleep(1)
        hw = {}
        for topic, partition in self.assigned:
            for attempt in range(30):
                try:
                    hw[(topic, partition)] = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)[1]
                    break
                except KafkaException:
                    time.sleep(1)
            else:
                raise RuntimeError(f"no high watermark for {topic}-{partition}")
        return hw

    def committed(self, group, topic):
        c = self.group_consumers.get(group)
        if c is None:
            c = Consumer({"bootstrap.servers": self.args.bootstrap, "group.id": group, "enable.auto.commit": False})
            self.group_consumers[group] = c
        parts = [TopicPartition(topic, p) for t, p in self.assigned if t == topic]
        for attempt in range(20):
            try:
                res = c.committed(parts, timeout=10)
                return {tp.partition: (tp.offset if tp.offset >= 0 else 0) for tp in res}
            except KafkaException:
                time.sleep(1)
        raise RuntimeError(f"committed offsets of group {group} unavailable")

    def all_committed(self):
        out = {}
        for s, i, _ in STAGES:
            out[s] = self.committed(f"{self.prefix}.{s}", self.t(i))
        out[SINK[0]] = self.committed(f"{self.prefix}.{SINK[0]}", self.t(SINK[1]))
        return out

    # ---- judging ----------------------------------------------------------------------------

    def expected_ids(self):
        ids = {}
        for kind in ROOTS:
            path = os.path.join(self.args.expected, f"{kind}.ids")
            ids[kind] = [line.strip() for line in open(path, encoding="utf-8") if line.strip()] if os.path.exists(path) else []
        return ids

    def sink_checkpoint(self):
        by_gen = {}
        for part in self.sink_parts.values():
            by_gen.setdefault((part["stage"], part["generation"]), []).append(part)
        best = None
        for (stage, gen), parts in by_gen.items():
            if stage != SINK[0]:
                continue
            parts.sort(key=lambda p: p["part"])
            n = parts[0]["parts"]
            if len(parts) != n or any(p["part"] != i or p["sha256"] != parts[0]["sha256"] for i, p in enumerate(parts)):
                continue
            data = b"".join(p["data"] for p in parts)
            if hashlib.sha256(data).hexdigest() != parts[0]["sha256"]:
                continue
            if best is None or gen > best[0]:
                best = (gen, data, parts[0]["offsets"])
        if best is None:
            return None
        gen, data, offsets = best
        state = json.loads(gzip.decompress(data))
        return {"generation": gen, "counters": state.get("counters", {}), "offsets": {o["partition"]: int(o["offset"]) for o in offsets}}

    def judge(self, committed, final):
        stages = {}
        lost_details, dup_details = [], []
        lost = dup = pending = units = 0
        suspects_now = set()
        for s, _, _ in STAGES:
            in_topic = self.stage_in[s]
            inputs = self.records[in_topic]
            outs = self.outputs[s]
            lets = self.letters.get(s, {})
            c = committed[s]
            st = {"inputs": len(inputs), "consumed": 0, "outputs": sum(len(v) for v in outs.values()), "dead_letters": sum(len(v) for v in lets.values()), "lag": 0, "lost": 0, "dup": 0, "pending": 0}
            for (p, o), key in inputs.items():
                consumed = o < c.get(p, 0)
                if consumed:
                    st["consumed"] += 1
                else:
                    st["lag"] += 1
                n_out = len(outs.get((p, o), []))
                n_let = len(lets.get((p, o), []))
                if n_out + n_let > 1:
                    st["dup"] += n_out + n_let - 1
                    if len(dup_details) < MAX_DETAILS:
                        dup_details.append({"stage": s, "input": f"{in_topic}[{p}]@{o}", "id": key,
                                            "outputs": [f"{t}[{tp}]@{to} key={k}" for t, tp, to, k in outs.get((p, o), [])],
                                            "dead_letters": [f"{t}[{tp}]@{to} {ec}" for t, tp, to, _k, _st, ec in lets.get((p, o), [])]})
                elif n_out + n_let == 0:
                    if consumed or final:
                        suspects_now.add((s, p, o))
                        first = self.suspects.get((s, p, o), time.time())
                        # During the run, a record counts as lost once it stayed lost for longer
                        # than any transaction can stay open: a read_committed reader sees nothing
                        # of a partition past its last stable offset, the start of its oldest open
                        # transaction, so a committed output sits behind another stage
                        # transaction still running (or one a killed worker left, until the
                        # transaction timeout aborts it) — and an output's commit marker lands a
                        # moment after its offset's.
                        if final or time.time() - first >= self.args.lost_after:
                            st["lost"] += 1
                            if len(lost_details) < MAX_DETAILS:
                                lost_details.append({"stage": s, "input": f"{in_topic}[{p}]@{o}", "id": key, "committed_offset": c.get(p, 0),
                                                     "consumed": consumed})
                    else:
                        st["pending"] += 1
            for src, lst in list(outs.items()) + list(lets.items()):
                if src not in inputs:
                    st["dup"] += len(lst)
                    if len(dup_details) < MAX_DETAILS:
                        dup_details.append({"stage": s, "input": f"{in_topic}[{src[0]}]@{src[1]}", "id": None, "orphan": True,
                                            "records": [f"{x[0]}[{x[1]}]@{x[2]} key={x[3]}" for x in lst]})
            units += st["consumed"]
            lost += st["lost"]
            dup += st["dup"]
            pending += st["pending"]
            stages[s] = st
        for key in suspects_now:
            self.suspects.setdefault(key, time.time())
        for key in list(self.suspects):
            if key not in suspects_now:
                del self.suspects[key]

        # Root inputs: what was ingested, once each.
        expected = self.expected_ids()
        ingest = {}
        for kind, suffix in ROOTS.items():
            present = {}
            for key in self.records[self.t(suffix)].values():
                present[key] = present.get(key, 0) + 1
            want = expected[kind]
            wanted = set(want)
            missing = [i for i in want if i not in present]
            extra = sum(n - 1 for n in present.values() if n > 1)
            unknown = [k for k in present if k not in wanted] if final else []
            ingest[kind] = {"expected": len(want), "present": len(present), "missing": len(missing), "duplicated": extra, "unexpected": len(unknown)}
            if final:
                lost += len(missing)
                for i in missing[:5]:
                    lost_details.append({"stage": "ingest", "input": self.t(suffix), "id": i})
            dup += extra
            if extra:
                dup_details.append({"stage": "ingest", "input": self.t(suffix), "ids": [k for k, n in present.items() if n > 1][:10]})

        # The sink: its newest checkpoint has seen exactly the scored records below its offsets.
        scored = self.records[self.t(SINK[1])]
        sc = committed[SINK[0]]
        sink = {"inputs": len(scored), "consumed": sum(1 for (p, o) in scored if o < sc.get(p, 0)), "lag": sum(1 for (p, o) in scored if o >= sc.get(p, 0))}
        cp = self.sink_checkpoint()
        if cp is not None:
            covered = sum(1 for (p, o) in scored if o < cp["offsets"].get(p, 0))
            seen = int(cp["counters"].get("seen", 0))
            live = sum(1 for v in self.sample_live.values() if v)
            sink.update({"checkpoint_generation": cp["generation"], "checkpoint_covers": covered, "seen": seen,
                         "admitted": cp["counters"].get("admitted"), "evicted": cp["counters"].get("evicted"),
                         "sample_live_keys": live, "offsets_match_group": all(cp["offsets"].get(p, 0) == sc.get(p, 0) for p in set(cp["offsets"]) | set(sc))})
            if seen > covered:
                dup += seen - covered
                dup_details.append({"stage": "sink", "detail": f"checkpoint generation {cp['generation']} has seen {seen} scored records, its offsets cover {covered}"})
            elif seen < covered and (final or self.checks > 0):
                lost += covered - seen
                lost_details.append({"stage": "sink", "detail": f"checkpoint generation {cp['generation']} has seen {seen} scored records, its offsets cover {covered}"})
        units += sink["consumed"]
        stages[SINK[0]] = sink
        lag = {s: st["lag"] for s, st in stages.items()}
        return {
            "lost": lost, "dup": dup, "pending": pending, "units": units, "lag": lag,
            "drained": all(v == 0 for v in lag.values()) and all(v["missing"] == 0 for v in ingest.values()),
            "ingest": ingest, "stages": stages, "lost_details": lost_details, "dup_details": dup_details,
            "decode_errors": len(self.decode_errors), "decode_error_details": self.decode_errors[:MAX_DETAILS],
        }

    def check(self):
        committed = self.all_committed()  # first: whatever it covers is visible by the end of the read
        caught_up = self.poll_until(self.at_end_now, self.args.pass_timeout)
        report = self.judge(committed, final=False)
        report.update({"type": "check", "check": self.checks, "caught_up": caught_up, "elapsed_s": round(time.time() - self.started, 1)})
        self.checks += 1
        return report

    def final(self):
        t0 = time.time()
        hw = self.high_watermarks()
        t1 = time.time()
        reached = lambda: all(self.eof.get(tp, -1) >= hw[tp] and tp not in self.fresh for tp in self.assigned)  # noqa: E731
        ok = self.poll_until(reached, self.args.final_timeout)
        t2 = time.time()
        hanging = [f"{t}[{p}] end {self.eof.get((t, p))} < high watermark {hw[(t, p)]}" for t, p in self.assigned if not (self.eof.get((t, p), -1) >= hw[(t, p)])]
        committed = self.all_committed()
        t3 = time.time()
        report = self.judge(committed, final=True)
        aborted = self.count_aborted(hw)
        t4 = time.time()
        log(f"final: high watermarks {t1 - t0:.1f} s, read to them {t2 - t1:.1f} s, committed offsets {t3 - t2:.1f} s, judging and aborted records {t4 - t3:.1f} s")
        report.update({"type": "final", "reached_high_watermarks": ok, "hanging_partitions": hanging, "committed": {s: {str(p): o for p, o in c.items()} for s, c in committed.items()},
                       "aborted_records": aborted, "elapsed_s": round(time.time() - self.started, 1)})
        return report

    def count_aborted(self, hw):
        """Records of aborted transactions, per topic: read_uncommitted minus read_committed."""
        c = Consumer({"bootstrap.servers": self.args.bootstrap, "group.id": f"chaos-verifier-{uuid.uuid4()}", "enable.auto.commit": False,
                      "isolation.level": "read_uncommitted", "enable.partition.eof": True, "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition(t, p, -2) for t, p in self.assigned])
            seen = {}
            ends = {}
            deadline = time.time() + self.args.final_timeout
            while time.time() < deadline and not all(ends.get(tp, -1) >= hw[tp] for tp in self.assigned):
                for msg in c.consume(num_messages=1000, timeout=0.5):
                    err = msg.error()
                    tp = (msg.topic(), msg.partition())
                    if err is None:
                        seen[tp] = seen.get(tp, 0) + 1
                    elif err.code() == KafkaError._PARTITION_EOF:
                        ends[tp] = msg.offset()
            out = {}
            for t in self.topics:
                uncommitted = sum(n for (tt, _), n in seen.items() if tt == t)
                out[t] = max(0, uncommitted - len(self.records[t]))
            return out
        finally:
            c.close()

    def close(self):
        self.consumer.close()
        for c in self.group_consumers.values():
            c.close()


def emit(report):
    sys.stdout.write(json.dumps(report, default=lambda v: base64.b64encode(v).decode() if isinstance(v, (bytes, bytearray)) else str(v)) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["watch", "once"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True, help="Confluent-compatible registry base URL")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--expected", required=True, help="folder with seeds.ids and documents.ids (one ingested id a line)")
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--lost-after", type=float, default=120,
                        help="during the run, seconds a consumed record may lack its output before it counts as lost "
                             "(longer than the stages' transaction timeout, 60 s); the final check counts every one")
    parser.add_argument("--pass-timeout", type=float, default=10, help="longest a periodic read waits for the ends of the partitions")
    parser.add_argument("--final-timeout", type=float, default=120, help="longest the final read waits for every high watermark")
    args = parser.parse_args()
    v = Verifier(args)
    try:
        if args.command == "once":
            emit(v.final())
            return
        last = 0.0
        while True:
            ready, _, _ = select.select([sys.stdin], [], [], 0)
            if ready:
                line = sys.stdin.readline()
                if line == "" or line.strip() == "final":
                    emit(v.final())
                    return
            if time.time() - last >= args.interval:
                last = time.time()
                emit(v.check())
            else:
                v.poll_until(lambda: False, min(0.5, args.interval))
    finally:
        v.close()


if __name__ == "__main__":
    main()
