/**
 * concept-extraction — attribution, step 1. A real user instruction → its intention and at
 * most five search keywords (LLM, prompt `concept-extraction`).
 *
 * Input: realInstructions. Output: concepts. Before paying for a call the instruction is
 * normalised, and rejected with the reason (dead-letter topic) when it is empty, when it
 * resembles a benchmark prompt (decontamination), or — with a seed quality gate — when it
 * scores below the gate on the seven criteria.
 *
 *   .stage({ name: 'concept-extraction', input: 'realInstructions', outputs: ['concepts'], llm: true,
 *            processor: () => conceptExtraction({ decontaminator, seedGate: 7 }) })
 */
import type { Decontaminator } from '../../hygiene/decontam.ts'
import { normalizeText } from '../../hygiene/normalize.ts'
import { sumUsage, type LlmCallUsage } from '../lineage.ts'
import { emit, reject, type Processor } from '../processor.ts'
import { promptRef, type Prompt } from '../prompt.ts'
import { SCORING_PROMPT, totalScore, type Scores, type ScoringInput } from '../scoring/prompt.ts'
import { CONCEPT_PROMPT, type ConceptInput, type Concepts } from './prompt.ts'

export interface RealInstruction { id: string, prompt: string, source: string, metadata: Record<string, string> }

export interface ConceptExtractionOptions {
  decontaminator?: Decontaminator
  /** Keep only seeds whose 7-criteria total is at least this; null: no gate. */
  seedGate?: number | null
  /** The prompt version to send (default the live one; the topology picks it from pipeline.prompts). */
  prompt?: Prompt<ConceptInput>
  /** The seed gate's scoring prompt (default the live one). */
  scoringPrompt?: Prompt<ScoringInput>
}

export function conceptExtraction (opts: ConceptExtractionOptions = {}): Processor<RealInstruction> {
  const CONCEPT = opts.prompt ?? CONCEPT_PROMPT
  const SCORING = opts.scoringPrompt ?? SCORING_PROMPT
  let decontaminated = 0
  let gated = 0
  return {
    name: 'concept-extraction',
    metrics: () => ({ decontaminated, belowSeedGate: gated }),
    async process (record, ctx) {
      const seed = record.value
      const instruction = normalizeText(seed.prompt)
      if (!instruction) return reject(`instruction ${seed.id} is empty after normalisation`, { errorClass: 'EmptyInput' })
      const hit = opts.decontaminator?.check(instruction)
      if (hit) {
        decontaminated++
        return reject(`instruction ${seed.id} resembles ${hit.benchmark} prompt ${hit.id} (${hit.method} similarity ${hit.similarity.toFixed(2)}): dropped to keep benchmarks clean`, { errorClass: 'Decontaminated' })
      }
      const llm = ctx.llm()
      let seedScore: number | null = null
      let simulated = false
      let gateUsage: LlmCallUsage | undefined
      if (opts.seedGate !== undefined && opts.seedGate !== null) {
        const scored = await llm.json<Scores>({ prompt: promptRef(SCORING), messages: SCORING.messages({ query: instruction }), schema: SCORING.schema, signal: ctx.signal })
        seedScore = totalScore(scored.value)
        simulated = scored.simulated
        gateUsage = scored
        if (seedScore < opts.seedGate) {
          gated++
          return reject(`instruction ${seed.id} scored ${seedScore}/7, below the seed quality gate of ${opts.seedGate}`, { errorClass: 'BelowSeedGate' })
        }
      }
      const r = await llm.json<Concepts>({ prompt: promptRef(CONCEPT), messages: CONCEPT.messages({ instruction }), schema: CONCEPT.schema, signal: ctx.signal })
      return emit({
        topic: 'concepts',
        key: seed.id,
        value: {
          instruction_id: seed.id,
          prompt: instruction,
          intention: r.value.intention,
          keywords: r.value.keywords.slice(0, 5),
          seed_score: seedScore,
          // The gate's call was paid for this record too, so its tokens count with the extraction's.
          lineage: ctx.lineage(record, { prompt: promptRef(CONCEPT), model: llm.model, simulated: r.simulated || simulated, usage: gateUsage ? sumUsage(gateUsage, r) : r }),
        },
      })
    },
  }
}
