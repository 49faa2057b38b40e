/**
 * Search retrieval against an existing Elasticsearch (or OpenSearch) index, for corpora too big
 * for the embedded index or already indexed elsewhere. One `_search` request per query:
 *
 *   POST {url}/{index}/_search
 *   { "size": k, "query": { "multi_match": { "query": <keywords joined>, "fields": ["title^2", "text"] } },
 *     "_source": [text, title, url, corpus fields] }
 *
 * Hits map `_id` → id, `_score` → score and the configured `_source` fields → text, title, url,
 * corpus. Auth: an Elasticsearch API key (`Authorization: ApiKey <encoded>`, the `encoded` value
 * Elasticsearch returns when the key is created) or basic auth (also what OpenSearch uses).
 * Errors: 5xx/408/429, timeouts and connection failures are retriable; 401/403/404 are
 * ConfigErrors naming the URL, index or credential settings (never their values); a body that
 * is not a search response is a SearchResponseError.
 */
import type { Agent } from 'undici'
import type { Secret } from '../config/secret.ts'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { SearchResponseError, SearchUnavailableError } from './errors.ts'
import { basicAuth, call, DEFAULT_TIMEOUT_MS, excerpt, newAgent, parseServiceUrl, scrub, showUrl, statusError, type HttpResponse } from './http.ts'
import { queryString, resolveK, type SearchBackend, type SearchHit, type SearchOptions, type SearchQuery } from './search-backend.ts'

/** Which `_source` fields hold a hit's text, title, url and corpus (dotted paths allowed). */
export interface EsSourceFields {
  text: string
  title: string
  url: string
  corpus: string
  /** Take the id from this `_source` field instead of `_id`. */
  id?: string
}

export const DEFAULT_ES_FIELDS: readonly string[] = ['title^2', 'text']
export const DEFAULT_ES_SOURCE: EsSourceFields = { text: 'text', title: 'title', url: 'url', corpus: 'corpus' }

