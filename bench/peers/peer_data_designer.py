"""NeMo data-designer 0.9.7: the three steps as columns of one dataset, seeded by the documents.

    document (seed) → situation_prompt → situation (LLM) → instruction_prompt (+ scene,
    compositions) → instruction (LLM) → scoring_prompt (+ query) → scoring (LLM) → total

The *_prompt columns are small Python custom columns using the shared one-pass fill, and each
LLM column's template is just "{{ <step>_prompt }}". Plain Jinja cannot give synthq's bytes:
data-designer JSON-decodes every string column that parses as JSON before rendering (so step 1's
compact compositions JSON would render as a Python dict), and its secure engine refuses
`| tojson`.

Structured output in data-designer is prompt-based: it appends its own instructions and the
schema to the user prompt and parses JSON from the answer. That is its nature and is kept (its
prompts are longer than the other peers'). A server that honours only `response_format` would
answer prose, so each step also sends synthq's response_format in `extra_body`; that setting
lives on the model config, hence one model alias per step. The three aliases name the same
provider and model, so data-designer admits requests for them against one shared cap
(max_parallel_requests of the aliases, their minimum).

Lost rows under faults: its HTTP transport retries only 502/503/504; a 500 or 429 defers the
row's task, deferred tasks get at most two salvage rounds (not a RunConfig setting), and a task
failing a third time drops its row with no cause logged even at debug level (SYNTHQ_PEER_DEBUG=1
turns its debug log on).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from peer_common import Stopwatch, log, output_row, parse_scores, loads_object, compositions_json

import data_designer.config as dd
from data_designer.config.version import get_library_version
from data_designer.interface import DataDesigner
import pandas as pd

TUNED_PARALLEL = 256
# Its default AIMD admission control cuts the limit to 75 % on every 429 and adds 1 back per 25
# successes: with a few percent of 429s the limit sinks to single digits and never comes back.
# Shallow cuts and a fast climb keep it near the cap while still backing off under a real storm.
TUNED_ADMISSION = {"multiplicative_decrease_factor": 0.95, "additive_increase_step": 32, "successes_until_increase": 1}

_work = None  # the Work of this run, for the custom columns (they get only the row)


def _jinja_literal(text: str) -> str:
    """`text` as a Jinja template that renders to exactly `text`. The system prompts are rendered
    as templates too; none holds Jinja syntax today, but a raw block keeps it exact if one does
    (and keeps a trailing newline, which Jinja would strip)."""
    if any(m in text for m in ("{{", "{%", "{#")) or text.endswith("\n"):
        if "{% endraw %}" in text:
            raise ValueError("prompt contains '{% endraw %}'")
        return "{% raw %}" + text + "{% endraw %}"
    return text


def _value(v: Any) -> Any:
    """A cell of the result frame, with pandas' missing values (NaN, None) as None."""
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v


def _answer(value: Any) -> dict | None:
    # An LLM column holds the parsed answer; be tolerant if a version stores it as a JSON string.
    return loads_object(value)


@dd.custom_column_generator(required_columns=["document"])
def situation_prompt(row: dict) -> dict:
    row["situation_prompt"] = _work.user("situation", {"document": row["document"]})
    return row


@dd.custom_column_generator(required_columns=["document", "situation"], side_effect_columns=["scene", "compositions"])
def instruction_prompt(row: dict) -> dict:
    answer = _answer(row["situation"])
    row["scene"] = answer["scene"]
    row["compositions"] = compositions_json(answer["query_compositions"])
    row["instruction_prompt"] = _work.user(
        "instruction", {"document": row["document"], "scene": row["scene"], "compositions": row["compositions"]}
    )
    return row


@dd.custom_column_generator(required_columns=["instruction"], side_effect_columns=["query"])
def scoring_prompt(row: dict) -> dict:
    row["query"] = _answer(row["instruction"])["query"]
    row["scoring_prompt"] = _work.user("scoring", {"query": row["query"]})
    return row


