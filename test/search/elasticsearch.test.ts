/**
 * The Elasticsearch/OpenSearch backend. Elasticsearch cannot run on this machine, so it is
 * tested against recorded responses (fixtures/, shaped like Elasticsearch 8's documented
 * answers) served by a local HTTP server: the request sent (method, path, body, auth header),
 * the mapping of hits, and every class of failure.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, beforeEach, test } from 'node:test'
import { inspect } from 'node:util'
import { Secret } from '../../src/config/secret.ts'
import { ConfigError, SynthqError } from '../../src/errors.ts'
import { ElasticsearchBackend } from '../../src/search/elasticsearch.ts'
import { SearchRejectedError, SearchResponseError, SearchUnavailableError } from '../../src/search/errors.ts'
import { startRecordedServer, type RecordedServer } from './recorded-server.ts'

const API_KEY = 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=='
const PASSWORD = 'es-password-do-not-print'

let server: RecordedServer
before(async () => { server = await startRecordedServer() })
after(async () => { await server.close() })
beforeEach(() => { server.requests.length = 0 })

const query = { keywords: ['Norse leader', 'Rollo'], text: 'who led the Normans' }

test('sends one multi_match _search with the API key, and maps the hits', async () => {
  const es = new ElasticsearchBackend({ url: `${server.url}/`, index: 'synthq-docs', apiKey: new Secret(API_KEY) })
  server.reply({ status: 200, fixture: 'es-search-200.json' })
  const hits = await es.search(query, { k: 3 })
  await es.close()

  assert.equal(server.requests.length, 1)
  const req = server.requests[0]!
  assert.equal(req.method, 'POST')
  assert.equal(req.path, '/synthq-docs/_search')
  assert.equal(req.headers.authorization, `ApiKey ${API_KEY}`)
  assert.equal(req.headers['content-type'], 'application/json')
  assert.deepEqual(JSON.parse(req.body), {
    size: 3,
    query: { multi_match: { query: 'Norse leader Rollo who led the Normans', fields: ['title^2', 'text'] } },
    _source: ['text', 'title', 'url', 'corpus'],
    track_total_hits: false,
  })

  assert.deepEqual(hits.map((h) => [h.id, h.score, h.title, h.url, h.corpus]), [
    ['squad:Normans:0', 13.418201, 'Normans', 'https://en.wikipedia.org/wiki/Normans', 'squad'],
    ['squad:Normans:4', 9.02771, 'Normans', null, 'squad'],
    ['c4-3967688663466bdc', 2.1308455, null, 'https://www.example.com/viking-tours', null],
  ])
  assert.match(hits[0]!.text, /^The Normans were the people/)
  assert.equal(es.name, 'elasticsearch')
})

test('basic auth (OpenSearch), configurable fields and _source names, index patterns', async () => {
  const es = new ElasticsearchBackend({
    url: `${server.url}/es-proxy`,
    index: 'docs-2024,docs-*',
    username: 'synthq',
    password: new Secret(PASSWORD),
    fields: ['headline^3', 'body', 'tags'],
    source: { text: 'body', title: 'headline', url: 'link', corpus: 'meta.source' },
  })
  server.reply({ status: 200, body: JSON.stringify({ took: 1, timed_out: false, _shards: { total: 2, successful: 2, skipped: 0, failed: 0 }, hits: { max_score: 4.2, hits: [
    { _index: 'docs-2024', _id: 'n1', _score: 4.2, _source: { body: 'Rollo led the Norse settlers.', headline: 'Rollo', link: 'https://example.org/rollo', meta: { source: 'encyclopedia' } } },
  ] } }) })
  const hits = await es.search({ keywords: ['Rollo'] })
  await es.close()
  const req = server.requests[0]!
  assert.equal(req.path, '/es-proxy/docs-2024,docs-*/_search')
  assert.equal(req.headers.authorization, `Basic ${Buffer.from(`synthq:${PASSWORD}`).toString('base64')}`)
  const body = JSON.parse(req.body) as { size: number, query: { multi_match: { fields: string[] } }, _source: string[] }
  assert.equal(body.size, 5, 'k defaults to 5')
  assert.deepEqual(body.query.multi_match.fields, ['headline^3', 'body', 'tags'])
  assert.deepEqual(body._source, ['body', 'headline', 'link', 'meta.source'])
  assert.deepEqual(hits, [{ id: 'n1', score: 4.2, text: 'Rollo led the Norse settlers.', title: 'Rollo', url: 'https://example.org/rollo', corpus: 'encyclopedia' }])
})