export interface ElasticsearchOptions {
  /** Base URL, e.g. https://es.example.org:9200 (a path prefix behind a proxy is kept). */
  url: string
  /** Index, alias, comma-separated list or pattern. */
  index: string
  /** Encoded API key (sent as `Authorization: ApiKey …`). Exclusive with username/password. */
  apiKey?: Secret
  username?: string
  password?: Secret
  /** multi_match fields with optional boosts (default title^2, text). */
  fields?: readonly string[]
  source?: Partial<EsSourceFields>
  timeoutMs?: number
  /** PEM CA bundle to trust (Elasticsearch 8 generates its own CA by default). */
  caFile?: string
  logger?: Logger
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function pick (rec: Json, path: string): unknown {
  if (path in rec) return rec[path]
  let v: unknown = rec
  for (const part of path.split('.')) {
    if (!isObject(v)) return undefined
    v = v[part]
  }
  return v
}

const INVALID_INDEX = /[\s\\/?"<>|#]/

export class ElasticsearchBackend implements SearchBackend {
  readonly name = 'elasticsearch'
  readonly url: string
  readonly index: string
  readonly #endpoint: URL
  readonly #auth: string | undefined
  readonly #authKind: 'api-key' | 'basic' | 'none'
  readonly #secrets: string[]
  readonly #fields: string[]
  readonly #source: EsSourceFields
  readonly #timeoutMs: number
  readonly #agent: Agent
  readonly #logger: Logger | undefined

  constructor (opts: ElasticsearchOptions) {
    const base = parseServiceUrl(opts.url, 'SYNTHQ_ES_URL')
    if (!opts.index || INVALID_INDEX.test(opts.index)) throw new ConfigError(`SYNTHQ_ES_INDEX must be an index name, alias or pattern without spaces or any of \\ / ? " < > | #, got "${opts.index}"`)
    if (opts.apiKey && (opts.username || opts.password)) throw new ConfigError('Set either SYNTHQ_ES_API_KEY or SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD, not both')
    if (Boolean(opts.username) !== Boolean(opts.password)) throw new ConfigError('Basic auth to Elasticsearch needs both SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD')
    this.url = showUrl(base)
    this.index = opts.index
    const indexPath = encodeURIComponent(opts.index).replace(/%2C/gi, ',').replace(/%2A/gi, '*')
    this.#endpoint = new URL(`${indexPath}/_search`, base)
    if (opts.apiKey) {
      this.#auth = `ApiKey ${opts.apiKey.reveal()}`
      this.#authKind = 'api-key'
      this.#secrets = [opts.apiKey.reveal()]
    } else if (opts.username && opts.password) {
      this.#auth = basicAuth(opts.username, opts.password)
      this.#authKind = 'basic'
      this.#secrets = [opts.password.reveal(), this.#auth.slice('Basic '.length)]
    } else {
      this.#auth = undefined
      this.#authKind = 'none'
      this.#secrets = []
    }
    this.#fields = [...(opts.fields ?? DEFAULT_ES_FIELDS)]
    if (this.#fields.length === 0) throw new ConfigError('SYNTHQ_ES_FIELDS must name at least one field to search')
    this.#source = { ...DEFAULT_ES_SOURCE, ...definedOnly(opts.source ?? {}) }
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#agent = newAgent({ timeoutMs: this.#timeoutMs, ...(opts.caFile ? { caFile: opts.caFile } : {}) })
    this.#logger = opts.logger
  }

  /** The request body sent for a query (exposed for tests and `synthq index search`). */
  requestBody (query: SearchQuery, k: number): Json {
    const s = this.#source
    return {
      size: k,
      query: { multi_match: { query: queryString(query), fields: this.#fields } },
      _source: [...new Set([s.text, s.title, s.url, s.corpus, ...(s.id ? [s.id] : [])])],
      track_total_hits: false,
    }
  }

  async search (query: SearchQuery, opts: SearchOptions = {}): Promise<SearchHit[]> {
    const k = resolveK(opts.k)
    if (queryString(query) === '') return []
    const t0 = performance.now()
    const res = await call({
      service: 'Elasticsearch',
      shownUrl: this.url,
      method: 'POST',
      url: this.#endpoint,
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(this.#auth ? { authorization: this.#auth } : {}) },
      body: JSON.stringify(this.requestBody(query, k)),
      timeoutMs: this.#timeoutMs,
      signal: opts.signal,
      dispatcher: this.#agent,
    })
    if (res.status < 200 || res.status >= 300) throw this.#statusError(res)
    const hits = this.#parse(res).slice(0, k)
    this.#logger?.debug({ backend: this.name, index: this.index, query: queryString(query), k, hits: hits.length, ms: Math.round(performance.now() - t0) }, 'search')
    return hits
  }

  async close (): Promise<void> {
    await this.#agent.close()
  }

  #detail (text: string): string {
    let detail = excerpt(text)
    try {
      const body = JSON.parse(text) as unknown
      // ES error bodies: { error: { root_cause: [...], type, reason }, status }
      if (isObject(body) && isObject(body.error)) {
        const e = body.error
        detail = [e.type, e.reason].filter((x) => typeof x === 'string').join(': ') || detail
      } else if (isObject(body) && typeof body.error === 'string') {
        detail = body.error
      }
    } catch { /* not JSON: keep the excerpt */ }
    return scrub(excerpt(detail), this.#secrets)
  }

  #statusError (res: HttpResponse): Error {
    const detail = this.#detail(res.text)
    const where = `Elasticsearch at ${this.url} (SYNTHQ_ES_URL)`
    const context = { service: 'Elasticsearch', status: res.status, index: this.index }
    if (res.status === 401) {
      return new ConfigError(this.#authKind === 'none'
        ? `${where} requires credentials (HTTP 401): set SYNTHQ_ES_API_KEY, or SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD${detail ? ` [${detail}]` : ''}`
        : `${where} rejected the credentials (HTTP 401): check ${this.#authKind === 'api-key' ? 'SYNTHQ_ES_API_KEY (the encoded API key, not its id)' : 'SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD'}${detail ? ` [${detail}]` : ''}`,
      { context })
    }
    if (res.status === 403) {
      return new ConfigError(`${where} denied searching index "${this.index}" (HTTP 403): the ${this.#authKind === 'api-key' ? 'API key (SYNTHQ_ES_API_KEY)' : this.#authKind === 'basic' ? 'user (SYNTHQ_ES_USERNAME)' : 'anonymous user'} needs the read privilege on it${detail ? ` [${detail}]` : ''}`, { context })
    }
    if (res.status === 404) {
      return new ConfigError(`${where} has no index "${this.index}" (HTTP 404): check SYNTHQ_ES_INDEX, and that SYNTHQ_ES_URL is the cluster's address${detail ? ` [${detail}]` : ''}`, { context })
    }
    return statusError('Elasticsearch', this.url, res, detail)
  }

  #parse (res: HttpResponse): SearchHit[] {
    let body: unknown
    try {
      body = JSON.parse(res.text)
    } catch {
      throw new SearchResponseError(`Elasticsearch at ${this.url} answered HTTP ${res.status} with a body that is not JSON (is SYNTHQ_ES_URL the cluster, not a proxy or Kibana?): ${scrub(excerpt(res.text, 200), this.#secrets)}`, { context: { service: 'Elasticsearch', status: res.status } })
    }
    const hits = isObject(body) && isObject(body.hits) ? body.hits.hits : undefined
    if (!Array.isArray(hits)) {
      throw new SearchResponseError(`Elasticsearch at ${this.url} answered HTTP ${res.status} with JSON that is not a search response (no hits.hits array): ${scrub(excerpt(res.text, 200), this.#secrets)}`, { context: { service: 'Elasticsearch', status: res.status } })
    }
    if (isObject(body) && body.timed_out === true && hits.length === 0) {
      throw new SearchUnavailableError(`Elasticsearch at ${this.url} timed out searching index "${this.index}" and returned no hits`, { context: { service: 'Elasticsearch', index: this.index } })
    }
    const s = this.#source
    return hits.map((h, i): SearchHit => {
      if (!isObject(h)) throw new SearchResponseError(`Elasticsearch at ${this.url}: hits.hits[${i}] is not an object`)
      const source = isObject(h._source) ? h._source : {}
      const rawId = s.id ? pick(source, s.id) : h._id
      if (typeof rawId !== 'string' && typeof rawId !== 'number') throw new SearchResponseError(`Elasticsearch at ${this.url}: hits.hits[${i}] has no ${s.id ? `_source.${s.id}` : '_id'}`)
      const text = pick(source, s.text)
      if (typeof text !== 'string') {
        throw new ConfigError(`Elasticsearch index "${this.index}": hit ${String(rawId)} has no text in _source.${s.text} (got ${text === undefined ? 'nothing' : typeof text}); set SYNTHQ_ES_TEXT_FIELD to the field that holds the document text`, { context: { index: this.index } })
      }
      const score = h._score
      return {
        id: String(rawId),
        score: typeof score === 'number' ? score : 0,
        text,
        title: stringOrNull(pick(source, s.title)),
        url: stringOrNull(pick(source, s.url)),
        corpus: stringOrNull(pick(source, s.corpus)),
      }
    })
  }
}

function stringOrNull (v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null
}

function definedOnly<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>
}
