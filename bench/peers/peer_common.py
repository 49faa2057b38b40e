"""What every peer shares: the work, the prompts, the answers' parsing and the output rows.

The three peers must send byte-identical requests (the simulator answers as a function of the
request), so everything that decides a request's bytes lives here, not in the peer modules:
the one-pass placeholder fill, the compact JSON of step 1's compositions, the response_format.

Nothing here imports a peer library: run_peer.py imports this before it has set the
environment the libraries read at import time.
"""

import json
import os
import re
import sys
import time

STEP_NAMES = ("situation", "instruction", "scoring")
PLACEHOLDER = re.compile(r"\{(document|scene|compositions|query)\}")


def fill(template, values):
    """`template` with its {placeholders} replaced in a single pass.

    One pass matters: a document that contains the text "{scene}" must reach the model as
    written, not with step 1's scene pasted into it (which str.replace in sequence would do).
    """
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def log(msg):
    """Progress goes to stderr: stdout's last line is reserved for the summary."""
    print(f"[run_peer {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Work:
    """spec.json and work.jsonl of a folder written by bench/peers/work.ts."""

    def __init__(self, work_dir, limit=None):
        with open(os.path.join(work_dir, "spec.json"), encoding="utf-8") as f:
            self.spec = json.load(f)
        self.model = self.spec["model"]
        self.max_tokens = int(self.spec["max_tokens"])
        self.criteria = list(self.spec["criteria"])
        self.steps = {s["name"]: s for s in self.spec["steps"]}
        missing = [n for n in STEP_NAMES if n not in self.steps]
        if missing:
            raise ValueError(f"spec.json lacks steps {missing}")
        self.docs = []
        with open(os.path.join(work_dir, "work.jsonl"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    self.docs.append({"id": d["id"], "document": d["document"]})
        if limit is not None:
            self.docs = self.docs[:limit]
        ids = [d["id"] for d in self.docs]
        if len(set(ids)) != len(ids):
            raise ValueError("work.jsonl has duplicate ids")

    def system(self, step):
        return self.steps[step]["system"]

    def user(self, step, values):
        """The user message of `step` (see fill)."""
        return fill(self.steps[step]["user_template"], values)

    def messages(self, step, values):
        return [
            {"role": "system", "content": self.system(step)},
            {"role": "user", "content": self.user(step, values)},
        ]

    def response_format(self, step):
        """The OpenAI json_schema response_format synthq sends for `step`."""
        s = self.steps[step]
        return {
            "type": "json_schema",
            "json_schema": {"name": s["schema_name"], "schema": s["schema"], "strict": True},
        }

    def schema(self, step):
        return self.steps[step]["schema"]


def compositions_json(query_compositions):
    """Step 1's compositions as synthq writes them into step 2's prompt: no spaces, non-ASCII
    kept, keys in the order the model gave them."""
    return json.dumps(query_compositions, separators=(",", ":"), ensure_ascii=False)


def loads_object(text):
    """A JSON object from a model answer, or None. Answers arrive as strings (or already parsed
    by a library); anything else, or a non-object, counts as a failed answer."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_situation(answer):
    """(scene, compositions JSON) from step 1's answer, or None when it is not usable."""
    obj = loads_object(answer)
    if obj is None:
        return None
    scene, comps = obj.get("scene"), obj.get("query_compositions")
    if not isinstance(scene, str) or not scene or not isinstance(comps, dict):
        return None
    return scene, compositions_json(comps)


def parse_instruction(answer):
    """The query from step 2's answer, or None."""
    obj = loads_object(answer)
    if obj is None:
        return None
    query = obj.get("query")
    return query if isinstance(query, str) and query else None


def parse_scores(answer, criteria):
    """{criterion: score} from step 3's answer, or None when any criterion is missing or not 0/1."""
    obj = loads_object(answer)
    if obj is None:
        return None
    scores = {}
    for c in criteria:
        entry = obj.get(c)
        score = entry.get("score") if isinstance(entry, dict) else None
        # bool is an int in Python; a JSON true is not a score.
        if isinstance(score, bool) or score not in (0, 1):
            return None
        scores[c] = int(score)
    return scores


def output_row(doc_id, criteria, scene=None, compositions=None, query=None, scores=None):
    """One line of --out. Fields a library did not deliver stay null; total only with scores."""
    total = None
    if scores is not None:
        total = sum(1 for c in criteria if scores.get(c, 0) >= 1)
    return {
        "id": doc_id,
        "scene": scene,
        "compositions": compositions,
        "query": query,
        "scores": scores,
        "total": total,
    }


def is_complete(row, criteria):
    def text(v):
        return isinstance(v, str) and v != ""

    scores = row.get("scores")
    return (
        text(row.get("scene"))
        and text(row.get("compositions"))
        and text(row.get("query"))
        and len(row["query"]) >= 20
        and isinstance(scores, dict)
        and all(c in scores and not isinstance(scores[c], bool) and scores[c] in (0, 1) for c in criteria)
    )


class Stopwatch:
    """Wall time of the generation calls only: start() right before the first one, stop() once
    the last row is in hand. Imports, object construction and probes stay outside."""

    def __init__(self):
        self.t0 = None
        self.t1 = None
        self.marks = {}

    def start(self):
        self.t0 = time.perf_counter()

    def mark(self, name):
        self.marks[name] = round(time.perf_counter() - self.t0, 3)

    def stop(self):
        self.t1 = time.perf_counter()

    @property
    def elapsed(self):
        return round(self.t1 - self.t0, 3)
