/**
 * instruction-generation — synthesis, step 2. Document + envisioned situation + the same
 * demonstrations the situation was made with → one self-contained, challenging user query
 * (LLM, prompt `instruction-generation`).
 *
 * Input: situations. Output: synthesizedInstructions. The demonstrations are looked up by the
 * ids in the situation's lineage; one removed from the pool since is left out (and the ids
 * recorded are those actually shown).
 */
import { tokenizerFor, type Tokenizer, type TokenizerFamily } from '../../hygiene/tokenizer.ts'
import type { DemonstrationRecord } from '../demonstration-pool/format.ts'
import { formatDemonstration } from '../demonstration-pool/format.ts'
import { PrefixReuse } from '../demonstration-pool/prefix-reuse.ts'
import type { Lineage } from '../lineage.ts'
import { emit, type Processor } from '../processor.ts'
import { promptRef, type Prompt, type QueryCompositions } from '../prompt.ts'
import { INSTRUCTION_PROMPT, type GeneratedInstruction, type InstructionInput } from './prompt.ts'

export interface SituationRecord {
  id: string
  document: { id: string, url: string | null, title: string | null, corpus: string | null }
  document_text: string
  thought: string
  scene: string
  query_compositions: QueryCompositions
  lineage: Lineage
}

export interface InstructionGenerationOptions {
  excerptTokens: number
  tokenizer?: TokenizerFamily
  /** The prompt version to send (default the live one; the topology picks it from pipeline.prompts). */
  prompt?: Prompt<InstructionInput>
}

export function instructionGeneration (opts: InstructionGenerationOptions): Processor<SituationRecord> {
  const PROMPT = opts.prompt ?? INSTRUCTION_PROMPT
  let tokenizer: Tokenizer | undefined
  const reuse = new PrefixReuse()
  // The block for the last id set, so the documents sharing a draw share the exact same text.
  let last: { key: string, block: string, ids: string[] } | undefined
  return {
    name: 'instruction-generation',
    metrics: () => ({ prefixReuseShare: Number(reuse.share.toFixed(4)) }),
    init (ctx) {
      tokenizer = tokenizerFor(ctx.llm().settings.model, opts.tokenizer)
      tokenizer.load() // the vocabulary loads here (up to ~0.6 s), not on the first record
    },
    async process (record, ctx) {
      const s = record.value
      const llm = ctx.llm()
      const key = s.lineage.demonstration_ids.join('\n')
      if (!last || last.key !== key) {
        const table = ctx.table<DemonstrationRecord>('demonstrations')
        const shown: string[] = []
        const parts: string[] = []
        for (const id of s.lineage.demonstration_ids) {
          const d = table.get(id)
          if (!d) continue
          parts.push(formatDemonstration(d, tokenizer!.truncate(d.document_text, opts.excerptTokens).text, shown.length))
          shown.push(id)
        }
        last = { key, block: parts.join('\n\n'), ids: shown }
      }
      const messages = PROMPT.messages({ demonstrations: last.block, document: s.document_text, scene: s.scene, compositions: JSON.stringify(s.query_compositions) })
      reuse.observe(messages)
      const r = await llm.json<GeneratedInstruction>({ prompt: promptRef(PROMPT), messages, schema: PROMPT.schema, signal: ctx.signal })
      const id = `ins-${s.document.id}`
      return emit({
        topic: 'synthesizedInstructions',
        key: id,
        value: {
          id,
          instruction: r.value.query,
          situation_id: s.id,
          document: s.document,
          scene: s.scene,
          query_compositions: s.query_compositions,
          lineage: ctx.lineage(record, {
            prompt: promptRef(PROMPT), model: llm.model, simulated: r.simulated, usage: r, demonstrationIds: last.ids,
            ...(s.lineage.sampling_seed !== null ? { samplingSeed: s.lineage.sampling_seed } : {}),
          }),
        },
      })
    },
  }
}
