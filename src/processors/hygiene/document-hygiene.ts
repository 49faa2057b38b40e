/**
 * document-hygiene — synthesis, step 0: everything that can be decided about a document before
 * any LLM is paid. Text is normalised (Unicode NFC, whitespace); empty, too short, oversize or
 * mostly non-text documents are rejected with the figure that failed (dead-letter topic);
 * exact duplicates (same normalised content) and, optionally, near duplicates (MinHash) are
 * dropped and counted; the text is cut to the document token budget with a real tokenizer.
 *
 * Input: documents. Outputs: cleanDocuments, and documentFingerprints — a compacted topic this
 * stage also reads back as a table. A fingerprint is written in the same transaction as its
 * cleaned document, so duplicate detection survives restarts and is exactly once: a document
 * whose transaction aborted left no fingerprint and is admitted when it is processed again.
 *
 *   .stage({ name: 'document-hygiene', input: 'documents', outputs: ['cleanDocuments', 'documentFingerprints'],
 *            tables: ['documentFingerprints'], processor: () => documentHygiene({ documentTokens: 4096 }) })
 */
import { checkDocument } from '../../hygiene/document-gate.ts'
import { NearDuplicateFilter } from '../../hygiene/near-dup.ts'
import { tokenizerFor, type Tokenizer, type TokenizerFamily } from '../../hygiene/tokenizer.ts'
import { emit, reject, type OutputRecord, type Processor } from '../processor.ts'

export interface RawDocument { id: string, text: string, url: string | null, title: string | null, corpus: string, license: string | null, metadata: Record<string, string> }
interface Fingerprint { content_hash: string, document_id: string, minhash: Buffer | null, first_seen: number }

export interface DocumentHygieneOptions {
  documentTokens: number
  minChars?: number
  maxChars?: number
  /** Tokenizer family for truncation (default llama3, the method's model family). */
  tokenizer?: TokenizerFamily
  nearDuplicates?: boolean
  nearDuplicateThreshold?: number
}

export function documentHygiene (opts: DocumentHygieneOptions): Processor<RawDocument> {
  const tokenizer: Tokenizer = tokenizerFor('llama3', opts.tokenizer)
  // Hashes admitted by this process whose fingerprint may not be back in the table yet.
  const admitted = new Map<string, string>()
  let near: NearDuplicateFilter | undefined
  let loaded = false
  const counts = { admitted: 0, exactDuplicates: 0, nearDuplicates: 0, rejected: 0, truncated: 0 }
  return {
    name: 'document-hygiene',
    metrics: () => ({ ...counts }),
    init () {
      tokenizer.load()
    },
    process (record, ctx) {
      const doc = record.value
      const checked = checkDocument(doc.text, { maxTokens: opts.documentTokens, tokenizer, ...(opts.minChars !== undefined ? { minChars: opts.minChars } : {}), ...(opts.maxChars !== undefined ? { maxChars: opts.maxChars } : {}) })
      if (!checked.ok) {
        counts.rejected++
        return reject(`document ${doc.id}: ${checked.reason}`, { errorClass: 'DocumentRejected' })
      }
      const table = ctx.table<Fingerprint>('documentFingerprints')
      const first = table.get(checked.hash)?.document_id ?? admitted.get(checked.hash)
      // The same document again (a redelivery after an aborted transaction) is not a duplicate of itself.
      if (first !== undefined && first !== doc.id) {
        counts.exactDuplicates++
        ctx.logger.debug({ document: doc.id, duplicateOf: first }, 'exact duplicate dropped')
        return emit()
      }
      let signature: Buffer | null = null
      if (opts.nearDuplicates) {
        if (!near) near = new NearDuplicateFilter({ threshold: opts.nearDuplicateThreshold ?? 0.8 })
        if (!loaded) {
          for (const f of table.values()) if (f.minhash) near.addSignature(f.document_id, f.minhash)
          loaded = true
        }
        const dup = near.check(doc.id, checked.text)
        if (dup && dup.duplicateOf !== doc.id) {
          counts.nearDuplicates++
          ctx.logger.debug({ document: doc.id, duplicateOf: dup.duplicateOf, similarity: dup.similarity }, 'near duplicate dropped')
          return emit()
        }
        signature = near.add(doc.id, checked.text)
      }
      admitted.set(checked.hash, doc.id)
      counts.admitted++
      if (checked.truncated) counts.truncated++
      const outputs: OutputRecord[] = [
        {
          topic: 'cleanDocuments',
          key: doc.id,
          value: {
            id: doc.id, text: checked.text, url: doc.url, title: doc.title, corpus: doc.corpus, license: doc.license, metadata: doc.metadata,
            content_hash: checked.hash, tokens: checked.tokens, tokenizer: tokenizer.family, truncated: checked.truncated,
            lineage: ctx.lineage(record),
          },
        },
        { topic: 'documentFingerprints', key: checked.hash, value: { content_hash: checked.hash, document_id: doc.id, minhash: signature, first_seen: ctx.now() } },
      ]
      return emit(...outputs)
    },
  }
}
