/**
 * Which search backend search retrieval uses, from the environment. Parsing
 * ({@link searchSettingsFromEnv}) is separate from opening ({@link searchBackendFromEnv}) so a
 * misconfiguration is reported at start, with the variable to fix, before any record is read.
 *
 * | variable                         | meaning                                                   |
 * |----------------------------------|-----------------------------------------------------------|
 * | SYNTHQ_SEARCH_BACKEND            | bm25 (default), elasticsearch or searxng                  |
 * | SYNTHQ_SEARCH_INDEX              | bm25: the index file (`synthq index build` writes it)     |
 * | SYNTHQ_SEARCH_TIMEOUT_MS         | elasticsearch/searxng: per-request timeout (default 10000) |
 * | SYNTHQ_ES_URL                    | Elasticsearch/OpenSearch base URL                         |
 * | SYNTHQ_ES_INDEX                  | index, alias or pattern to search                         |
 * | SYNTHQ_ES_API_KEY[_FILE]         | encoded API key (`Authorization: ApiKey …`)               |
 * | SYNTHQ_ES_USERNAME               | basic-auth user (instead of an API key; OpenSearch)       |
 * | SYNTHQ_ES_PASSWORD[_FILE]        | basic-auth password                                       |
 * | SYNTHQ_ES_CA_FILE                | PEM CA bundle to trust (ES 8's self-generated CA)         |
 * | SYNTHQ_ES_FIELDS                 | multi_match fields, comma-separated (default title^2,text) |
 * | SYNTHQ_ES_TEXT_FIELD / _TITLE_FIELD / _URL_FIELD / _CORPUS_FIELD | `_source` fields of a hit (default text, title, url, corpus) |
 * | SYNTHQ_ES_ID_FIELD               | take the id from this `_source` field instead of `_id`    |
 * | SYNTHQ_SEARXNG_URL               | SearXNG instance base URL                                 |
 * | SYNTHQ_SEARXNG_CATEGORIES        | comma-separated categories (e.g. general)                 |
 * | SYNTHQ_SEARXNG_LANGUAGE          | search language (e.g. en)                                 |
 * | SYNTHQ_SEARXNG_ENGINES           | comma-separated engines                                   |
 * | SYNTHQ_SEARXNG_USERNAME / _PASSWORD[_FILE] | basic auth for an instance behind a proxy       |
 * | SYNTHQ_SEARXNG_CA_FILE           | PEM CA bundle to trust                                    |
 *
 * Secrets are read with `secretFromEnv` (value or `_FILE`) and held as {@link Secret}s.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Secret } from '../config/secret.ts'
import { secretFromEnv } from '../config/secret.ts'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { Bm25Index } from './bm25-index.ts'
import { ElasticsearchBackend, type ElasticsearchOptions } from './elasticsearch.ts'
import { DEFAULT_TIMEOUT_MS } from './http.ts'
import type { SearchBackend } from './search-backend.ts'
import { SearxngBackend, type SearxngOptions } from './searxng.ts'

export const SEARCH_BACKENDS = ['bm25', 'elasticsearch', 'searxng'] as const
export type SearchBackendName = typeof SEARCH_BACKENDS[number]

export type SearchSettings =
  | { backend: 'bm25', indexPath: string }
  | { backend: 'elasticsearch', elasticsearch: ElasticsearchOptions }
  | { backend: 'searxng', searxng: SearxngOptions }

export interface SearchEnvOptions {
  /** Where the BM25 index is when SYNTHQ_SEARCH_INDEX is not set. */
  defaultIndexPath: string
  logger?: Logger
}

/** `$SYNTHQ_SEARCH_INDEX`, else `.synthq/search/index.db` under `cwd`. */
export function defaultSearchIndexPath (env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  return env.SYNTHQ_SEARCH_INDEX || join(cwd, '.synthq', 'search', 'index.db')
}

const BUILD_HINT = 'build it with `synthq index build <files|dirs>` (e.g. synthq index build data/web data/math data/tech), or set SYNTHQ_SEARCH_INDEX to an existing index'

function list (v: string | undefined): string[] | undefined {
  const items = v?.split(',').map((s) => s.trim()).filter(Boolean)
  return items?.length ? items : undefined
}

function required (env: NodeJS.ProcessEnv, name: string, why: string): string {
  const v = env[name]?.trim()
  if (!v) throw new ConfigError(`${name} is not set: ${why}`)
  return v
}

function timeout (env: NodeJS.ProcessEnv): number {
  const raw = env.SYNTHQ_SEARCH_TIMEOUT_MS
  if (raw === undefined || raw.trim() === '') return DEFAULT_TIMEOUT_MS
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`SYNTHQ_SEARCH_TIMEOUT_MS must be a positive whole number of milliseconds, got "${raw}"`)
  return n
}

function basicCredentials (env: NodeJS.ProcessEnv, prefix: string): { username?: string, password?: Secret } {
  const username = env[`${prefix}_USERNAME`]?.trim() || undefined
  const password = secretFromEnv(`${prefix}_PASSWORD`, env)
  if (username && !password) throw new ConfigError(`${prefix}_USERNAME is set but ${prefix}_PASSWORD (or ${prefix}_PASSWORD_FILE) is not`)
  if (password && !username) throw new ConfigError(`${prefix}_PASSWORD is set but ${prefix}_USERNAME is not`)
  return username && password ? { username, password } : {}
}

