/**
 * response-b — synthesis, preference pairs only. For each response the response stage wrote, a
 * second responder (`llm.stages.response-b`: another model, or the same one at another
 * temperature) answers the same instruction with the same prompt; the two go to the judge as a
 * pair.
 *
 * Input: responses (keyed by instruction id). Reads the `sample` table. Output: responsePairs.
 * A tombstone (the instruction left the sample) is forwarded and aborts a call in flight; an
 * instruction gone from the sample before its turn is not called for — as in response.ts.
 */
import type { SampleRowValue } from '../sink/types.ts'
import type { Lineage } from '../lineage.ts'
import { emit, type Processor } from '../processor.ts'
import { promptRef, type Prompt } from '../prompt.ts'
import { RESPONSE_PROMPT, type ResponseInput } from './prompt.ts'
import { respond, type ResponseValue } from './response.ts'
import { SampleWatch } from './sample-watch.ts'

export interface PairedResponse {
  response: string
  model: { endpoint: string, name: string, temperature: number }
  prompt: { id: string, version: string }
  prompt_tokens: number
  completion_tokens: number
  cached: boolean
  simulated: boolean
}

/** synthq.ResponsePair. */
export interface ResponsePairValue {
  id: string
  instruction: string
  a: PairedResponse
  b: PairedResponse
  lineage: Lineage
}

export function responseB (opts: { settleMs: number, /** default: the live version */ prompt?: Prompt<ResponseInput> }): Processor<ResponseValue | null> {
  const PROMPT = opts.prompt ?? RESPONSE_PROMPT
  const watch = new SampleWatch({ settleMs: opts.settleMs })
  const counts = { pairs: 0, identical: 0, evicted_before_call: 0, evicted_in_flight: 0, tombstones: 0 }
  return {
    name: 'response-b',
    metrics: () => ({ ...counts }),
    async process (record, ctx) {
      const key = record.key ?? record.value?.id
      if (!key) return emit()
      if (record.value === null) return watch.forwardTombstone(key, 'responsePairs', counts)
      const a = record.value
      const r = await watch.run(record, ctx, async (signal) => {
        // The row as the sample has it (the response carries the instruction, not the row).
        const row = ctx.table<SampleRowValue>('sample').get(key)
        if (!row) return undefined
        return await respond(ctx, row, a.document_shown, signal, PROMPT)
      })
      if (r.evicted || r.value === undefined) {
        counts[r.evicted === 'during' ? 'evicted_in_flight' : 'evicted_before_call']++
        return emit()
      }
      const b = r.value
      if (b.text === a.response) counts.identical++
      counts.pairs++
      const value: ResponsePairValue = {
        id: a.id,
        instruction: a.instruction,
        a: { response: a.response, model: a.model, prompt: a.prompt, prompt_tokens: a.prompt_tokens, completion_tokens: a.completion_tokens, cached: a.cached, simulated: a.lineage.simulated },
        b: { response: b.text, model: b.model, prompt: promptRef(PROMPT), prompt_tokens: b.promptTokens, completion_tokens: b.completionTokens, cached: b.cached, simulated: b.simulated },
        // b's call only: a's was the response stage's and is on the response's own lineage
        // (adding it here would count it twice, and under b's model).
        lineage: ctx.lineage(record, { prompt: promptRef(PROMPT), model: { endpoint: b.model.endpoint, name: b.model.name }, simulated: b.simulated, usage: b }),
      }
      return emit({ topic: 'responsePairs', key, value })
    },
  }
}
