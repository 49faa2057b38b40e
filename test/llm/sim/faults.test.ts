import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, InternalServerError, RateLimitError } from 'openai'
import { extractJson } from '../../../src/llm/json-output.ts'
import { startLlmSim, type LlmSim } from '../../../src/llm/sim/server.ts'
import { CONCEPTS_SCHEMA, demoDocs } from './helpers.ts'

let sim: LlmSim
let client: OpenAI
const doc = demoDocs()[0]!
const req = { model: 'sim-chat-8b', messages: [{ role: 'user' as const, content: doc }], response_format: { type: 'json_schema' as const, json_schema: { name: 'synthq_concepts_v1', schema: CONCEPTS_SCHEMA } } }

before(async () => {
  sim = await startLlmSim()
  client = new OpenAI({ baseURL: sim.url, apiKey: 'k', maxRetries: 0 })
})
after(() => sim.close())

test('queued faults: 429 with Retry-After headers, then 500, then success', async () => {
  sim.resetStats()
  sim.queueFaults(['rate_limit', 'server_error'])
  await assert.rejects(client.chat.completions.create(req), (e: unknown) => {
    assert.ok(e instanceof RateLimitError)
    assert.equal(e.status, 429)
    assert.equal(e.code, 'rate_limit_exceeded')
    assert.equal(e.headers?.get('retry-after'), '1')
    assert.equal(e.headers?.get('retry-after-ms'), '1000')
    return true
  })
  await assert.rejects(client.chat.completions.create(req), (e: unknown) => e instanceof InternalServerError && e.status === 500 && e.type === 'server_error')
  const ok = await client.chat.completions.create(req)
  assert.ok(extractJson(ok.choices[0]!.message.content!))
  sim.setFaults({ retryAfterSeconds: 2.5 })
  sim.queueFaults(['rate_limit'])
  await assert.rejects(client.chat.completions.create(req), (e: unknown) => e instanceof RateLimitError && e.headers?.get('retry-after') === '3' && e.headers.get('retry-after-ms') === '2500')
  // The real client honours retry-after-ms when it may retry.
  sim.setFaults({ retryAfterSeconds: 0.05 })
  sim.queueFaults(['rate_limit', 'rate_limit'])
  const retried = await new OpenAI({ baseURL: sim.url, apiKey: 'k', maxRetries: 2 }).chat.completions.create(req)
  assert.equal(retried.choices[0]!.message.content, ok.choices[0]!.message.content)
  const s = sim.stats()
  assert.equal(s.faults.rate_limit, 4)
  assert.equal(s.faults.server_error, 1)
  assert.equal(s.requests.byStatus['429'], 4)
  assert.equal(s.requests.byStatus['500'], 1)
  sim.setFaults({})
})

test('reset is a connection error; timeout hangs until the client gives up', async () => {
  sim.queueFaults(['reset'])
  await assert.rejects(client.chat.completions.create(req), (e: unknown) => e instanceof APIConnectionError && !(e instanceof APIConnectionTimeoutError))
  sim.queueFaults(['timeout'])
  const t0 = Date.now()
  await assert.rejects(client.chat.completions.create(req, { timeout: 200 }), APIConnectionTimeoutError)
  const waited = Date.now() - t0
  assert.ok(waited >= 190 && waited < 3000, `gave up after ${waited} ms`)
  // The simulator noticed the client leaving and is still serving.
  assert.ok((await client.chat.completions.create(req)).choices[0]!.message.content)
  const s = sim.stats()
  assert.equal(s.faults.reset, 1)
  assert.equal(s.faults.timeout, 1)
  // Transport faults apply to embeddings too; content faults do not.
  sim.queueFaults(['server_error'], '/v1/embeddings')
  await assert.rejects(client.embeddings.create({ model: 'sim-embed-small', input: 'x' }), InternalServerError)
  assert.throws(() => sim.queueFaults(['empty'], '/v1/embeddings'), /only applies/)
})

test('a timeout fault ends by itself after timeoutHangMs (time-scaled)', async () => {
  sim.setFaults({ timeoutHangMs: 10_000 })
  sim.setTimeScale(0.01)
  sim.queueFaults(['timeout'])
  await assert.rejects(client.chat.completions.create(req, { timeout: 5000 }), (e: unknown) => e instanceof APIConnectionError && !(e instanceof APIConnectionTimeoutError))
  sim.setTimeScale(1)
  sim.setFaults({})
})

test('content faults: malformed, truncated and empty answers with status 200', async () => {
  const clean = (await client.chat.completions.create(req)).choices[0]!.message.content!
  sim.queueFaults(['malformed_json', 'truncated_json', 'empty'])
  const malformed = (await client.chat.completions.create(req)).choices[0]!
  assert.equal(malformed.finish_reason, 'stop')
  assert.match(malformed.message.content!, /\{/)
  assert.throws(() => extractJson(malformed.message.content!))
  const truncated = (await client.chat.completions.create(req)).choices[0]!
  assert.equal(truncated.finish_reason, 'length')
  assert.ok(truncated.message.content!.length > 0 && clean.startsWith(truncated.message.content!))
  assert.throws(() => JSON.parse(truncated.message.content!))
  const empty = await client.chat.completions.create(req)
  assert.equal(empty.choices[0]!.message.content, '')
  assert.equal(empty.usage!.completion_tokens, 0)
})

test('scripted and random faults', async () => {
  sim.setFaults({ script: ({ index, path }) => path === '/v1/chat/completions' && index % 2 === 1 ? 'server_error' : null })
  const outcomes: string[] = []
  for (let i = 0; i < 6; i++) outcomes.push(await client.chat.completions.create(req).then(() => 'ok', () => 'fail'))
  assert.equal(outcomes.filter((o) => o === 'fail').length, 3)
  assert.notEqual(outcomes[0], outcomes[1])
  sim.setFaults({})

  // Random faults are a function of (seed, request index): reproducible, and about as frequent as asked.
  const pattern = async (seed: number): Promise<string> => {
    const s = await startLlmSim({ seed, faults: { rates: { server_error: 0.2, rate_limit: 0.1 } } })
    const c = new OpenAI({ baseURL: s.url, apiKey: 'k', maxRetries: 0 })
    let out = ''
    for (let i = 0; i < 60; i++) out += await c.chat.completions.create(req).then(() => '.', (e: { status?: number }) => e.status === 429 ? 'R' : 'E')
    await s.close()
    return out
  }
  const a = await pattern(7)
  assert.equal(await pattern(7), a)
  assert.notEqual(await pattern(8), a)
  const failures = a.replace(/\./g, '').length
  assert.ok(failures >= 8 && failures <= 30, `${failures}/60 failed: ${a}`)
  assert.ok(a.includes('R') && a.includes('E'))
  await assert.rejects(() => startLlmSim({ faults: { rates: { server_error: 0.8, reset: 0.5 } } }), /more than 1/)
})