/** Reads and checks the search settings; throws a ConfigError naming the variable to fix. */
export function searchSettingsFromEnv (env: NodeJS.ProcessEnv, opts: SearchEnvOptions): SearchSettings {
  const raw = (env.SYNTHQ_SEARCH_BACKEND ?? '').trim().toLowerCase() || 'bm25'
  const backend = raw === 'opensearch' ? 'elasticsearch' : raw
  if (!(SEARCH_BACKENDS as readonly string[]).includes(backend)) {
    throw new ConfigError(`SYNTHQ_SEARCH_BACKEND must be one of ${SEARCH_BACKENDS.join(', ')}, got "${env.SYNTHQ_SEARCH_BACKEND}"`)
  }
  if (backend === 'bm25') return { backend, indexPath: env.SYNTHQ_SEARCH_INDEX?.trim() || opts.defaultIndexPath }
  const timeoutMs = timeout(env)
  const logger = opts.logger ? { logger: opts.logger } : {}
  if (backend === 'elasticsearch') {
    const apiKey = secretFromEnv('SYNTHQ_ES_API_KEY', env)
    const basic = basicCredentials(env, 'SYNTHQ_ES')
    if (apiKey && basic.username) throw new ConfigError('Set either SYNTHQ_ES_API_KEY or SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD, not both')
    const fields = list(env.SYNTHQ_ES_FIELDS)
    const source = {
      ...(env.SYNTHQ_ES_TEXT_FIELD ? { text: env.SYNTHQ_ES_TEXT_FIELD.trim() } : {}),
      ...(env.SYNTHQ_ES_TITLE_FIELD ? { title: env.SYNTHQ_ES_TITLE_FIELD.trim() } : {}),
      ...(env.SYNTHQ_ES_URL_FIELD ? { url: env.SYNTHQ_ES_URL_FIELD.trim() } : {}),
      ...(env.SYNTHQ_ES_CORPUS_FIELD ? { corpus: env.SYNTHQ_ES_CORPUS_FIELD.trim() } : {}),
      ...(env.SYNTHQ_ES_ID_FIELD ? { id: env.SYNTHQ_ES_ID_FIELD.trim() } : {}),
    }
    return {
      backend,
      elasticsearch: {
        url: required(env, 'SYNTHQ_ES_URL', 'the elasticsearch search backend needs the cluster URL, e.g. https://es.example.org:9200'),
        index: required(env, 'SYNTHQ_ES_INDEX', 'the elasticsearch search backend needs the index (or alias) holding the documents'),
        ...(apiKey ? { apiKey } : {}),
        ...basic,
        ...(fields ? { fields } : {}),
        source,
        timeoutMs,
        ...(env.SYNTHQ_ES_CA_FILE ? { caFile: env.SYNTHQ_ES_CA_FILE } : {}),
        ...logger,
      },
    }
  }
  const categories = list(env.SYNTHQ_SEARXNG_CATEGORIES)
  const engines = list(env.SYNTHQ_SEARXNG_ENGINES)
  return {
    backend: 'searxng',
    searxng: {
      url: required(env, 'SYNTHQ_SEARXNG_URL', 'the searxng search backend needs the instance URL, e.g. http://127.0.0.1:8888'),
      ...(categories ? { categories } : {}),
      ...(env.SYNTHQ_SEARXNG_LANGUAGE?.trim() ? { language: env.SYNTHQ_SEARXNG_LANGUAGE.trim() } : {}),
      ...(engines ? { engines } : {}),
      ...basicCredentials(env, 'SYNTHQ_SEARXNG'),
      timeoutMs,
      ...(env.SYNTHQ_SEARXNG_CA_FILE ? { caFile: env.SYNTHQ_SEARXNG_CA_FILE } : {}),
      ...logger,
    },
  }
}

/** Opens the backend the settings name. The BM25 index must exist and hold documents. */
export function openSearchBackend (settings: SearchSettings, logger?: Logger): SearchBackend {
  switch (settings.backend) {
    case 'bm25': {
      if (!existsSync(settings.indexPath)) throw new ConfigError(`The search index ${settings.indexPath} does not exist: ${BUILD_HINT}.`, { context: { path: settings.indexPath } })
      const index = Bm25Index.open(settings.indexPath, { readonly: true, ...(logger ? { logger } : {}) })
      if (index.count === 0) {
        void index.close()
        throw new ConfigError(`The search index ${settings.indexPath} holds no documents: ${BUILD_HINT}.`, { context: { path: settings.indexPath } })
      }
      return index
    }
    case 'elasticsearch': return new ElasticsearchBackend(settings.elasticsearch)
    case 'searxng': return new SearxngBackend(settings.searxng)
  }
}

/** The configured search backend, opened: settings from the environment, checked up front. */
export function searchBackendFromEnv (env: NodeJS.ProcessEnv, opts: SearchEnvOptions): SearchBackend {
  return openSearchBackend(searchSettingsFromEnv(env, opts), opts.logger)
}
