"""distilabel 1.5.3: the three steps as one Pipeline of TextGeneration tasks.

    LoadDataFromDicts >> prompt_situation >> situation (LLM) >> prompt_instruction
        >> instruction (LLM) >> prompt_scoring >> scoring (LLM)

The prompt_* steps parse the previous answer and write the next user message with the shared
one-pass fill (peer_common), so the bytes match synthq's; the TextGeneration tasks render that
message through their default "{{ instruction }}" template, which leaves it as is.

No `from __future__ import annotations` here: distilabel finds a step's input argument by its
StepInput annotation object, which string annotations would hide.
"""

import functools
import glob
import os
import time
from typing import Any, Dict, List

from peer_common import Stopwatch, fill, log, output_row, parse_instruction, parse_scores, parse_situation

import distilabel
from distilabel.models.llms import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts, Step, StepInput
from distilabel.steps.tasks import TextGeneration

# Tuned input_batch_size. Each LLM step sends its batch with asyncio.gather and waits for the
# slowest answer before taking the next, so a bigger batch keeps more requests in flight. On the
# simulator's h100-8b profile (~256 in service) 128 and 256 were tried, 3 full runs each:
# Pipeline.run took 34.7-35.3 s at 256 against 35.7-37.5 s at 128 (477 documents).
TUNED_BATCH = 256


_MARKS_ENV = "SYNTHQ_PEER_MARKS"
_marked = False


class MarkedOpenAILLM(OpenAILLM):
    """OpenAILLM that notes when its process sends its first request, so the report can tell
    Pipeline.run's start-up (step processes, loading) from the requests themselves. functools.wraps
    keeps agenerate's signature, from which distilabel reads the valid generation_kwargs."""

    @functools.wraps(OpenAILLM.agenerate)
    async def agenerate(self, *args, **kwargs):
        global _marked
        if not _marked and os.environ.get(_MARKS_ENV):
            _marked = True
            with open(os.path.join(os.environ[_MARKS_ENV], f"first_request.{os.getpid()}"), "w") as f:
                f.write(repr(time.time()))
        return await OpenAILLM.agenerate(self, *args, **kwargs)


class PreparePrompt(Step):
    """Parses the answer of the step before (if any) and writes the user message of `stage`.

    A row whose answer does not parse is dropped here, as a distilabel user would filter it:
    TextGeneration cannot take a row without a prompt, and synthq would not send one either.
    """

    stage: str
    template: str

    @property
    def inputs(self) -> List[str]:
        return {
            "situation": ["id", "document"],
            "instruction": ["id", "document", "situation_answer"],
            "scoring": ["id", "instruction_answer"],
        }[self.stage]

    @property
    def outputs(self) -> List[str]:
        return {
            "situation": ["situation_prompt"],
            "instruction": ["scene", "compositions", "instruction_prompt"],
            "scoring": ["query", "scoring_prompt"],
        }[self.stage]

    def _fill(self, values: Dict[str, str]) -> str:
        # The step carries its own copy of the template: it runs in its own process.
        return fill(self.template, values)

    def process(self, inputs: StepInput) -> "StepOutput":  # noqa: F821
        out: List[Dict[str, Any]] = []
        for row in inputs:
            if self.stage == "situation":
                row["situation_prompt"] = self._fill({"document": row["document"]})
            elif self.stage == "instruction":
                parsed = parse_situation(row.get("situation_answer"))
                if parsed is None:
                    self._logger.warning(f"row {row['id']}: situation answer does not parse, dropped")
                    continue
                row["scene"], row["compositions"] = parsed
                row["instruction_prompt"] = self._fill(
                    {"document": row["document"], "scene": row["scene"], "compositions": row["compositions"]}
                )
            else:
                query = parse_instruction(row.get("instruction_answer"))
                if query is None:
                    self._logger.warning(f"row {row['id']}: instruction answer does not parse, dropped")
                    continue
                row["query"] = query
                row["scoring_prompt"] = self._fill({"query": query})
            out.append(row)
        yield out


def run(work, args, cache_dir):
    setting = args.setting
    batch = args.concurrency or (TUNED_BATCH if setting == "tuned" else None)
    settings: Dict[str, Any] = {
        "max_new_tokens": work.max_tokens,
        "response_format": "json_schema via generation_kwargs.extra_body (agenerate takes only string values)",
        "use_cache": False,
        "llm_max_retries": "default (6)",
        "llm_timeout": "default (120 s)",
    }
    batch_kwargs: Dict[str, Any] = {}
    if batch is None:
        settings["input_batch_size"] = "default (50)"
        settings["generator_batch_size"] = "default (50)"
    else:
        # Every step takes batches of the same size: a smaller batch upstream would only make
        # the LLM step wait for several of them before it sends anything.
        batch_kwargs = {"input_batch_size": batch}
        settings["input_batch_size"] = batch
        settings["generator_batch_size"] = batch
    settings["replicas"] = 1

    with Pipeline(name="synthq-peer-bench", cache_dir=os.path.join(cache_dir, "distilabel")) as pipeline:
        load = LoadDataFromDicts(
            name="load",
            data=[{"id": d["id"], "document": d["document"]} for d in work.docs],
            **({"batch_size": batch} if batch else {}),
        )
        previous = load
        for stage in ("situation", "instruction", "scoring"):
            prep = PreparePrompt(
                name=f"prompt_{stage}", stage=stage, template=work.steps[stage]["user_template"], **batch_kwargs
            )
            llm = MarkedOpenAILLM(
                model=work.model,
                base_url=args.base_url,
                api_key="x",
                generation_kwargs={
                    "max_new_tokens": work.max_tokens,
                    "extra_body": {"response_format": work.response_format(stage)},
                },
            )
            gen = TextGeneration(
                name=stage,
                llm=llm,
                system_prompt=work.system(stage),
                input_mappings={"instruction": f"{stage}_prompt"},
                output_mappings={"generation": f"{stage}_answer", "model_name": f"{stage}_model"},
                **batch_kwargs,
            )
            previous >> prep >> gen
            previous = gen

    marks = os.path.join(cache_dir, "marks")
    os.makedirs(marks, exist_ok=True)
    os.environ[_MARKS_ENV] = marks  # the step processes inherit it

    watch = Stopwatch()
    log(f"distilabel {distilabel.__version__}: {len(work.docs)} documents, settings {settings}")
    watch.start()
    started = time.time()
    distiset = pipeline.run(use_cache=False)
    rows = distiset["default"]["train"].to_list()
    watch.stop()

    by_id = {}
    for r in rows:
        scores = parse_scores(r.get("scoring_answer"), work.criteria)
        by_id[r["id"]] = output_row(
            r["id"], work.criteria, r.get("scene"), r.get("compositions"), r.get("query"), scores
        )
    firsts = [float(open(f).read()) for f in glob.glob(os.path.join(marks, "first_request.*"))]
    first_request_s = round(min(firsts) - started, 3) if firsts else None
    # Rows dropped by a prompt step never reach the Distiset; nothing of them is kept.
    return {
        "rows": by_id,
        "settings": settings,
        "elapsed_s": watch.elapsed,
        "peer_version": distilabel.__version__,
        "timing": {
            "generation_call": "Pipeline.run, including its step processes' start-up",
            "first_request_after_s": first_request_s,
        },
    }
