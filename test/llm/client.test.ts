/**
 * The LLM client against the simulator over real HTTP: structured outputs, every fault kind,
 * retries with Retry-After, repairs, the cache, the budget, preflight errors and secrets.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { Secret } from '../../src/config/secret.ts'
import { ConfigError } from '../../src/errors.ts'
import { LlmClient, type JsonRequest } from '../../src/llm/client.ts'
import { resolveLlmSettings, type EndpointSettings, type RawLlmConfig } from '../../src/llm/config.ts'
import { LlmOutputError, LlmRejectedError, LlmUnavailableError } from '../../src/llm/errors.ts'
import type { FaultKind } from '../../src/llm/sim/faults.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger, type Logger } from '../../src/log.ts'
import { testTmpDir } from '../helpers/env.ts'

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['intention', 'keywords'],
  properties: {
    intention: { type: 'string', minLength: 1 },
    keywords: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 5 },
  },
}
interface Concepts { intention: string, keywords: string[] }

let sim: LlmSim

before(async () => { sim = await startLlmSim({ faults: { retryAfterSeconds: 0.2, timeoutHangMs: 5_000 } }) })
after(async () => { await sim.close() })

function capture (): { logger: Logger, text: () => string } {
  const chunks: string[] = []
  const sink = new Writable({ write (c, _e, cb) { chunks.push(String(c)); cb() } })
  return { logger: createLogger({ level: 'debug' }, sink), text: () => chunks.join('') }
}

function endpoint (over: Partial<EndpointSettings> = {}): EndpointSettings {
  return { name: 'sim', baseUrl: sim.url, apiKeySource: 'test', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 32, initialConcurrency: 8, adaptiveConcurrency: true, ...over }
}

function client (opts: { endpoint?: Partial<EndpointSettings>, file?: RawLlmConfig, dbPath?: string, logger?: Logger, onFatal?: (e: LlmRejectedError) => void } = {}): LlmClient {
  const settings = resolveLlmSettings({ stages: ['concepts'], env: {}, file: { defaults: { model: 'sim-chat-8b', retries: 4, repairAttempts: 2, timeoutMs: 2_000 }, ...opts.file }, fallbackEndpoint: endpoint(opts.endpoint) })
  return new LlmClient({ settings, logger: opts.logger ?? createLogger({ level: 'silent' }), breaker: { failureThreshold: 50, cooldownMs: 200 }, ...(opts.dbPath ? { dbPath: opts.dbPath } : {}), ...(opts.onFatal ? { onFatal: opts.onFatal } : {}) })
}

let n = 0
function request (text = `Document ${++n}: how do I price handmade candles for an Etsy shop in winter?`): JsonRequest<Concepts> {
  return {
    prompt: { id: 'concepts', version: '1' },
    messages: [{ role: 'system', content: 'Extract the intention and at most 5 keywords.' }, { role: 'user', content: text }],
    schema: SCHEMA,
  }
}

const chatRequests = (): number => sim.stats().requests.byPath['/v1/chat/completions'] ?? 0

test('structured output: schema-valid JSON, labelled simulated, tokens counted', async () => {
  const llm = client()
  try {
    const r = await llm.stage('concepts').json(request())
    assert.ok(r.value.intention.length > 0)
    assert.ok(r.value.keywords.length >= 1 && r.value.keywords.length <= 5)
    assert.equal(r.simulated, true)
    assert.equal(r.cached, false)
    assert.equal(r.requests, 1)
    assert.ok(r.promptTokens > 0 && r.completionTokens > 0)
    const [row] = llm.usage()
    assert.equal(row?.requests, 1)
    assert.equal(row?.promptTokens, r.promptTokens)
  } finally {
    await llm.close()
  }
})

test('the schema travels in the prompt for endpoints without structured outputs', async () => {
  for (const mode of ['json_object', 'prompt'] as const) {
    const llm = client({ endpoint: { structuredOutputs: mode } })
    try {
      const r = await llm.stage('concepts').json(request())
      assert.ok(Array.isArray(r.value.keywords), mode)
    } finally {
      await llm.close()
    }
  }
})

test('every transient fault ends in a success after a retry', async () => {
  for (const kind of ['rate_limit', 'server_error', 'reset', 'timeout'] as FaultKind[]) {
    const llm = client({ file: { defaults: { model: 'sim-chat-8b', retries: 4, timeoutMs: 300 } } })
    try {
      sim.queueFaults([kind])
      const t0 = Date.now()
      const r = await llm.stage('concepts').json(request())
      assert.equal(r.requests, 2, `${kind}: one failure, one success`)
      assert.ok(r.value.keywords.length > 0)
      const st = llm.stats().stages.concepts!
      assert.equal(st.retries, 1, kind)
      if (kind === 'rate_limit') assert.ok(Date.now() - t0 >= 200, `Retry-After of 0.2 s honoured (waited ${Date.now() - t0} ms)`)
    } finally {
      await llm.close()
    }
  }
})

test('unusable answers get a repair message and then succeed', async () => {
  for (const kind of ['malformed_json', 'truncated_json', 'empty'] as FaultKind[]) {
    const llm = client()
    try {
      sim.queueFaults([kind])
      const r = await llm.stage('concepts').json(request())
      assert.equal(r.repairs, 1, kind)
      assert.equal(r.requests, 2, kind)
      assert.ok(r.value.keywords.length > 0)
      // A call that came right after its repair still had an unusable first answer.
      await llm.stage('concepts').json(request())
      const st = llm.stats().stages.concepts!
      assert.deepEqual([st.firstAnswers, st.validFirstTry], [2, 1], kind)
    } finally {
      await llm.close()
    }
  }
})

test('answers that stay unusable end in LlmOutputError with the raw answer; outages in LlmUnavailableError', async () => {
  const llm = client()
  try {
    sim.queueFaults(['malformed_json', 'malformed_json', 'malformed_json'])
    await assert.rejects(llm.stage('concepts').json(request()), (e: unknown) => {
      assert.ok(e instanceof LlmOutputError)
      assert.equal(e.attempts, 3)
      assert.ok(e.raw.length > 0, 'raw answer kept')
      assert.equal(e.retriable, false)
      assert.match(e.message, /stage concepts/)
      return true
    })
    sim.queueFaults(['server_error', 'server_error', 'server_error', 'server_error', 'server_error'])
    const before = chatRequests()
    await assert.rejects(llm.stage('concepts').json(request()), (e: unknown) => {
      assert.ok(e instanceof LlmUnavailableError)
      assert.equal(e.retriable, false, 'exhausted: the runtime dead-letters instead of retrying again')
      assert.match(e.message, /failed 5 time\(s\).*HTTP 500/)
      return true
    })
    assert.equal(chatRequests() - before, 5, '1 try + 4 retries')
  } finally {
    await llm.close()
  }
})

test('retry pacing: an isolated failure among healthy answers is retried after the first delay; broad failures back off exponentially', async () => {
  const cap = capture()
  const llm = client({ logger: cap.logger })
  const backoffs = (): string[] => cap.text().split('\n').filter((l) => l.includes('LLM request failed; retrying')).map((l) => (JSON.parse(l) as { backoff: string }).backoff)
  try {
    for (let i = 0; i < 20; i++) await llm.stage('concepts').json(request())
    sim.queueFaults(['server_error', 'server_error', 'server_error'])
    const r = await llm.stage('concepts').json(request())
    assert.equal(r.requests, 4)
    assert.deepEqual(backoffs(), ['isolated failure', 'isolated failure', 'isolated failure'], '3 failures after 20 answers: under a quarter of the window')
    // The endpoint now fails every call: once a quarter of the recent answers failed, back off.
    sim.queueFaults(Array<FaultKind>(15).fill('server_error'))
    for (let i = 0; i < 3; i++) await assert.rejects(llm.stage('concepts').json(request()), LlmUnavailableError)
    const later = backoffs().slice(3)
    assert.equal(later.length, 12, '4 retries for each of 3 calls')
    assert.equal(later.at(-1), 'exponential')
    assert.ok(later.indexOf('exponential') > 0 && later.slice(later.indexOf('exponential')).every((b) => b === 'exponential'), later.join(', '))
  } finally {
    await llm.close()
  }
})

test('cache: a repeated call makes no HTTP request, also after a restart; a new prompt version misses', async () => {
  const dbPath = join(testTmpDir('llm-cache'), 'llm.db')
  const req = request('A fixed document about sourdough hydration ratios.')
  let llm = client({ dbPath })
  const first = await llm.stage('concepts').json(req)
  const calls = chatRequests()
  const second = await llm.stage('concepts').json(req)
  assert.equal(chatRequests(), calls, 'no HTTP call for a hit')
  assert.equal(second.cached, true)
  assert.deepEqual(second.value, first.value)
  await llm.close()
  llm = client({ dbPath })
  try {
    const third = await llm.stage('concepts').json(req)
    assert.equal(third.cached, true)
    assert.equal(chatRequests(), calls, 'no HTTP call after a restart')
    await llm.stage('concepts').json({ ...req, prompt: { id: 'concepts', version: '2' } })
    assert.equal(chatRequests(), calls + 1, 'a new prompt version is a miss')
    assert.deepEqual(llm.stats().cache, { hits: 1, misses: 1 })
    const [row] = llm.usage()
    assert.equal(row?.cacheHits, 2)
  } finally {
    await llm.close()
  }
})

test('budget: calls past it are held with no HTTP request, and go on when it is raised', async () => {
  const llm = client({ file: { defaults: { model: 'sim-chat-8b' }, budget: { tokens: 1 } } })
  try {
    await llm.stage('concepts').json(request()) // under budget at start: one call goes through
    const calls = chatRequests()
    let done = false
    const held = llm.stage('concepts').json(request()).then(() => { done = true })
    await new Promise((resolve) => setTimeout(resolve, 150))
    assert.equal(done, false, 'held')
    assert.equal(chatRequests(), calls, 'no request past the budget')
    assert.equal(llm.stats().budgetPaused, true)
    llm.budget.raise({ tokens: 1e9 })
    await held
    assert.equal(chatRequests(), calls + 1)
  } finally {
    await llm.close()
  }
})

test('requests/min budget holds: the measured rate never exceeds it', async () => {
  const llm = client({ endpoint: { requestsPerMinute: 600 }, file: { defaults: { model: 'sim-chat-8b' }, cache: { enabled: false } } })
  const times: number[] = []
  sim.setFaults({ retryAfterSeconds: 0.2, timeoutHangMs: 5_000, script: () => { times.push(Date.now()); return null } })
  try {
    const t0 = Date.now()
    await Promise.all(Array.from({ length: 40 }, () => llm.stage('concepts').json(request())))
    const elapsed = (Date.now() - t0) / 1000
    // 600/min: a burst of 10 (one second's worth), then (600 − 10)/60 per second, so no 60 s
    // window ever holds more than 600. The bucket may only grant the (k+1)-th request k − 9
    // refills after the start, and a request reaches the simulator after its grant: a lower
    // bound on arrival times, which a slow or loaded machine can only make later (no upper
    // bound on real time is asserted).
    times.sort((a, b) => a - b)
    times.forEach((t, k) => {
      const earliest = t0 + Math.max(0, (k + 1 - 10) / (590 / 60)) * 1000
      assert.ok(t >= earliest - 20, `request ${k + 1} arrived ${earliest - t} ms before the bucket could grant it`)
    })
    assert.equal(times.length, 40)
    assert.ok(elapsed >= (40 - 10) / 9.84 - 0.1, `40 requests at ≤ 600/min take ≥ 3 s, took ${elapsed} s`)
  } finally {
    sim.setFaults({ retryAfterSeconds: 0.2, timeoutHangMs: 5_000 })
    await llm.close()
  }
})

test('circuit breaker: a failing endpoint holds callers and says so; they finish when it recovers', async () => {
  const log = capture()
  const settings = resolveLlmSettings({ stages: ['concepts'], env: {}, file: { defaults: { model: 'sim-chat-8b', retries: 20 } }, fallbackEndpoint: endpoint() })
  const llm = new LlmClient({ settings, logger: log.logger, breaker: { failureThreshold: 3, cooldownMs: 100 } })
  sim.setFaults({ rates: { server_error: 1 } })
  try {
    const pending = llm.stage('concepts').json(request())
    for (const t0 = Date.now(); !/circuit open, consumption paused/.test(log.text());) {
      assert.ok(Date.now() - t0 < 30_000, 'the circuit opens and says so')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const sent = chatRequests()
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.ok(chatRequests() - sent <= 3, 'while open, only single probes reach the endpoint')
    sim.setFaults({})
    const r = await pending
    assert.ok(r.value.keywords.length > 0)
    assert.match(log.text(), /circuit closed, consumption resumed/)
  } finally {
    sim.setFaults({ retryAfterSeconds: 0.2, timeoutHangMs: 5_000 })
    await llm.close()
  }
})

test('preflight names the stage and the setting: unreachable endpoint, unknown model', async () => {
  const settings = resolveLlmSettings({ stages: ['concepts'], env: { SYNTHQ_LLM_BASE_URL: 'http://127.0.0.1:9/v1', SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'm' } })
  const down = new LlmClient({ settings, logger: createLogger({ level: 'silent' }) })
  await assert.rejects(down.preflight({ timeoutMs: 2_000 }), (e: unknown) => e instanceof ConfigError && /stage concepts/.test(e.message) && /SYNTHQ_LLM_BASE_URL/.test(e.message) && /not reachable/.test(e.message))
  await down.close()
  const wrongModel = client({ file: { defaults: { model: 'sim-chat-9000' } } })
  await assert.rejects(wrongModel.preflight(), (e: unknown) => e instanceof ConfigError && /model "sim-chat-9000" is not served/.test(e.message) && /sim-chat-8b/.test(e.message))
  await wrongModel.close()
  const ok = client()
  await ok.preflight()
  await ok.close()
})

test('a rejected key is a loud configuration error; the key appears in no error and no log line', async () => {
  const guarded = await startLlmSim({ apiKey: 'sk-right-key-000' })
  const wrongKey = 'sk-wrong-key-1234567890'
  const log = capture()
  const settings = resolveLlmSettings({
    stages: ['concepts'],
    env: { SYNTHQ_LLM_BASE_URL: guarded.url, SYNTHQ_LLM_API_KEY: wrongKey, SYNTHQ_LLM_MODEL: 'sim-chat-8b' },
  })
  const fatal: LlmRejectedError[] = []
  const llm = new LlmClient({ settings, logger: log.logger, onFatal: (e) => fatal.push(e) })
  try {
    await assert.rejects(llm.preflight(), (e: unknown) => e instanceof ConfigError && /rejected the API key from SYNTHQ_LLM_API_KEY/.test(e.message) && !e.message.includes(wrongKey))
    const before = guarded.stats().requests.total
    await assert.rejects(llm.stage('concepts').json(request()), (e: unknown) => {
      assert.ok(e instanceof LlmRejectedError && e.endpointMisconfigured)
      assert.ok(!e.message.includes(wrongKey))
      assert.ok(!JSON.stringify(e).includes(wrongKey))
      return true
    })
    assert.equal(guarded.stats().requests.total - before, 1, 'a 401 is not retried')
    assert.equal(fatal.length, 1, 'the runner is told to stop')
    await assert.rejects(llm.stage('concepts').json(request()), LlmRejectedError)
    assert.equal(guarded.stats().requests.total - before, 1, 'later calls fail fast without a request')
    assert.ok(log.text().includes('rejected the API key'))
    assert.ok(!log.text().includes(wrongKey), 'no key in the logs')
    assert.ok(!String(new Secret(wrongKey)).includes(wrongKey))
  } finally {
    await llm.close()
    await guarded.close()
  }
})

test('limits an endpoint reports in x-ratelimit-* headers are adopted and held to', async () => {
  const hosted = await startLlmSim({ profile: { base: 'instant', rateLimits: { requestsPerMinute: 3, tokensPerMinute: 1_000_000 } } })
  const settings = resolveLlmSettings({ stages: ['concepts'], env: {}, file: { defaults: { model: 'sim-chat-8b' } }, fallbackEndpoint: endpoint({ baseUrl: hosted.url }) })
  const llm = new LlmClient({ settings, logger: createLogger({ level: 'silent' }) })
  try {
    assert.equal(llm.stats().endpoints[0]?.requestsPerMinute, undefined, 'nothing configured')
    await llm.stage('concepts').json(request())
    assert.equal(llm.stats().endpoints[0]?.requestsPerMinute, 3, 'learnt from the response headers')
    // The endpoint allows 3/min. Three more calls: a client that ignored the headers would send
    // them all at once and get a 429 for the last; ours paces at the learnt rate and holds it.
    const more = await Promise.allSettled([1, 2, 3].map(() => llm.stage('concepts').json({ ...request(), signal: AbortSignal.timeout(700) })))
    assert.ok(more.some((r) => r.status === 'rejected'), 'at least one call held past 0.7 s')
    assert.ok((hosted.stats().requests.byPath['/v1/chat/completions'] ?? 0) <= 3, 'never more than the budget sent')
    assert.equal(hosted.stats().rateLimited, 0, 'no 429 provoked')
  } finally {
    await llm.close()
    await hosted.close()
  }
})
