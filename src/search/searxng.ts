/**
 * Search retrieval through a SearXNG metasearch instance: the paper's "search engine" in its
 * most literal form, web search, for grounding instructions in the open web.
 *
 *   GET {url}/search?q=<keywords joined>&format=json[&categories=…&language=…&engines=…]
 *
 * Results map `url` → id and url, `title` → title, `content` → text, `score` → score (rank
 * order when absent), the answering engine → corpus (`searxng:<engine>`).
 *
 * NOTE: `content` is the engine's SNIPPET of the page (a sentence or two), not the page itself.
 * A grounding step that needs the document's full text must fetch `url` itself; documents from
 * this backend are thin compared with the BM25 index's or Elasticsearch's.
 *
 * Only the first result page is read, so k is capped by the instance's page size (often ~10–30
 * results after merging). The instance must allow the JSON format (`search.formats: [html, json]` in settings.yml);
 * otherwise it answers 403, reported as a ConfigError saying so. Its bot limiter answers 429
 * (retriable). Optional basic auth is for instances behind an authenticating proxy.
 */
import type { Agent } from 'undici'
import type { Secret } from '../config/secret.ts'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { SearchResponseError, SearchUnavailableError } from './errors.ts'
import { basicAuth, call, DEFAULT_TIMEOUT_MS, excerpt, newAgent, parseServiceUrl, scrub, showUrl, statusError, type HttpResponse } from './http.ts'
import { queryString, resolveK, type SearchBackend, type SearchHit, type SearchOptions, type SearchQuery } from './search-backend.ts'

export interface SearxngOptions {
  /** Base URL of the instance, e.g. http://127.0.0.1:8888 (a path prefix is kept). */
  url: string
  /** SearXNG categories, e.g. ['general'] or ['science', 'it']. */
  categories?: readonly string[]
  /** Search language, e.g. en, en-US, all. */
  language?: string
  /** Restrict to these engines, e.g. ['wikipedia', 'duckduckgo']. */
  engines?: readonly string[]
  /** Basic auth for an instance behind an authenticating proxy. */
  username?: string
  password?: Secret
  timeoutMs?: number
  caFile?: string
  logger?: Logger
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

export class SearxngBackend implements SearchBackend {
  readonly name = 'searxng'
  readonly url: string
  readonly #base: URL
  readonly #params: Array<[string, string]>
  readonly #auth: string | undefined
  readonly #secrets: string[]
  readonly #timeoutMs: number
  readonly #agent: Agent
  readonly #logger: Logger | undefined

