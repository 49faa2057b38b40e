/**
 * judge — synthesis, preference pairs only. An LLM judge (`llm.stages.judge`) compares the two
 * responses of a pair, pairwise, **in both orders** (a shown first, then b shown first), so its
 * position bias cancels: a preference is kept only when both orders pick the same response.
 *
 * Input: responsePairs. Reads the `sample` table. Output: preferences (keyed by instruction id),
 * one record per judged pair with its outcome — `preferred` (chosen and rejected, with the
 * judge's reasons), `tie` (a verdict was a tie) or `inconsistent` (the orders disagreed) — so
 * ties and inconsistent verdicts are counted from the topic itself; `synthq export --format dpo`
 * writes only the preferred ones. A tombstone is forwarded; evictions as in response.ts.
 */
import { sumUsage, type Lineage } from '../lineage.ts'
import { emit, type Processor } from '../processor.ts'
import { promptRef, type Prompt } from '../prompt.ts'
import { JUDGE_PROMPT, type JudgeAnswer, type JudgeInput } from './judge-prompt.ts'
import type { PairedResponse, ResponsePairValue } from './response-b.ts'
import { SampleWatch } from './sample-watch.ts'

export type Outcome = 'preferred' | 'tie' | 'inconsistent'

/** synthq.Preference. */
export interface PreferenceValue {
  id: string
  instruction: string
  outcome: Outcome
  chosen: string | null
  rejected: string | null
  chosen_model: string | null
  rejected_model: string | null
  reason: string
  /** Winner in each order, as a/b/tie: [a shown first, b shown first]. */
  verdicts: string[]
  judge: { endpoint: string, name: string }
  prompt_tokens: number
  completion_tokens: number
  lineage: Lineage
}

/** Both orders' verdicts → the outcome and the winner ('a' | 'b') when there is one. */
export function combineVerdicts (first: JudgeAnswer['better_response'], second: JudgeAnswer['better_response']): { outcome: Outcome, winner?: 'a' | 'b', verdicts: [string, string] } {
  // First order shows a as A; second shows b as A.
  const v1 = first === 'tie' ? 'tie' : first === 'A' ? 'a' : 'b'
  const v2 = second === 'tie' ? 'tie' : second === 'A' ? 'b' : 'a'
  const verdicts: [string, string] = [v1, v2]
  if (v1 === 'tie' || v2 === 'tie') return { outcome: 'tie', verdicts }
  if (v1 !== v2) return { outcome: 'inconsistent', verdicts }
  return { outcome: 'preferred', winner: v1, verdicts }
}

const modelName = (r: PairedResponse): string => `${r.model.endpoint}/${r.model.name}@${r.model.temperature}`

export function judge (opts: { settleMs: number, /** default: the live version */ prompt?: Prompt<JudgeInput> }): Processor<ResponsePairValue | null> {
  const PROMPT = opts.prompt ?? JUDGE_PROMPT
  const watch = new SampleWatch({ settleMs: opts.settleMs })
  const counts = { preferred: 0, ties: 0, inconsistent: 0, evicted_before_call: 0, evicted_in_flight: 0, tombstones: 0 }
  return {
    name: 'judge',
    metrics: () => ({ ...counts, agreement: counts.preferred + counts.inconsistent > 0 ? counts.preferred / (counts.preferred + counts.inconsistent) : 0 }),
    async process (record, ctx) {
      const key = record.key ?? record.value?.id
      if (!key) return emit()
      if (record.value === null) return watch.forwardTombstone(key, 'preferences', counts)
      const pair = record.value
      const llm = ctx.llm()
      const ask = async (first: string, second: string, signal: AbortSignal) => await llm.json<JudgeAnswer>({ prompt: promptRef(PROMPT), messages: PROMPT.messages({ instruction: pair.instruction, first, second }), schema: PROMPT.schema, signal })
      const r = await watch.run(record, ctx, async (signal) => await Promise.all([ask(pair.a.response, pair.b.response, signal), ask(pair.b.response, pair.a.response, signal)]))
      if (r.evicted) {
        counts[r.evicted === 'before' ? 'evicted_before_call' : 'evicted_in_flight']++
        return emit()
      }
      const [one, two] = r.value
      const c = combineVerdicts(one.value.better_response, two.value.better_response)
      if (c.outcome === 'preferred') counts.preferred++
      else if (c.outcome === 'tie') counts.ties++
      else counts.inconsistent++
      const chosen = c.winner === 'a' ? pair.a : c.winner === 'b' ? pair.b : undefined
      const rejected = c.winner === 'a' ? pair.b : c.winner === 'b' ? pair.a : undefined
      const value: PreferenceValue = {
        id: pair.id,
        instruction: pair.instruction,
        outcome: c.outcome,
        chosen: chosen?.response ?? null,
        rejected: rejected?.response ?? null,
        chosen_model: chosen ? modelName(chosen) : null,
        rejected_model: rejected ? modelName(rejected) : null,
        // Each order's reason as the judge wrote it: there, "Response A" is the one shown first.
        reason: `a first: ${one.value.judge_reason} | b first: ${two.value.judge_reason}`,
        verdicts: c.verdicts,
        judge: llm.model,
        prompt_tokens: one.promptTokens + two.promptTokens,
        completion_tokens: one.completionTokens + two.completionTokens,
        lineage: ctx.lineage(record, { prompt: promptRef(PROMPT), model: llm.model, simulated: one.simulated || two.simulated, usage: sumUsage(one, two) }),
      }
      return emit({ topic: 'preferences', key, value })
    },
  }
}