test('an empty query sends nothing', async () => {
  const es = new ElasticsearchBackend({ url: server.url, index: 'synthq-docs' })
  assert.deepEqual(await es.search({ keywords: ['', '  '] }), [])
  assert.equal(server.requests.length, 0)
  await es.close()
})

test('5xx, 429, timeouts and refused connections are retriable', async () => {
  const es = new ElasticsearchBackend({ url: server.url, index: 'synthq-docs', apiKey: new Secret(API_KEY), timeoutMs: 300 })
  for (const [status, fixture, pattern] of [
    [500, 'es-error-503.json', /HTTP 500: search_phase_execution_exception: all shards failed/],
    [503, 'es-error-503.json', /HTTP 503/],
    [429, 'es-error-429.json', /HTTP 429: es_rejected_execution_exception/],
    [502, 'proxy-502.html', /HTTP 502: <html>/],
  ] as const) {
    server.reply({ status, fixture, headers: status === 429 ? { 'retry-after': '2' } : {} })
    await assert.rejects(es.search(query), (e: unknown) => {
      assert.ok(e instanceof SearchUnavailableError, String(e))
      assert.equal(e.retriable, true)
      assert.equal(e.status, status)
      assert.match(e.message, pattern)
      if (status === 429) assert.equal(e.context.retryAfterMs, 2000)
      return true
    })
  }
  server.reply({ status: 200, hang: true })
  await assert.rejects(es.search(query), (e: unknown) => e instanceof SearchUnavailableError && e.retriable && /did not answer within 300 ms/.test(e.message))
  await es.close()

  // Nothing listens on this port: connection refused.
  const port = await freePort()
  const down = new ElasticsearchBackend({ url: `http://127.0.0.1:${port}`, index: 'synthq-docs' })
  await assert.rejects(down.search(query), (e: unknown) => e instanceof SearchUnavailableError && e.retriable && /Cannot reach Elasticsearch at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/.test(e.message))
  await down.close()
})

test('401, 403 and 404 are ConfigErrors naming the setting, never the secret', async () => {
  const withKey = new ElasticsearchBackend({ url: server.url, index: 'synthq-docs', apiKey: new Secret(API_KEY) })
  const withPassword = new ElasticsearchBackend({ url: server.url, index: 'synthq-docs', username: 'synthq', password: new Secret(PASSWORD) })
  const anonymous = new ElasticsearchBackend({ url: server.url, index: 'synthq-docs' })
  const expectConfig = async (es: ElasticsearchBackend, status: number, fixture: string, pattern: RegExp): Promise<void> => {
    server.reply({ status, fixture, headers: status === 401 ? { 'www-authenticate': 'ApiKey' } : {} })
    await assert.rejects(es.search(query), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e))
      assert.equal(e.retriable, false)
      assert.match(e.message, pattern)
      for (const shown of [e.message, inspect(e), JSON.stringify(e.context)]) {
        assert.ok(!shown.includes(API_KEY) && !shown.includes(PASSWORD) && !shown.includes(Buffer.from(`synthq:${PASSWORD}`).toString('base64')), shown)
      }
      return true
    })
  }
  await expectConfig(withKey, 401, 'es-error-401.json', /rejected the credentials \(HTTP 401\): check SYNTHQ_ES_API_KEY .*security_exception/)
  await expectConfig(withPassword, 401, 'es-error-401.json', /rejected the credentials \(HTTP 401\): check SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD/)
  await expectConfig(anonymous, 401, 'es-error-401.json', /requires credentials \(HTTP 401\): set SYNTHQ_ES_API_KEY, or SYNTHQ_ES_USERNAME and SYNTHQ_ES_PASSWORD/)
  await expectConfig(withKey, 403, 'es-error-403.json', /denied searching index "synthq-docs" \(HTTP 403\): the API key \(SYNTHQ_ES_API_KEY\) needs the read privilege/)
  await expectConfig(withKey, 404, 'es-error-404.json', /has no index "synthq-docs" \(HTTP 404\): check SYNTHQ_ES_INDEX.*index_not_found_exception: no such index \[synthq-docs\]/)

  // A server echoing the credentials back still does not get them into the message.
  server.reply({ status: 500, body: JSON.stringify({ error: { type: 'weird', reason: `bad header ApiKey ${API_KEY}` }, status: 500 }) })
  await assert.rejects(withKey.search(query), (e: unknown) => e instanceof SynthqError && !e.message.includes(API_KEY) && /\[redacted\]/.test(e.message))
  for (const es of [withKey, withPassword, anonymous]) await es.close()
})

