"""Independent count of one `npm run bench:scale` run: nothing lost, nothing written twice.

Reads every topic of the run's prefix read_committed with Confluent's own client (confluent-kafka,
librdkafka inside) from the beginning to its end (the last stable offset: every transaction of
the stopped run has ended), by key and record size only: no value is decoded and none of
synthq's code is used. What this file knows of synthq is public contract (docs/architecture.md,
the topic map): the scored topic is keyed `ins-<document id>`, a dead letter is keyed by the key
of the record that failed (`<document id>`, `sit-<document id>` or `ins-<document id>`).

  outcome(d) = scored records keyed ins-d + dead letters keyed d, sit-d or ins-d
  lost       = ids of the input file with no outcome
  dup        = outcomes beyond the first, summed over ids (and outcomes of ids not in the input)

Input ids are the bench's own list (--ids FILE, one per line), not read back from the pipeline;
the documents topic is checked against it too (each id exactly once).

Prints one JSON object: lost, dup, per-topic record counts and key/value bytes, and the scored
records' (timestamp, timestamp type, partition) for the throughput windows and the output gaps.

  python count.py --bootstrap HOST:PORT --prefix P --ids FILE [--timeout 120]
"""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    with open(a.ids, encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    expected = set(ids)

    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    md = admin.list_topics(timeout=30)
    topics = sorted(t for t in md.topics if t.startswith(a.prefix + "."))
    tps = [TopicPartition(t, p, -2) for t in topics for p in sorted(md.topics[t].partitions)]
    consumer = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": f"bench-scale-count-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "fetch.max.bytes": 16 * 1024 * 1024,
    })
    consumer.assign(tps)
    at_end = set()
    want = {(tp.topic, tp.partition) for tp in tps}
    stats = {t: {"records": 0, "key_bytes": 0, "value_bytes": 0, "tombstones": 0} for t in topics}
    scored_t = f"{a.prefix}.instructions.scored"
    dlq_t = f"{a.prefix}.dlq"
    docs_t = f"{a.prefix}.documents"
    outcomes = {}        # document id -> number of outcomes
    stray = 0            # outcomes naming an id that was not in the input
    in_topic = {}        # document id -> times in the documents topic
    scored = []          # [timestamp ms, timestamp type, partition]
    letters = []         # dead-letter keys
    deadline = time.time() + a.timeout
    while at_end != want:
        if time.time() > deadline:
            missing = sorted(want - at_end)[:10]
            raise SystemExit(f"count.py: did not reach the end of {len(want - at_end)} partition(s) in {a.timeout} s, e.g. {missing}")
        for msg in consumer.consume(num_messages=2000, timeout=0.5):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_end.add((msg.topic(), msg.partition()))
                    continue
                if err.retriable() or not err.fatal():
                    continue
                raise KafkaException(err)
            topic = msg.topic()
            at_end.discard((topic, msg.partition()))
            key = msg.key()
            value = msg.value()
            s = stats[topic]
            s["records"] += 1
            s["key_bytes"] += len(key) if key else 0
            s["value_bytes"] += len(value) if value else 0
            if value is None:
                s["tombstones"] += 1
            k = key.decode("utf-8") if key is not None else ""
            if topic == docs_t:
                in_topic[k] = in_topic.get(k, 0) + 1
            elif topic == scored_t or topic == dlq_t:
                doc = k
                for p in ("ins-", "sit-"):
                    if doc.startswith(p):
                        doc = doc[len(p):]
                        break
                if doc in expected:
                    outcomes[doc] = outcomes.get(doc, 0) + 1
                else:
                    stray += 1
                if topic == scored_t:
                    ts_type, ts = msg.timestamp()
                    scored.append([ts, ts_type, msg.partition()])
                else:
                    letters.append(k)
    consumer.close()
    lost = [d for d in ids if outcomes.get(d, 0) == 0]
    dup = sum(n - 1 for n in outcomes.values() if n > 1) + stray
    scored.sort()
    print(json.dumps({
        "inputs": len(ids),
        "with_outcome": sum(1 for d in ids if outcomes.get(d, 0) > 0),
        "lost": len(lost),
        "lost_examples": lost[:5],
        "dup": dup,
        "stray": stray,
        "dead_letters": len(letters),
        "dead_letter_examples": letters[:5],
        "documents_topic": {"distinct": len(in_topic), "missing": sum(1 for d in ids if d not in in_topic), "repeated": sum(n - 1 for n in in_topic.values() if n > 1)},
        "topics": stats,
        "scored": scored,
    }))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
