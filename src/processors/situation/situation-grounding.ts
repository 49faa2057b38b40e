/**
 * situation-grounding — attribution, step 3. A real instruction + its retrieved document →
 * scene (who asks and why) and query compositions (LLM, prompt `situation-grounding`; the
 * method ran this on its large model). The result is a demonstration: the compacted
 * demonstrations topic, keyed by instruction id, is the live pool synthesis samples from.
 *
 * Input: groundedInstructions. Output: demonstrations. The document is cut to the token budget
 * with the endpoint's tokenizer before the call.
 */
import { tokenizerFor, type Tokenizer, type TokenizerFamily } from '../../hygiene/tokenizer.ts'
import type { Lineage } from '../lineage.ts'
import { emit, type Processor } from '../processor.ts'
import { promptRef, type Prompt } from '../prompt.ts'
import { GROUNDING_PROMPT, type Grounding, type GroundingInput } from './grounding-prompt.ts'

export interface GroundedRecord {
  instruction_id: string
  prompt: string
  seed_score: number | null
  document: { id: string, url: string | null, title: string | null, corpus: string | null }
  document_text: string
  lineage: Lineage
}

export interface SituationGroundingOptions {
  documentTokens: number
  tokenizer?: TokenizerFamily
  /** The prompt version to send (default the live one; the topology picks it from pipeline.prompts). */
  prompt?: Prompt<GroundingInput>
}

export function situationGrounding (opts: SituationGroundingOptions): Processor<GroundedRecord> {
  const PROMPT = opts.prompt ?? GROUNDING_PROMPT
  let tokenizer: Tokenizer | undefined
  return {
    name: 'situation-grounding',
    init (ctx) {
      tokenizer = tokenizerFor(ctx.llm().settings.model, opts.tokenizer)
      tokenizer.load() // the vocabulary loads here (up to ~0.6 s), not on the first record
    },
    async process (record, ctx) {
      const g = record.value
      const llm = ctx.llm()
      const document = tokenizer!.truncate(g.document_text, opts.documentTokens).text
      const r = await llm.json<Grounding>({ prompt: promptRef(PROMPT), messages: PROMPT.messages({ document, instruction: g.prompt }), schema: PROMPT.schema, signal: ctx.signal })
      return emit({
        topic: 'demonstrations',
        key: g.instruction_id,
        value: {
          instruction_id: g.instruction_id,
          prompt: g.prompt,
          document: g.document,
          document_text: document,
          scene: r.value.scene,
          query_compositions: r.value.query_compositions,
          seed_score: g.seed_score,
          lineage: ctx.lineage(record, { prompt: promptRef(PROMPT), model: llm.model, simulated: r.simulated, usage: r }),
        },
      })
    },
  }
}