test('400 is a rejected query; bodies that are not search responses are clear errors', async () => {
  const es = new ElasticsearchBackend({ url: server.url, index: 'synthq-docs' })
  server.reply({ status: 400, fixture: 'es-error-400.json' })
  await assert.rejects(es.search(query), (e: unknown) => e instanceof SearchRejectedError && !e.retriable && /refused the query \(HTTP 400\): search_phase_execution_exception: all shards failed/.test(e.message))

  server.reply({ status: 200, fixture: 'login-page-200.html' })
  await assert.rejects(es.search(query), (e: unknown) => e instanceof SearchResponseError && !e.retriable && /HTTP 200 with a body that is not JSON .*SYNTHQ_ES_URL.*<!DOCTYPE html>/.test(e.message))
  server.reply({ status: 200, body: '{"took": 3, "hits": {"total": 0}}' })
  await assert.rejects(es.search(query), (e: unknown) => e instanceof SearchResponseError && /not a search response \(no hits\.hits array\)/.test(e.message))
  server.reply({ status: 200, body: '{"hits": {"hits": [' })
  await assert.rejects(es.search(query), SearchResponseError)
  // Hits without the text field: the index's documents keep it elsewhere.
  server.reply({ status: 200, body: JSON.stringify({ hits: { hits: [{ _id: 'a', _score: 1, _source: { content: 'x' } }] } }) })
  await assert.rejects(es.search(query), (e: unknown) => e instanceof ConfigError && /no text in _source\.text .*SYNTHQ_ES_TEXT_FIELD/.test(e.message))
  // Timed out on the server with nothing to show: retriable.
  server.reply({ status: 200, body: JSON.stringify({ timed_out: true, hits: { hits: [] } }) })
  await assert.rejects(es.search(query), (e: unknown) => e instanceof SearchUnavailableError && e.retriable)
  await es.close()
})

test('bad settings are ConfigErrors', () => {
  assert.throws(() => new ElasticsearchBackend({ url: 'not a url', index: 'x' }), /SYNTHQ_ES_URL is not a URL/)
  assert.throws(() => new ElasticsearchBackend({ url: 'ftp://es', index: 'x' }), /http:\/\/ or https:\/\//)
  assert.throws(() => new ElasticsearchBackend({ url: `http://elastic:${PASSWORD}@es:9200`, index: 'x' }), (e: unknown) => e instanceof ConfigError && /must not carry credentials/.test(e.message) && !e.message.includes(PASSWORD))
  assert.throws(() => new ElasticsearchBackend({ url: 'http://es:9200', index: 'bad index' }), /SYNTHQ_ES_INDEX must be/)
  assert.throws(() => new ElasticsearchBackend({ url: 'http://es:9200', index: 'x', apiKey: new Secret('k'), username: 'u', password: new Secret('p') }), /either SYNTHQ_ES_API_KEY or/)
  assert.throws(() => new ElasticsearchBackend({ url: 'http://es:9200', index: 'x', username: 'u' }), /needs both/)
})

async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}
