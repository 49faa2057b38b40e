/**
 * situation-envisioning — synthesis, step 1. A cleaned web document + k demonstrations from
 * the live pool → the model's reasoning, the scene and the query compositions (LLM, prompt
 * `situation-envisioning`; the method ran this on its small model).
 *
 * Input: cleanDocuments. Output: situations. Reads the demonstrations table; which
 * demonstrations were shown and the draw's seed go into the lineage. Prompts put the fixed
 * instructions first, then the demonstrations (the same set for `resampleEvery` documents),
 * then the document, so servers with prefix caching reuse most of each prompt; the share that
 * repeated the previous prompt and the diversity of demonstrations used are in `metrics()`.
 */
import { tokenizerFor, type Tokenizer, type TokenizerFamily } from '../../hygiene/tokenizer.ts'
import type { DemonstrationRecord } from '../demonstration-pool/format.ts'
import { PrefixReuse } from '../demonstration-pool/prefix-reuse.ts'
import { DemonstrationSampler } from '../demonstration-pool/sampler.ts'
import { emit, type Processor } from '../processor.ts'
import { promptRef, type Prompt } from '../prompt.ts'
import { ENVISIONING_PROMPT, type Envisioned, type EnvisioningInput } from './envisioning-prompt.ts'

export interface CleanDocument { id: string, text: string, url: string | null, title: string | null, corpus: string, tokens?: number | null, tokenizer?: string | null }

/**
 * The document as the prompt takes it: cut to `maxTokens` unless it provably fits already —
 * document-hygiene counted its tokens with the same vocabulary, or it has at most `maxTokens`
 * UTF-8 bytes (every token covers at least one byte). Encoding every document a second time cost
 * about a millisecond each, on the event loop that also drives the LLM requests.
 */
export function fitDocument (doc: CleanDocument, maxTokens: number, tokenizer: Tokenizer): string {
  if (doc.tokenizer === tokenizer.family && typeof doc.tokens === 'number' && doc.tokens <= maxTokens) return doc.text
  if (doc.text.length <= maxTokens / 3 || Buffer.byteLength(doc.text, 'utf8') <= maxTokens) return doc.text
  return tokenizer.truncate(doc.text, maxTokens).text
}

export interface SituationEnvisioningOptions {
  seed: number
  k: number
  resampleEvery: number
  excerptTokens: number
  documentTokens: number
  promptTokens: number
  tokenizer?: TokenizerFamily
  /** The prompt version to send (default the live one; the topology picks it from pipeline.prompts). */
  prompt?: Prompt<EnvisioningInput>
}

/**
 * The prompt budget within the model's context: prompt + answer must fit the window (with a
 * margin for tokenizers that count differently from synthq's), and what has to give is the
 * demonstrations first — fewer of them — then the document, never the request.
 */
export function fitToContext (o: { promptTokens: number, documentTokens: number, fixedTokens: number, maxTokens: number, contextWindow: number | undefined }): { promptTokens: number, documentTokens: number, demonstrationTokens: number } {
  const margin = o.contextWindow === undefined ? 0 : Math.ceil(o.contextWindow * 0.1)
  const promptTokens = o.contextWindow === undefined ? o.promptTokens : Math.max(0, Math.min(o.promptTokens, o.contextWindow - o.maxTokens - margin))
  // Demonstrations give way first; the document is cut only if it does not fit even without them.
  const documentTokens = Math.max(0, Math.min(o.documentTokens, promptTokens - o.fixedTokens))
  return { promptTokens, documentTokens, demonstrationTokens: Math.max(0, promptTokens - documentTokens - o.fixedTokens) }
}

export function situationEnvisioning (opts: SituationEnvisioningOptions): Processor<CleanDocument> {
  const PROMPT = opts.prompt ?? ENVISIONING_PROMPT
  let tokenizer: Tokenizer | undefined
  let sampler: DemonstrationSampler | undefined
  const reuse = new PrefixReuse()
  let withoutDemonstrations = 0
  let documentTokens = opts.documentTokens
  return {
    name: 'situation-envisioning',
    metrics: () => {
      const s = sampler?.stats()
      return { prefixReuseShare: Number(reuse.share.toFixed(4)), demonstrationDraws: s?.draws ?? 0, distinctDemonstrationsPer1000Documents: s?.distinctPer1000 ?? 0, withoutDemonstrations }
    },
    init (ctx) {
      const llm = ctx.llm()
      tokenizer = tokenizerFor(llm.settings.model, opts.tokenizer)
      tokenizer.load() // the vocabulary loads here (up to ~0.6 s), not on the first record
      // The demonstrations get what the prompt budget leaves after the fixed instructions and
      // a document of the largest allowed size: the block then never depends on the document,
      // which keeps the prefix identical across the documents that share a draw.
      const fixed = tokenizer.count(PROMPT.system) + 64
      const fit = fitToContext({ promptTokens: opts.promptTokens, documentTokens: opts.documentTokens, fixedTokens: fixed, maxTokens: llm.settings.maxTokens, contextWindow: llm.contextWindow })
      documentTokens = fit.documentTokens
      if (fit.promptTokens < opts.promptTokens) {
        ctx.logger.warn({ contextWindow: llm.contextWindow, promptTokens: fit.promptTokens, documentTokens, demonstrationTokens: fit.demonstrationTokens },
          `the model's context (${llm.contextWindow} tokens, ${llm.settings.maxTokens} of them for the answer) is smaller than the prompt budget: prompts capped at ${fit.promptTokens} tokens, documents at ${documentTokens}, demonstrations at ${fit.demonstrationTokens} (fewer of them)`)
      }
      sampler = new DemonstrationSampler({
        k: opts.k, resampleEvery: opts.resampleEvery, excerptTokens: opts.excerptTokens, seed: opts.seed, tokenizer,
        budgetTokens: fit.demonstrationTokens,
      })
    },
    async process (record, ctx) {
      const doc = record.value
      const llm = ctx.llm()
      const demos = sampler!.next(ctx.table<DemonstrationRecord>('demonstrations'))
      if (demos.ids.length === 0 && withoutDemonstrations++ === 0) ctx.logger.warn('the demonstrations table is empty: envisioning without examples until attribution adds some')
      const document = fitDocument(doc, documentTokens, tokenizer!)
      const messages = PROMPT.messages({ demonstrations: demos.block, document })
      reuse.observe(messages)
      const r = await llm.json<Envisioned>({ prompt: promptRef(PROMPT), messages, schema: PROMPT.schema, signal: ctx.signal })
      const id = `sit-${doc.id}`
      return emit({
        topic: 'situations',
        key: id,
        value: {
          id,
          document: { id: doc.id, url: doc.url, title: doc.title, corpus: doc.corpus },
          document_text: document,
          thought: r.value.thought,
          scene: r.value.scene,
          query_compositions: r.value.query_compositions,
          lineage: ctx.lineage(record, { prompt: promptRef(PROMPT), model: llm.model, simulated: r.simulated, usage: r, demonstrationIds: demos.ids, samplingSeed: demos.seed }),
        },
      })
    },
  }
}
