/**
 * Limits across workers, without Kafka: the roster that decides who is live and what the pipeline
 * spent, an endpoint gate holding a share of its limits, and processes sharing one SQLite
 * database (the embedded runner). The Kafka workers: pipeline-limits.test.ts.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings, type EndpointSettings } from '../../src/llm/config.ts'
import { EndpointGate } from '../../src/llm/endpoint-gate.ts'
import { DatabaseLimits } from '../../src/llm/shared/database-limits.ts'
import { endpointKey, ShareBoard, type SharedLimits } from '../../src/llm/shared/limits.ts'
import { encodeMember, Roster, type MemberRecord } from '../../src/llm/shared/roster.ts'
import { startLlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'
import { testTmpDir } from '../helpers/env.ts'

const silent = createLogger({ level: 'silent' })

function record (member: string, over: Partial<MemberRecord> = {}): Buffer {
  return encodeMember({ v: 1, member, host: 'h', pid: 1, state: 'live', endpoints: ['e1'], spend: { usd: 0, tokens: 0, requests: 0 }, at: 0, ...over })
}

test('roster: live members per endpoint, session timeout, clean leave, ages of records read at start', () => {
  let mono = 1_000
  let wall = 500_000
  const r = new Roster({ self: 'me', sessionTimeoutMs: 10_000, now: () => mono, wallNow: () => wall })
  assert.deepEqual([...r.counts(['e1', 'e2'])], [['e1', 1], ['e2', 1]], 'alone: one member per endpoint')
  // Read at start: a heartbeat written 2 s ago is live, one from a minute ago is a dead member's.
  r.apply('a', record('a', { at: wall - 2_000, spend: { usd: 1.5, tokens: 100, requests: 3 } }))
  r.apply('gone', record('gone', { at: wall - 60_000, spend: { usd: 2, tokens: 50, requests: 1 } }))
  r.apply('b', record('b', { at: wall, endpoints: ['e2'] }))
  r.apply('me', record('me', { at: wall }))
  assert.deepEqual(r.live().sort(), ['a', 'b', 'me'])
  assert.deepEqual([...r.counts(['e1', 'e2'])], [['e1', 2], ['e2', 2]])
  assert.deepEqual(r.othersSpend(), { costUsd: 3.5, tokens: 150, requests: 4 }, 'a dead member\'s spend still counts')

  // 9 s later: a (last seen 11 s before) has timed out, b (9 s) has not.
  mono += 9_000
  wall += 9_000
  r.apply('me', record('me', { at: wall }))
  assert.deepEqual(r.live().sort(), ['b', 'me'])
  // b leaves cleanly: out at once, its spend stays.
  r.apply('b', record('b', { at: wall, state: 'left', spend: { usd: 0.5, tokens: 10, requests: 1 } }))
  assert.deepEqual(r.live(), ['me'])
  assert.equal(r.othersSpend().costUsd, 4)

  // A reader that stops seeing its own heartbeats (cut off from the cluster) does not conclude it is alone.
  r.apply('c', record('c', { at: wall }))
  mono += 30_000
  wall += 30_000
  assert.deepEqual(r.live().sort(), ['c', 'me'], 'no own record read back: nobody expires')
  r.apply('me', record('me', { at: wall }))
  assert.deepEqual(r.live(), ['me'], 'reading again: c\'s heartbeat is 30 s old')

  assert.equal(r.apply('x', Buffer.from('not json')), false)
  assert.equal(r.apply('y', record('z')), false, 'a record under another member\'s key is not taken')
  r.apply('a', null)
  assert.equal(r.othersSpend().costUsd, 2.5, 'a deleted record is forgotten')
})

test('share board: listeners only on a change, one member at least', () => {
  const b = new ShareBoard()
  let calls = 0
  b.onChange(() => calls++)
  b.set(new Map([['e', 3]]))
  b.set(new Map([['e', 3]]))
  assert.equal(calls, 1)
  assert.equal(b.share('e'), 1 / 3)
  b.set(new Map([['e', 0]]))
  assert.equal(b.share('e'), 1)
  assert.equal(b.share('unknown'), 1)
})

test('endpoint gate: its buckets hold its share of the configured and of the reported limits', async () => {
  const endpoint: EndpointSettings = { name: 'e', baseUrl: 'http://x/v1', apiKeySource: 't', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 8, initialConcurrency: 8, adaptiveConcurrency: false, requestsPerMinute: 600, tokensPerMinute: 90_000 }
  const gate = new EndpointGate(endpoint, silent, { share: 1 / 3 })
  assert.equal(gate.stats().requestsPerMinute, 200)
  assert.equal(gate.stats().tokensPerMinute, 30_000)
  gate.setShare(1 / 2)
  assert.equal(gate.stats().requestsPerMinute, 300)
  // The endpoint reports the key's limit: adopted for the pipeline, held at this share.
  const t = await gate.enter(10)
  t.success({ latencyMs: 1, totalTokens: 10, headers: new Headers({ 'x-ratelimit-limit-requests': '1000', 'x-ratelimit-remaining-requests': '900' }) })
  assert.equal(gate.stats().requestsPerMinute, 500)
  gate.setShare(1)
  assert.equal(gate.stats().requestsPerMinute, 1000)
  assert.throws(() => gate.setShare(0), RangeError)
})

test('embedded: processes on one database share the rate limits and one budget; a stopped one gives its share back', async () => {
  const sim = await startLlmSim()
  const dir = testTmpDir('db-limits')
  const dbPath = join(dir, 'llm.db')
  const settings = resolveLlmSettings({
    stages: ['concepts'], env: {},
    file: { defaults: { model: 'sim-chat-8b', retries: 0 }, prices: { 'sim-chat-8b': { input: 1000, output: 1000 } }, budget: { usd: 0.5 }, cache: { enabled: false } },
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 4, initialConcurrency: 4, adaptiveConcurrency: false, requestsPerMinute: 6000 },
  })
  const make = (): LlmClient => new LlmClient({ settings, logger: silent, dbPath, shared: (db) => new DatabaseLimits(db, { heartbeatMs: 50, sessionTimeoutMs: 2_000 }) })
  const a = make()
  const b = make()
  let closedA = false
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() - t0 > 20_000) assert.fail(`timed out waiting for ${what}`)
  }
  try {
    await a.preflight()
    await b.preflight()
    const key = endpointKey(settings.stage('concepts').endpoint)
    await until('both to see two members', () => a.stats().shared?.endpoints[key]?.members === 2 && b.stats().shared?.endpoints[key]?.members === 2)
    assert.equal(a.stats().endpoints[0]?.requestsPerMinute, 3000)
    assert.equal(b.stats().endpoints[0]?.requestsPerMinute, 3000)

    // a spends the whole budget ($1000 per million tokens: ~$0.05 a request); b, which spent
    // nothing, is over it too.
    const schema = { type: 'object', additionalProperties: false, required: ['answer'], properties: { answer: { type: 'string' } } }
    for (let n = 0; !a.budget.exceeded(); n++) {
      await a.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: `question ${n}` }], schema })
    }
    assert.ok(a.stats().shared!.totals.costUsd >= 0.5)
    // b reads the pipeline's spend from the database at most every 200 ms: once it has seen a's,
    // its next request must wait (before, a request could slip through on a stale read).
    await until('b to see the pipeline\'s spend', () => b.budget.exceeded() !== undefined)
    const ac = new AbortController()
    const held = b.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'one more' }], schema, signal: ac.signal })
    await until('b to pause on the shared budget', () => b.stats().budgetPaused)
    ac.abort()
    await assert.rejects(held)
    assert.equal(b.stats().shared?.own.costUsd, 0, 'b paid nothing')

    await a.close()
    closedA = true
    await until('b to get the whole limit back', () => b.stats().endpoints[0]?.requestsPerMinute === 6000)
  } finally {
    if (!closedA) await a.close()
    await b.close()
    await sim.close()
  }
})

test('a request waiting at the rate limit when the pipeline\'s budget runs out is not sent', async () => {
  const sim = await startLlmSim()
  // The pipeline's spend as another worker would report it.
  const totals = { costUsd: 0, tokens: 0 }
  const shared: SharedLimits = {
    start: async () => {}, share: () => 1, onChange: () => () => {}, spent: (usd, tokens) => { totals.costUsd += usd; totals.tokens += tokens },
    get totals () { return { ...totals } },
    stats: () => ({ kind: 'fake', member: 'me', members: 1, endpoints: {}, totals, own: totals }),
    close: async () => {},
  }
  const settings = resolveLlmSettings({
    stages: ['concepts'], env: {},
    file: { defaults: { model: 'sim-chat-8b', retries: 0 }, budget: { usd: 1 }, cache: { enabled: false } },
    // 60 requests/min: one at once, then about one a second.
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 4, initialConcurrency: 4, adaptiveConcurrency: false, requestsPerMinute: 60 },
  })
  const llm = new LlmClient({ settings, logger: silent, shared })
  const schema = { type: 'object', additionalProperties: false, required: ['answer'], properties: { answer: { type: 'string' } } }
  const ac = new AbortController()
  try {
    const calls = [1, 2, 3].map((i) => llm.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: `question ${i}` }], schema, signal: ac.signal }))
    await calls[0]
    assert.equal(sim.stats().requests.byPath['/v1/chat/completions'], 1, 'one sent, two wait for the rate limit')
    totals.costUsd = 1 // another worker spent the rest of the budget
    for (const t0 = Date.now(); llm.budget.waiting < 2; await new Promise((r) => setTimeout(r, 20))) if (Date.now() - t0 > 20_000) assert.fail('the waiting requests did not turn to the budget')
    assert.equal(sim.stats().requests.byPath['/v1/chat/completions'], 1, 'the two that waited were not sent')
    assert.ok(llm.stats().budgetPaused)
    ac.abort()
    await Promise.allSettled(calls)
  } finally {
    await llm.close()
    await sim.close()
  }
})
