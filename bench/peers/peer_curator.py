"""Curator 0.1.31: one curator.LLM per step, called one after another (Curator has no chaining:
each call returns a dataset that feeds the next).

Structured output. Curator validates each answer against a pydantic `response_format` and
retries the request when it does not validate (that retry is why it loses no rows to malformed
JSON), but on the wire it sends that model's pydantic schema under the name "output_schema",
not synthq's schema, which would make the simulator answer differently. So each step gets a
pydantic model built from synthq's schema (for Curator's validation and retries) and its
`generation_params` carry synthq's exact response_format, which Curator's OpenAI backend writes
over its own (generation_params are applied last when it builds a request).

Requests outside the work, per step: at construction an empty-messages POST to read rate-limit
headers (the simulator answers 400), and at the start of each call a "Jason is 25 years old"
structured-output probe through the openai SDK. When that probe fails (a fault-injected 500 or
malformed answer), Curator raises "does not support structured output" before sending anything;
the call is then made again, up to PROBE_ATTEMPTS times, and counted.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional

from peer_common import Stopwatch, log, output_row, parse_instruction, parse_scores, parse_situation

from bespokelabs import curator
from pydantic import BaseModel, ConfigDict, Field, create_model

TUNED_CONCURRENCY = 256
PROBE_ATTEMPTS = 3


def pydantic_from_schema(name: str, schema: dict) -> Any:
    """A pydantic type for the JSON-schema subset synthq's prompts use (objects, strings with
    length bounds, integer enums), field order kept so model_dump() keeps the answer's order."""
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", []))
        fields = {}
        for prop, sub in schema.get("properties", {}).items():
            t = pydantic_from_schema(f"{name}_{prop}", sub)
            fields[prop] = (t, ...) if prop in required else (Optional[t], None)
        extra = "forbid" if schema.get("additionalProperties") is False else "ignore"
        return create_model(name, __config__=ConfigDict(extra=extra), **fields)
    if kind == "string":
        return Annotated[str, Field(min_length=schema.get("minLength"), max_length=schema.get("maxLength"))]
    if kind == "integer":
        if "enum" in schema:
            return Literal[tuple(schema["enum"])]
        return int
    raise ValueError(f"schema type {kind!r} not supported")


class StepLLM(curator.LLM):
    """One of the three steps: builds its messages from the row, parses the answer into columns."""

    def __init__(self, work, step: str, **kwargs):
        self.work = work
        self.step = step
        super().__init__(**kwargs)

    def prompt(self, row: dict) -> list:
        if self.step == "situation":
            values = {"document": row["document"]}
        elif self.step == "instruction":
            values = {"document": row["document"], "scene": row["scene"], "compositions": row["compositions"]}
        else:
            values = {"query": row["query"]}
        return self.work.messages(self.step, values)

    def parse(self, row: dict, response: BaseModel) -> dict:
        answer = response.model_dump()
        out = dict(row)
        if self.step == "situation":
            out["scene"], out["compositions"] = parse_situation(answer)
        elif self.step == "instruction":
            out["query"] = parse_instruction(answer)
        else:
            # A JSON string keeps the dataset's Arrow schema flat.
            out["scores"] = json.dumps(parse_scores(answer, self.work.criteria))
        return out


def run(work, args, cache_dir):
    concurrency = args.concurrency or (TUNED_CONCURRENCY if args.setting == "tuned" else None)
    backend_params: dict[str, Any] = {
        "base_url": args.base_url,
        "api_key": "x",
        # Else one row that failed after all retries raises at the end and the run returns nothing.
        "require_all_responses": False,
    }
    if args.setting == "tuned":
        # No RPM/TPM budget: without rate-limit headers Curator assumes 200 RPM and 100k TPM and
        # books 4096 output tokens per request for a model litellm does not know.
        backend_params["max_requests_per_minute"] = 1_000_000
        backend_params["max_tokens_per_minute"] = 1_000_000_000
    if concurrency is not None:
        backend_params["max_concurrent_requests"] = concurrency
    settings = {
        "backend": "openai",
        "backend_params": {k: v for k, v in backend_params.items() if k != "api_key"},
        "generation_params": {"max_tokens": work.max_tokens, "response_format": "synthq's json_schema (overrides Curator's)"},
        "response_format": "pydantic model of synthq's schema (validation and retries)",
        "unset_defaults": "max_retries 10, request_timeout 600 s, seconds_to_pause_on_rate_limit 10"
        + ("" if args.setting == "tuned" else ", no RPM/TPM/concurrency set (200 RPM, 100k TPM, 4096 output tokens booked per request)"),
        "cache": "off (CURATOR_DISABLE_CACHE=1)",
    }

    llms = {}
    for step in ("situation", "instruction", "scoring"):
        llms[step] = StepLLM(
            work,
            step,
            model_name=work.model,
            backend="openai",
            response_format=pydantic_from_schema(f"{step.capitalize()}Answer", work.schema(step)),
            generation_params={"max_tokens": work.max_tokens, "response_format": work.response_format(step)},
            backend_params=dict(backend_params),
        )

    probes = {"rate_limit_header_probes": len(llms), "structured_output_probes": 0, "structured_output_probe_failures": 0}
    watch = Stopwatch()
    log(f"curator {curator.__version__}: {len(work.docs)} documents, settings {settings}")

    def call(step, dataset):
        for attempt in range(1, PROBE_ATTEMPTS + 1):
            probes["structured_output_probes"] += 1
            try:
                return llms[step](dataset)
            except ValueError as e:
                if "does not support structured output" not in str(e) or attempt == PROBE_ATTEMPTS:
                    raise
                probes["structured_output_probe_failures"] += 1
                log(f"{step}: Curator's structured-output probe failed ({e}); calling again")
        raise AssertionError("unreachable")

    results = {}
    watch.start()
    data = [{"id": d["id"], "document": d["document"]} for d in work.docs]
    for step in ("situation", "instruction", "scoring"):
        response = call(step, data)
        data = response.dataset
        results[step] = data.to_list()
        watch.mark(step)
        log(f"{step}: {len(results[step])} rows")
    watch.stop()

    # Later steps only see rows that came through earlier ones; keep what each step delivered.
    by_id = {}
    for step in ("situation", "instruction", "scoring"):
        for r in results[step]:
            scores = json.loads(r["scores"]) if step == "scoring" and r.get("scores") else None
            by_id[r["id"]] = output_row(
                r["id"], work.criteria, r.get("scene"), r.get("compositions"), r.get("query"), scores
            )
    return {
        "rows": by_id,
        "settings": settings,
        "elapsed_s": watch.elapsed,
        "peer_version": curator.__version__,
        "timing": {"generation_call": "three LLM calls in sequence", "step_done_at_s": watch.marks},
        "extra_requests": probes,
    }
