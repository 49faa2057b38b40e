/**
 * The SearXNG backend. SearXNG cannot run on this machine, so it is tested against recorded
 * responses (fixtures/, shaped like SearXNG's documented `format=json` answer) served by a local
 * HTTP server: the request (GET /search, query string, auth), the mapping of results (the text
 * is the engine's snippet), and the failures.
 */
import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import { inspect } from 'node:util'
import { Secret } from '../../src/config/secret.ts'
import { ConfigError } from '../../src/errors.ts'
import { SearchResponseError, SearchUnavailableError } from '../../src/search/errors.ts'
import { SearxngBackend } from '../../src/search/searxng.ts'
import { startRecordedServer, type RecordedServer } from './recorded-server.ts'

const PASSWORD = 'searx-proxy-password-do-not-print'

let server: RecordedServer
before(async () => { server = await startRecordedServer() })
after(async () => { await server.close() })
beforeEach(() => { server.requests.length = 0 })

test('GET /search?q=…&format=json with the options, results mapped best first', async () => {
  const sx = new SearxngBackend({ url: `${server.url}/searx`, categories: ['general', 'science'], language: 'en', engines: ['wikipedia', 'duckduckgo'] })
  server.reply({ status: 200, fixture: 'searxng-search-200.json' })
  const hits = await sx.search({ keywords: ['Norse leader', 'Rollo'] }, { k: 2 })
  await sx.close()
  assert.equal(server.requests.length, 1)
  const req = server.requests[0]!
  assert.equal(req.method, 'GET')
  assert.equal(req.path, '/searx/search')
  assert.deepEqual([...req.query.entries()], [['q', 'Norse leader Rollo'], ['format', 'json'], ['categories', 'general,science'], ['language', 'en'], ['engines', 'wikipedia,duckduckgo']])
  assert.equal(req.headers.authorization, undefined)
  assert.equal(req.headers.accept, 'application/json')
  assert.deepEqual(hits, [
    { id: 'https://en.wikipedia.org/wiki/Rollo', score: 9, text: 'Rollo was a Viking who became the first ruler of Normandy, a region in northern France.', title: 'Rollo - Wikipedia', url: 'https://en.wikipedia.org/wiki/Rollo', corpus: 'searxng:wikipedia' },
    { id: 'https://www.britannica.com/biography/Rollo', score: 2.5, text: 'Rollo, Viking rover who founded the duchy of Normandy in the early 10th century.', title: 'Rollo | Viking, Duke of Normandy, Founder | Britannica', url: 'https://www.britannica.com/biography/Rollo', corpus: 'searxng:duckduckgo' },
  ])
  assert.equal(sx.name, 'searxng')
})

test('all results up to k; a result without a snippet has empty text; basic auth when set', async () => {
  const sx = new SearxngBackend({ url: server.url, username: 'synthq', password: new Secret(PASSWORD) })
  server.reply({ status: 200, fixture: 'searxng-search-200.json' })
  const hits = await sx.search({ keywords: ['Rollo'], text: 'Viking ruler' }, { k: 10 })
  assert.equal(hits.length, 3)
  assert.equal(hits[2]!.text, '')
  const req = server.requests[0]!
  assert.equal(req.path, '/search')
  assert.equal(req.query.get('q'), 'Rollo Viking ruler')
  assert.equal(req.query.has('categories'), false)
  assert.equal(req.headers.authorization, `Basic ${Buffer.from(`synthq:${PASSWORD}`).toString('base64')}`)
  assert.deepEqual(await sx.search({ keywords: ['  '] }), [], 'an empty query sends nothing')
  assert.equal(server.requests.length, 1)
  await sx.close()
})

test('500, 429 and every engine failing are retriable', async () => {
  const sx = new SearxngBackend({ url: server.url, timeoutMs: 300 })
  server.reply({ status: 500, body: 'Internal Server Error' })
  await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => e instanceof SearchUnavailableError && e.retriable && e.status === 500 && /HTTP 500: Internal Server Error/.test(e.message))
  server.reply({ status: 429, body: 'Too Many Requests', headers: { 'retry-after': '5' } })
  await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => e instanceof SearchUnavailableError && e.retriable && e.context.retryAfterMs === 5000)
  server.reply({ status: 502, fixture: 'proxy-502.html' })
  await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => e instanceof SearchUnavailableError && e.retriable)
  server.reply({ status: 200, fixture: 'searxng-engines-down-200.json' })
  await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => e instanceof SearchUnavailableError && e.retriable && /engines did not answer \(duckduckgo: timeout; brave: too many requests; google: CAPTCHA\)/.test(e.message))
  server.reply({ status: 200, hang: true })
  await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => e instanceof SearchUnavailableError && /did not answer within 300 ms/.test(e.message))
  // No results and no failing engine: simply nothing found.
  server.reply({ status: 200, body: JSON.stringify({ query: 'zzqx', number_of_results: 0, results: [], answers: [], corrections: [], infoboxes: [], suggestions: [], unresponsive_engines: [] }) })
  assert.deepEqual(await sx.search({ keywords: ['zzqx'] }), [])
  await sx.close()
})

test('401/403/404 are ConfigErrors without the secret; garbage bodies are clear errors', async () => {
  const sx = new SearxngBackend({ url: server.url, username: 'synthq', password: new Secret(PASSWORD) })
  const config = async (status: number, pattern: RegExp, fixture?: string): Promise<void> => {
    server.reply({ status, ...(fixture ? { fixture } : { body: `denied for synthq:${PASSWORD}` }) })
    await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e))
      assert.match(e.message, pattern)
      assert.ok(!inspect(e).includes(PASSWORD) && !e.message.includes(Buffer.from(`synthq:${PASSWORD}`).toString('base64')), e.message)
      return true
    })
  }
  await config(401, /rejected the credentials \(HTTP 401\): check SYNTHQ_SEARXNG_USERNAME and SYNTHQ_SEARXNG_PASSWORD/)
  await config(403, /refused the JSON API \(HTTP 403\): enable it in the instance's settings\.yml \(search: formats: \[html, json\]\)/, 'searxng-403.html')
  await config(404, /no \/search endpoint \(HTTP 404\): check SYNTHQ_SEARXNG_URL/)

  server.reply({ status: 200, fixture: 'login-page-200.html' })
  await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => e instanceof SearchResponseError && !e.retriable && /not JSON .*JSON format enabled.*<!DOCTYPE html>/.test(e.message))
  server.reply({ status: 200, body: '{"query": "Rollo", "answers": []}' })
  await assert.rejects(sx.search({ keywords: ['Rollo'] }), (e: unknown) => e instanceof SearchResponseError && /no results array/.test(e.message))
  await sx.close()

  assert.throws(() => new SearxngBackend({ url: 'searx.local' }), /SYNTHQ_SEARXNG_URL is not a URL/)
  assert.throws(() => new SearxngBackend({ url: 'http://searx', username: 'u' }), /needs both/)
})