def _sum_expr(terms: list[str]) -> str:
    """a + b + c + … bracketed as a balanced tree: its secure Jinja engine rejects templates more
    than 10 syntax levels deep, which a flat 7-term sum exceeds."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return f"({_sum_expr(terms[:mid])} + {_sum_expr(terms[mid:])})"


def run(work, args, cache_dir):
    global _work
    _work = work
    parallel = args.concurrency or (TUNED_PARALLEL if args.setting == "tuned" else None)

    provider = dd.ModelProvider(name="peer-server", endpoint=args.base_url, provider_type="openai", api_key="x")
    inference: dict[str, Any] = {"max_tokens": work.max_tokens}
    if parallel is not None:
        inference["max_parallel_requests"] = parallel
    models = [
        dd.ModelConfig(
            alias=f"peer-{step}",
            model=work.model,
            provider=provider.name,
            inference_parameters=dd.ChatCompletionInferenceParams(
                **inference, extra_body={"response_format": work.response_format(step)}
            ),
        )
        for step in ("situation", "instruction", "scoring")
    ]

    builder = dd.DataDesignerConfigBuilder(model_configs=models)
    builder.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame(work.docs)))
    for step, prompt_fn in (("situation", situation_prompt), ("instruction", instruction_prompt), ("scoring", scoring_prompt)):
        builder.add_column(dd.CustomColumnConfig(name=f"{step}_prompt", generator_function=prompt_fn))
        builder.add_column(
            dd.LLMStructuredColumnConfig(
                name=step,
                model_alias=f"peer-{step}",
                system_prompt=_jinja_literal(work.system(step)),
                prompt="{{ " + step + "_prompt }}",
                output_format=work.schema(step),
            )
        )
    builder.add_column(
        dd.ExpressionColumnConfig(
            name="total", expr="{{ " + _sum_expr([f"scoring.{c}.score" for c in work.criteria]) + " }}", dtype="int"
        )
    )

    run_config: dict[str, Any] = {"otel_metrics_port": None}  # else it serves metrics on port 9464
    if args.setting == "tuned":
        run_config["request_admission"] = dd.RequestAdmissionTuningConfig(**TUNED_ADMISSION)
    designer = DataDesigner(artifact_path=f"{cache_dir}/data-designer", model_providers=[provider])
    designer.set_run_config(dd.RunConfig(**run_config))
    if os.environ.get("SYNTHQ_PEER_DEBUG"):
        # Why a row was dropped is logged only at debug level.
        logging.getLogger("data_designer").setLevel(logging.DEBUG)

    settings = {
        "max_parallel_requests": parallel if parallel is not None else "default (4)",
        "max_tokens": work.max_tokens,
        "extra_body": "response_format: synthq's json_schema, one model alias per step",
        "run_config": {
            "otel_metrics_port": None,
            "request_admission": TUNED_ADMISSION if args.setting == "tuned" else "default (decrease 0.75, +1 per 25 successes, cooldown 2 s)",
        },
        "unset_defaults": "buffer_size 1000, max_in_flight_tasks 1024, max_conversation_restarts 5, early shutdown above 50 % errors",
        "health_checks": "skipped (DATA_DESIGNER_SKIP_MODEL_HEALTH_CHECKS=1)",
        "structured_output": "prompt-based schema text (data-designer's own) + response_format in extra_body",
    }

    watch = Stopwatch()
    batches_done = []

    def on_batch(path):
        # Called once the rows of a row group are written: when the last one fires, every row
        # is available. What create() does after that (profiling the dataset) is not timed.
        batches_done.append(time.perf_counter())

    log(f"data-designer {get_library_version()}: {len(work.docs)} documents, settings {settings}")
    watch.start()
    results = designer.create(builder, num_records=len(work.docs), dataset_name="synthq-peer", on_batch_complete=on_batch)
    create_s = round(time.perf_counter() - watch.t0, 3)
    watch.t1 = batches_done[-1] if batches_done else time.perf_counter()
    frame = results.load_dataset()

    by_id = {}
    for r in frame.to_dict(orient="records"):
        r = {k: _value(v) for k, v in r.items()}
        scores = parse_scores(r.get("scoring"), work.criteria)
        row = output_row(r["id"], work.criteria, r.get("scene"), r.get("compositions"), r.get("query"), scores)
        total = r.get("total")
        if scores is not None and total is not None and int(total) != row["total"]:
            log(f"row {r['id']}: data-designer's total {total} differs from the scores' {row['total']}")
        by_id[r["id"]] = row
    return {
        "rows": by_id,
        "settings": settings,
        "elapsed_s": watch.elapsed,
        "peer_version": get_library_version(),
        "timing": {
            "generation_call": "DataDesigner.create up to its last on_batch_complete",
            "create_call_s": create_s,
            "batches": len(batches_done),
        },
    }