  constructor (opts: SearxngOptions) {
    this.#base = parseServiceUrl(opts.url, 'SYNTHQ_SEARXNG_URL')
    this.url = showUrl(this.#base)
    if (Boolean(opts.username) !== Boolean(opts.password)) throw new ConfigError('Basic auth to SearXNG needs both SYNTHQ_SEARXNG_USERNAME and SYNTHQ_SEARXNG_PASSWORD')
    this.#auth = opts.username && opts.password ? basicAuth(opts.username, opts.password) : undefined
    this.#secrets = opts.password && this.#auth ? [opts.password.reveal(), this.#auth.slice('Basic '.length)] : []
    this.#params = []
    if (opts.categories?.length) this.#params.push(['categories', opts.categories.join(',')])
    if (opts.language) this.#params.push(['language', opts.language])
    if (opts.engines?.length) this.#params.push(['engines', opts.engines.join(',')])
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#agent = newAgent({ timeoutMs: this.#timeoutMs, ...(opts.caFile ? { caFile: opts.caFile } : {}) })
    this.#logger = opts.logger
  }

  /** The URL requested for a query. */
  requestUrl (query: SearchQuery): URL {
    const url = new URL('search', this.#base)
    url.searchParams.set('q', queryString(query))
    url.searchParams.set('format', 'json')
    for (const [k, v] of this.#params) url.searchParams.set(k, v)
    return url
  }

  async search (query: SearchQuery, opts: SearchOptions = {}): Promise<SearchHit[]> {
    const k = resolveK(opts.k)
    if (queryString(query) === '') return []
    const t0 = performance.now()
    const res = await call({
      service: 'SearXNG',
      shownUrl: this.url,
      method: 'GET',
      url: this.requestUrl(query),
      headers: { accept: 'application/json', ...(this.#auth ? { authorization: this.#auth } : {}) },
      timeoutMs: this.#timeoutMs,
      signal: opts.signal,
      dispatcher: this.#agent,
    })
    if (res.status < 200 || res.status >= 300) throw this.#statusError(res)
    const hits = this.#parse(res).slice(0, k)
    this.#logger?.debug({ backend: this.name, query: queryString(query), k, hits: hits.length, ms: Math.round(performance.now() - t0) }, 'search')
    return hits
  }

  async close (): Promise<void> {
    await this.#agent.close()
  }

  #statusError (res: HttpResponse): Error {
    const detail = scrub(excerpt(res.text, 200), this.#secrets)
    const where = `SearXNG at ${this.url} (SYNTHQ_SEARXNG_URL)`
    const context = { service: 'SearXNG', status: res.status }
    if (res.status === 401) {
      return new ConfigError(this.#auth
        ? `${where} rejected the credentials (HTTP 401): check SYNTHQ_SEARXNG_USERNAME and SYNTHQ_SEARXNG_PASSWORD`
        : `${where} requires credentials (HTTP 401): set SYNTHQ_SEARXNG_USERNAME and SYNTHQ_SEARXNG_PASSWORD`, { context })
    }
    if (res.status === 403) {
      return new ConfigError(`${where} refused the JSON API (HTTP 403): enable it in the instance's settings.yml (search: formats: [html, json]), or check that the credentials may use it`, { context })
    }
    if (res.status === 404) return new ConfigError(`${where} has no /search endpoint (HTTP 404): check SYNTHQ_SEARXNG_URL`, { context })
    return statusError('SearXNG', this.url, res, detail)
  }

  #parse (res: HttpResponse): SearchHit[] {
    let body: unknown
    try {
      body = JSON.parse(res.text)
    } catch {
      throw new SearchResponseError(`SearXNG at ${this.url} answered HTTP ${res.status} with a body that is not JSON (is SYNTHQ_SEARXNG_URL a SearXNG instance with the JSON format enabled?): ${scrub(excerpt(res.text, 200), this.#secrets)}`, { context: { service: 'SearXNG', status: res.status } })
    }
    if (!isObject(body) || !Array.isArray(body.results)) {
      throw new SearchResponseError(`SearXNG at ${this.url} answered HTTP ${res.status} with JSON that is not a search response (no results array): ${scrub(excerpt(res.text, 200), this.#secrets)}`, { context: { service: 'SearXNG', status: res.status } })
    }
    const results = body.results
    // Every engine failing (CAPTCHA, timeouts, rate limits upstream) looks like "no results": say so, and retry later.
    const unresponsive = Array.isArray(body.unresponsive_engines) ? body.unresponsive_engines : []
    if (results.length === 0 && unresponsive.length > 0) {
      const why = unresponsive.map((u) => Array.isArray(u) ? u.filter((x) => typeof x === 'string').join(': ') : String(u)).join('; ')
      throw new SearchUnavailableError(`SearXNG at ${this.url} found nothing and its engines did not answer (${excerpt(why, 200)})`, { context: { service: 'SearXNG' } })
    }
    const hits: SearchHit[] = []
    const seen = new Set<string>()
    for (const [i, r] of results.entries()) {
      if (!isObject(r) || typeof r.url !== 'string' || r.url === '' || seen.has(r.url)) continue
      seen.add(r.url)
      const engine = typeof r.engine === 'string' ? r.engine : undefined
      hits.push({
        id: r.url,
        score: typeof r.score === 'number' && Number.isFinite(r.score) ? r.score : 1 / (i + 1),
        text: typeof r.content === 'string' ? r.content : '',
        title: typeof r.title === 'string' && r.title !== '' ? r.title : null,
        url: r.url,
        corpus: engine ? `searxng:${engine}` : 'searxng',
      })
    }
    // SearXNG sends results merged and ordered by its own score; keep that order, stable.
    return hits.map((h, i) => ({ h, i })).sort((a, b) => b.h.score - a.h.score || a.i - b.i).map(({ h }) => h)
  }
}
