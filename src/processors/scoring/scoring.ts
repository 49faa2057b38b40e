/**
 * scoring — synthesis, last step. An instruction → seven binary criteria, each with a short
 * analysis (LLM, prompt `scoring`), and the total 0–7, computed here from the seven scores.
 * Instructions resembling a benchmark prompt are rejected first (decontamination), with the
 * benchmark prompt's id in the reason, and never scored.
 *
 * Input: synthesizedInstructions. Output: scoredInstructions (all totals: the sink filters).
 */
import type { Decontaminator } from '../../hygiene/decontam.ts'
import type { Lineage } from '../lineage.ts'
import { emit, reject, type Processor } from '../processor.ts'
import { promptRef, type Prompt, type QueryCompositions } from '../prompt.ts'
import { SCORING_PROMPT, totalScore, type Scores, type ScoringInput } from './prompt.ts'

export interface SynthesizedRecord {
  id: string
  instruction: string
  situation_id: string
  document: { id: string, url: string | null, title: string | null, corpus: string | null }
  scene: string
  query_compositions: QueryCompositions
  lineage: Lineage
}

export function scoring (opts: { decontaminator?: Decontaminator, /** default: the live version */ prompt?: Prompt<ScoringInput> } = {}): Processor<SynthesizedRecord> {
  const PROMPT = opts.prompt ?? SCORING_PROMPT
  const histogram = new Array<number>(8).fill(0)
  let decontaminated = 0
  return {
    name: 'scoring',
    metrics: () => ({ decontaminated, ...Object.fromEntries(histogram.map((n, i) => [`total_${i}`, n])) }),
    async process (record, ctx) {
      const s = record.value
      const hit = opts.decontaminator?.check(s.instruction)
      if (hit) {
        decontaminated++
        return reject(`instruction ${s.id} resembles ${hit.benchmark} prompt ${hit.id} (${hit.method} similarity ${hit.similarity.toFixed(2)}): dropped to keep benchmarks clean`, { errorClass: 'Decontaminated' })
      }
      const llm = ctx.llm()
      const r = await llm.json<Scores>({ prompt: promptRef(PROMPT), messages: PROMPT.messages({ query: s.instruction }), schema: PROMPT.schema, signal: ctx.signal })
      const total = totalScore(r.value)
      histogram[total]!++
      return emit({
        topic: 'scoredInstructions',
        key: s.id,
        value: {
          id: s.id,
          instruction: s.instruction,
          situation_id: s.situation_id,
          document: s.document,
          scene: s.scene,
          query_compositions: s.query_compositions,
          criteria: r.value,
          total,
          lineage: ctx.lineage(record, {
            prompt: promptRef(PROMPT), model: llm.model, simulated: r.simulated, usage: r,
            // The demonstrations behind the instruction stay visible on the final record.
            demonstrationIds: s.lineage.demonstration_ids,
            ...(s.lineage.sampling_seed !== null ? { samplingSeed: s.lineage.sampling_seed } : {}),
          }),
        },
      })
    },
  }
}
