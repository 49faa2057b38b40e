/**
 * The search retrieval step's contract. Attribution turns a real instruction's keywords (from
 * concept extraction: `{intention, keywords ≤ 5}`) into a query; the top-1 hit becomes the
 * document the instruction is grounded in, and the top-k ids and scores go into the record, so
 * one interface serves the embedded BM25 index, Elasticsearch/OpenSearch and SearXNG alike.
 *
 * Backends get the keywords, not a ready-made string, because each one has its own query
 * language: the BM25 index keeps a multi-word keyword (a book title, say) together as a phrase,
 * while Elasticsearch and SearXNG receive {@link queryString}'s plain text verbatim.
 */
import { ConfigError } from '../errors.ts'

export interface SearchQuery {
  /** Keywords as concept extraction gave them; multi-word ones (titles) are kept whole. */
  keywords: string[]
  /** Optional free text added to the query, e.g. the instruction's intention. */
  text?: string
}

export interface SearchHit {
  /** The document's id in its backend (index id, Elasticsearch `_id`, or the URL for SearXNG). */
  id: string
  /** Backend-specific relevance, higher is better; comparable only within one result list. */
  score: number
  text: string
  title: string | null
  url: string | null
  corpus: string | null
}

export interface SearchOptions {
  /** How many hits to return (default {@link DEFAULT_K}). */
  k?: number
  signal?: AbortSignal
}

export interface SearchBackend {
  /** bm25, elasticsearch or searxng: recorded as `search.backend` in grounded instructions. */
  readonly name: string
  /** Hits sorted best first; an empty query (no usable keywords) gives [] without a request. */
  search (query: SearchQuery, opts?: SearchOptions): Promise<SearchHit[]>
  close (): Promise<void>
}

export const DEFAULT_K = 5
export const MAX_K = 1000

/** Trims and collapses whitespace, drops empty keywords and case-insensitive repeats. */
export function normalizeKeywords (keywords: readonly string[]): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const raw of keywords) {
    if (typeof raw !== 'string') continue
    const k = raw.replace(/\s+/g, ' ').trim()
    const key = k.toLowerCase()
    if (k === '' || seen.has(key)) continue
    seen.add(key)
    out.push(k)
  }
  return out
}

/**
 * The query as text: the normalised keywords joined by spaces, then the optional text. This is
 * exactly what Elasticsearch (`multi_match.query`) and SearXNG (`q`) receive, and what grounded
 * instructions record as `search.query`; the BM25 index derives its FTS5 expression from the same
 * keywords (see `fts5MatchExpression` in bm25-index.ts).
 */
export function queryString (q: SearchQuery): string {
  const parts = normalizeKeywords(q.keywords)
  const text = q.text?.replace(/\s+/g, ' ').trim()
  if (text) parts.push(text)
  return parts.join(' ')
}

/** Validates `k` (a whole number in 1..MAX_K); undefined gives the default. */
export function resolveK (k: number | undefined): number {
  if (k === undefined) return DEFAULT_K
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new ConfigError(`k must be a whole number from 1 to ${MAX_K}, got ${k}`)
  return k
}
