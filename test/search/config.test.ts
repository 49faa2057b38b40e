/**
 * Choosing and configuring the search backend from the environment: defaults, every backend's
 * variables, secrets from files and never printed, and ConfigErrors that name what to fix.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { inspect } from 'node:util'
import { ConfigError } from '../../src/errors.ts'
import { Bm25Index } from '../../src/search/bm25-index.ts'
import { defaultSearchIndexPath, searchBackendFromEnv, searchSettingsFromEnv } from '../../src/search/config.ts'
import { ElasticsearchBackend } from '../../src/search/elasticsearch.ts'
import { SearxngBackend } from '../../src/search/searxng.ts'
import { testTmpDir } from '../helpers/env.ts'

const SECRET = 'es-api-key-do-not-print'
const opts = { defaultIndexPath: '/nonexistent/synthq/index.db' }

test('bm25 is the default; SYNTHQ_SEARCH_INDEX overrides the default path', () => {
  assert.deepEqual(searchSettingsFromEnv({}, opts), { backend: 'bm25', indexPath: '/nonexistent/synthq/index.db' })
  assert.deepEqual(searchSettingsFromEnv({ SYNTHQ_SEARCH_BACKEND: 'BM25', SYNTHQ_SEARCH_INDEX: '/data/idx.db' }, opts), { backend: 'bm25', indexPath: '/data/idx.db' })
  assert.equal(defaultSearchIndexPath({}, '/work'), '/work/.synthq/search/index.db')
  assert.equal(defaultSearchIndexPath({ SYNTHQ_SEARCH_INDEX: '/x.db' }, '/work'), '/x.db')
  assert.throws(() => searchSettingsFromEnv({ SYNTHQ_SEARCH_BACKEND: 'solr' }, opts), (e: unknown) => e instanceof ConfigError && /SYNTHQ_SEARCH_BACKEND must be one of bm25, elasticsearch, searxng, got "solr"/.test(e.message))
})

test('a missing or empty BM25 index says how to build it', async () => {
  assert.throws(() => searchBackendFromEnv({}, opts), (e: unknown) => e instanceof ConfigError && /\/nonexistent\/synthq\/index\.db does not exist: build it with `synthq index build <files\|dirs>`/.test(e.message))
  const dir = testTmpDir('search-config')
  const path = join(dir, 'index.db')
  await Bm25Index.open(path).close()
  assert.throws(() => searchBackendFromEnv({ SYNTHQ_SEARCH_INDEX: path }, opts), /holds no documents: build it with `synthq index build/)
  const w = Bm25Index.open(path)
  w.add([{ id: 'a', text: 'alpha document' }])
  await w.close()
  const backend = searchBackendFromEnv({ SYNTHQ_SEARCH_INDEX: path }, opts)
  assert.ok(backend instanceof Bm25Index)
  assert.equal(backend.name, 'bm25')
  assert.equal((await backend.search({ keywords: ['alpha'] }))[0]?.id, 'a')
  await backend.close()
})

test('elasticsearch: URL, index, API key from a file, fields; the key never shows', async () => {
  const dir = testTmpDir('search-config-es')
  const keyFile = join(dir, 'es-key')
  writeFileSync(keyFile, `${SECRET}\n`)
  const env = {
    SYNTHQ_SEARCH_BACKEND: 'elasticsearch',
    SYNTHQ_ES_URL: 'https://es.example.org:9200',
    SYNTHQ_ES_INDEX: 'synthq-docs',
    SYNTHQ_ES_API_KEY_FILE: keyFile,
    SYNTHQ_ES_FIELDS: 'title^3, text ,tags',
    SYNTHQ_ES_TEXT_FIELD: 'body',
    SYNTHQ_SEARCH_TIMEOUT_MS: '2500',
  }
  const s = searchSettingsFromEnv(env, opts)
  assert.equal(s.backend, 'elasticsearch')
  if (s.backend !== 'elasticsearch') return
  assert.equal(s.elasticsearch.apiKey?.reveal(), SECRET)
  assert.deepEqual(s.elasticsearch.fields, ['title^3', 'text', 'tags'])
  assert.deepEqual(s.elasticsearch.source, { text: 'body' })
  assert.equal(s.elasticsearch.timeoutMs, 2500)
  assert.ok(!inspect(s, { depth: 5 }).includes(SECRET) && !JSON.stringify(s).includes(SECRET))
  const backend = searchBackendFromEnv(env, opts)
  assert.ok(backend instanceof ElasticsearchBackend)
  assert.ok(!inspect(backend, { depth: 5 }).includes(SECRET))
  await backend.close()
  // OpenSearch is the same backend.
  assert.equal(searchSettingsFromEnv({ ...env, SYNTHQ_SEARCH_BACKEND: 'opensearch' }, opts).backend, 'elasticsearch')
})

test('elasticsearch settings errors name the variable', () => {
  const base = { SYNTHQ_SEARCH_BACKEND: 'elasticsearch', SYNTHQ_ES_URL: 'http://es:9200', SYNTHQ_ES_INDEX: 'docs' }
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ SYNTHQ_SEARCH_BACKEND: 'elasticsearch', SYNTHQ_ES_INDEX: 'docs' }, /SYNTHQ_ES_URL is not set/],
    [{ SYNTHQ_SEARCH_BACKEND: 'elasticsearch', SYNTHQ_ES_URL: 'http://es:9200' }, /SYNTHQ_ES_INDEX is not set/],
    [{ ...base, SYNTHQ_ES_API_KEY: SECRET, SYNTHQ_ES_USERNAME: 'u', SYNTHQ_ES_PASSWORD: 'p' }, /either SYNTHQ_ES_API_KEY or SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD/],
    [{ ...base, SYNTHQ_ES_USERNAME: 'u' }, /SYNTHQ_ES_USERNAME is set but SYNTHQ_ES_PASSWORD/],
    [{ ...base, SYNTHQ_ES_PASSWORD: SECRET }, /SYNTHQ_ES_PASSWORD is set but SYNTHQ_ES_USERNAME is not/],
    [{ ...base, SYNTHQ_ES_API_KEY: SECRET, SYNTHQ_ES_API_KEY_FILE: '/x' }, /either SYNTHQ_ES_API_KEY or SYNTHQ_ES_API_KEY_FILE/],
    [{ ...base, SYNTHQ_SEARCH_TIMEOUT_MS: 'soon' }, /SYNTHQ_SEARCH_TIMEOUT_MS must be a positive whole number/],
    [{ ...base, SYNTHQ_ES_URL: 'es:9200' }, /SYNTHQ_ES_(URL must be an http|URL is not a URL)/],
    [{ ...base, SYNTHQ_ES_CA_FILE: '/nonexistent/ca.pem' }, /CA file \/nonexistent\/ca\.pem cannot be read: ENOENT/],
  ]
  for (const [env, pattern] of cases) {
    assert.throws(() => searchBackendFromEnv(env, opts), (e: unknown) => e instanceof ConfigError && pattern.test(e.message) && !e.message.includes(SECRET), `${JSON.stringify(env)} → ${pattern}`)
  }
})

test('searxng: URL and options; errors name the variable', async () => {
  const env = { SYNTHQ_SEARCH_BACKEND: 'searxng', SYNTHQ_SEARXNG_URL: 'http://127.0.0.1:8888', SYNTHQ_SEARXNG_CATEGORIES: 'general, science', SYNTHQ_SEARXNG_LANGUAGE: 'en', SYNTHQ_SEARXNG_ENGINES: 'wikipedia' }
  const s = searchSettingsFromEnv(env, opts)
  assert.deepEqual(s, { backend: 'searxng', searxng: { url: 'http://127.0.0.1:8888', categories: ['general', 'science'], language: 'en', engines: ['wikipedia'], timeoutMs: 10_000 } })
  const backend = searchBackendFromEnv(env, opts)
  assert.ok(backend instanceof SearxngBackend)
  assert.equal(backend.requestUrl({ keywords: ['a b', 'c'] }).href, 'http://127.0.0.1:8888/search?q=a+b+c&format=json&categories=general%2Cscience&language=en&engines=wikipedia')
  await backend.close()
  assert.throws(() => searchBackendFromEnv({ SYNTHQ_SEARCH_BACKEND: 'searxng' }, opts), /SYNTHQ_SEARXNG_URL is not set/)
  assert.throws(() => searchBackendFromEnv({ ...env, SYNTHQ_SEARXNG_PASSWORD: SECRET }, opts), (e: unknown) => e instanceof ConfigError && /SYNTHQ_SEARXNG_PASSWORD is set but SYNTHQ_SEARXNG_USERNAME is not/.test(e.message) && !e.message.includes(SECRET))
})
