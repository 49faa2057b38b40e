/**
 * response — synthesis, after the sink. For each instruction the sink keeps, a responder model
 * (`llm.stages.response`) writes the answer: the assistant turn of the SFT dataset.
 *
 * Input: sample (the compacted changelog of the sample, keyed by instruction id), also read as
 * the `sample` table. Output: responses (compacted, keyed by instruction id).
 *
 * - an upsert (an instruction entered the sample) → its response, with lineage: the sample row,
 *   the prompt and the model, plus the model's temperature and the token counts;
 * - a tombstone (it left) → a tombstone of its response, so the responses topic's latest values
 *   answer the current sample; a call still in flight for it is aborted, and its response
 *   dropped and counted (`evicted_in_flight`);
 * - an instruction already gone from the sample table when its turn comes is not called for
 *   (`evicted_before_call`; sample-watch.ts says how a lagging table is told from an eviction).
 *
 * Calls go through the LLM client, so they are cached like every other call.
 */
import type { SampleRowValue } from '../sink/types.ts'
import type { Lineage } from '../lineage.ts'
import { emit, type ProcessorContext, type Processor } from '../processor.ts'
import { promptRef, type Prompt } from '../prompt.ts'
import { RESPONSE_PROMPT, type ResponseAnswer, type ResponseInput } from './prompt.ts'
import { SampleWatch } from './sample-watch.ts'

export interface ResponseOptions {
  /** Show the responder what the sample row keeps of the grounding document (default false). */
  showDocument: boolean
  /** See SampleWatch: how long a row missing from the sample table is waited for. */
  settleMs: number
  /** The prompt version to send (default the live one; the topology picks it from pipeline.prompts). */
  prompt?: Prompt<ResponseInput>
}

/** synthq.Response as written to the responses topic. */
export interface ResponseValue {
  id: string
  instruction: string
  response: string
  model: { endpoint: string, name: string, temperature: number }
  prompt: { id: string, version: string }
  prompt_tokens: number
  completion_tokens: number
  cached: boolean
  document_shown: boolean
  total: number
  topic: number
  document: SampleRowValue['document']
  lineage: Lineage
}

/** The responder's input for a sample row. */
export function responseInput (row: SampleRowValue, showDocument: boolean): ResponseInput {
  return showDocument
    ? { instruction: row.instruction, material: { title: row.document.title, url: row.document.url, details: row.query_compositions.extra_information ?? '' } }
    : { instruction: row.instruction }
}

/** One call of the response prompt on the stage's model; the answer with what lineage needs. */
export async function respond (ctx: ProcessorContext, row: SampleRowValue, showDocument: boolean, signal: AbortSignal, prompt: Prompt<ResponseInput> = RESPONSE_PROMPT): Promise<{ text: string, model: ResponseValue['model'], promptTokens: number, completionTokens: number, cached: boolean, simulated: boolean }> {
  const llm = ctx.llm()
  const r = await llm.json<ResponseAnswer>({ prompt: promptRef(prompt), messages: prompt.messages(responseInput(row, showDocument)), schema: prompt.schema, signal })
  return {
    text: r.value.assistant_response,
    model: { ...llm.model, temperature: llm.settings.temperature },
    promptTokens: r.promptTokens,
    completionTokens: r.completionTokens,
    cached: r.cached,
    simulated: r.simulated,
  }
}

export function response (opts: ResponseOptions): Processor<SampleRowValue | null> {
  const PROMPT = opts.prompt ?? RESPONSE_PROMPT
  const watch = new SampleWatch({ settleMs: opts.settleMs })
  const counts = { responses: 0, evicted_before_call: 0, evicted_in_flight: 0, tombstones: 0 }
  return {
    name: 'response',
    metrics: () => ({ ...counts }),
    async process (record, ctx) {
      const key = record.key ?? record.value?.id
      if (!key) return emit()
      if (record.value === null) return watch.forwardTombstone(key, 'responses', counts)
      const row = record.value
      const r = await watch.run(record, ctx, async (signal) => await respond(ctx, row, opts.showDocument, signal, PROMPT))
      if (r.evicted) {
        counts[r.evicted === 'before' ? 'evicted_before_call' : 'evicted_in_flight']++
        return emit()
      }
      counts.responses++
      const a = r.value
      const value: ResponseValue = {
        id: row.id,
        instruction: row.instruction,
        response: a.text,
        model: a.model,
        prompt: promptRef(PROMPT),
        prompt_tokens: a.promptTokens,
        completion_tokens: a.completionTokens,
        cached: a.cached,
        document_shown: opts.showDocument,
        total: row.total,
        topic: row.topic,
        document: row.document,
        lineage: ctx.lineage(record, { prompt: promptRef(PROMPT), model: { endpoint: a.model.endpoint, name: a.model.name }, simulated: a.simulated, usage: a }),
      }
      return emit({ topic: 'responses', key, value })
    },
  }
}
