/**
 * search-retrieval — attribution, step 2. A real instruction's keywords → a search → the
 * top-1 document, kept as the material the instruction is grounded in; the top-k ids and
 * scores are recorded for analysis. No LLM.
 *
 * Input: concepts. Output: groundedInstructions. A search with no result is a rejection (the
 * instruction cannot be attributed), with the query in the reason. Backend failures that say
 * they are transient are retried by the runtime.
 *
 *   .stage({ name: 'search-retrieval', input: 'concepts', outputs: ['groundedInstructions'],
 *            processor: () => searchRetrieval({ backend: () => Bm25Index.open(path), k: 5 }) })
 */
import { queryString, type SearchBackend } from '../../search/search-backend.ts'
import type { Lineage } from '../lineage.ts'
import { emit, reject, type Processor } from '../processor.ts'

export interface ConceptRecord { instruction_id: string, prompt: string, intention: string, keywords: string[], seed_score: number | null, lineage: Lineage }

export interface SearchRetrievalOptions {
  /** Opens the backend (once per processor instance). */
  backend: () => SearchBackend | Promise<SearchBackend>
  /** Results recorded per search (the first is kept). */
  k?: number
  /** Add the intention sentence to the keywords (the method searches with keywords only). */
  withIntention?: boolean
}

export function searchRetrieval (opts: SearchRetrievalOptions): Processor<ConceptRecord> {
  let backend: SearchBackend | undefined
  let searches = 0
  let empty = 0
  return {
    name: 'search-retrieval',
    metrics: () => ({ searches, empty }),
    async init () {
      backend = await opts.backend()
    },
    async process (record, ctx) {
      const c = record.value
      const query = opts.withIntention ? { keywords: c.keywords, text: c.intention } : { keywords: c.keywords }
      const t0 = Date.now()
      const hits = await backend!.search(query, { k: opts.k ?? 5, signal: ctx.signal })
      searches++
      const top = hits[0]
      if (!top) {
        empty++
        return reject(`no document found for instruction ${c.instruction_id} (query: ${queryString(query)})`, { errorClass: 'NoSearchResult' })
      }
      return emit({
        topic: 'groundedInstructions',
        key: c.instruction_id,
        value: {
          instruction_id: c.instruction_id,
          prompt: c.prompt,
          intention: c.intention,
          keywords: c.keywords,
          seed_score: c.seed_score,
          document: { id: top.id, url: top.url, title: top.title, corpus: top.corpus },
          document_text: top.text,
          search: {
            backend: backend!.name,
            query: queryString(query),
            hits: hits.map((h) => ({ document_id: h.id, score: h.score, url: h.url, title: h.title })),
            latency_ms: Date.now() - t0,
          },
          lineage: ctx.lineage(record),
        },
      })
    },
    async close () {
      await backend?.close()
    },
  }
}
