import assert from 'node:assert/strict'
import { test } from 'node:test'
import OpenAI, { APIConnectionTimeoutError, RateLimitError } from 'openai'
import { formatDuration } from '../../../src/llm/sim/http.ts'
import { flatLoad, latencyAt, PROFILES, resolveProfile } from '../../../src/llm/sim/profiles.ts'
import { startLlmSim } from '../../../src/llm/sim/server.ts'
import { demoDocs } from './helpers.ts'

const docs = demoDocs()
const chat = (content: string, system?: string): OpenAI.ChatCompletionCreateParamsNonStreaming => ({
  model: 'sim-chat-8b',
  messages: [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user' as const, content }],
})

test('at most maxConcurrent requests are in service; the rest wait in a FIFO queue', async () => {
  // 3 s per request at time scale 0.1 = 300 ms: long beside the few milliseconds the eight
  // requests take to arrive, even on a loaded machine, so they all meet in the queue.
  const sim = await startLlmSim({ profile: { maxConcurrent: 2, load: flatLoad(3000) }, timeScale: 0.1 })
  const client = new OpenAI({ baseURL: sim.url, apiKey: 'k', maxRetries: 0 })
  try {
    const t0 = performance.now()
    const finished: number[] = []
    await Promise.all(docs.slice(0, 8).map(async (d, i) => {
      await client.chat.completions.create(chat(d))
      finished.push(i)
    }))
    const wall = performance.now() - t0
    const s = sim.stats()
    assert.equal(s.concurrency.limit, 2)
    assert.equal(s.concurrency.maxInService, 2)
    assert.ok(s.concurrency.maxQueued >= 4, `max queued ${s.concurrency.maxQueued}`)
    assert.equal(s.concurrency.inService, 0)
    assert.ok(s.queueWaitMs.max >= 50, `longest queue wait ${s.queueWaitMs.max} ms`)
    assert.ok(wall >= 4 * 300 - 5, `8 requests × 300 ms over 2 slots took only ${wall} ms`)
    assert.equal(finished.length, 8)

    // A client that gives up while queued leaves the queue and frees nothing it did not hold.
    sim.resetStats()
    sim.setTimeScale(0.1) // 300 ms per request
    const slow = Promise.all([0, 1].map((i) => client.chat.completions.create(chat(docs[i]!))))
    await new Promise((resolve) => setTimeout(resolve, 20))
    await assert.rejects(client.chat.completions.create(chat(docs[2]!), { timeout: 100 }), APIConnectionTimeoutError)
    await slow
    await new Promise((resolve) => setTimeout(resolve, 20))
    const after = sim.stats()
    assert.equal(after.clientAborts, 1)
    assert.equal(after.concurrency.queued, 0)
    assert.equal(after.concurrency.inService, 0)
    assert.equal(after.concurrency.maxInService, 2)

    // Raising the limit at run time lets more in at once.
    sim.setProfile({ maxConcurrent: 8, load: flatLoad(3000) })
    sim.resetStats()
    await Promise.all(docs.slice(0, 8).map((d) => client.chat.completions.create(chat(d))))
    assert.ok(sim.stats().concurrency.maxInService > 2)
  } finally {
    await sim.close()
  }
})

test('the prefix cache reports cached tokens for a repeated prefix and skips its prefill', async () => {
  // 1 ms per uncached prompt token, at time scale 0.1.
  const sim = await startLlmSim({ profile: { load: [{ concurrency: 1, ttftMs: 0, prefillMsPerToken: 1, interTokenMs: 0 }] }, timeScale: 0.1 })
  const client = new OpenAI({ baseURL: sim.url, apiKey: 'k', maxRetries: 0 })
  try {
    const system = docs.slice(10, 14).join('\n') // a long shared prefix, like instructions + demonstrations
    const timed = async (p: OpenAI.ChatCompletionCreateParamsNonStreaming): Promise<[OpenAI.ChatCompletion, number]> => {
      const t0 = performance.now()
      const r = await client.chat.completions.create(p)
      return [r, performance.now() - t0]
    }
    const [first, firstMs] = await timed(chat(docs[0]!, system))
    assert.equal(first.usage!.prompt_tokens_details!.cached_tokens, 0)
    const [second, secondMs] = await timed(chat(docs[1]!, system))
    const cached = second.usage!.prompt_tokens_details!.cached_tokens!
    const systemTokens = Math.ceil(system.length / 4)
    assert.ok(cached >= systemTokens - 64 && cached <= systemTokens + 64, `cached ${cached} of a ${systemTokens}-token shared prefix`)
    assert.equal(cached % 64, 0)
    assert.ok(firstMs >= first.usage!.prompt_tokens * 0.1 * 0.9, `first request took ${firstMs} ms`)
    assert.ok(secondMs < firstMs * 0.6, `second request (${secondMs} ms) was not faster than the first (${firstMs} ms)`)
    const [again] = await timed(chat(docs[1]!, system))
    assert.ok(again.usage!.prompt_tokens_details!.cached_tokens! > cached)
    assert.equal(sim.stats().tokens.cachedPrompt, cached + again.usage!.prompt_tokens_details!.cached_tokens!)
  } finally {
    await sim.close()
  }
})

test('hosted profile: x-ratelimit-* headers on every answer, 429 with Retry-After once the budget is spent', async () => {
  const sim = await startLlmSim({ profile: { base: 'hosted', load: flatLoad(0), rateLimits: { requestsPerMinute: 3, tokensPerMinute: 1_000_000 } } })
  const client = new OpenAI({ baseURL: sim.url, apiKey: 'k', maxRetries: 0 })
  try {
    const remaining: string[] = []
    for (let i = 0; i < 3; i++) {
      const { response } = await client.chat.completions.create(chat(docs[i]!)).withResponse()
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '3')
      assert.equal(response.headers.get('x-ratelimit-limit-tokens'), '1000000')
      assert.match(response.headers.get('x-ratelimit-reset-requests')!, /^(\d+ms|[\d.]+s)$/)
      assert.match(response.headers.get('x-ratelimit-reset-tokens')!, /^(\d+ms|[\d.]+s)$/)
      assert.ok(Number(response.headers.get('x-ratelimit-remaining-tokens')) < 1_000_000)
      remaining.push(response.headers.get('x-ratelimit-remaining-requests')!)
    }
    assert.deepEqual(remaining, ['2', '1', '0'])
    await assert.rejects(client.chat.completions.create(chat(docs[3]!)), (e: unknown) => {
      assert.ok(e instanceof RateLimitError)
      assert.equal(e.type, 'requests')
      assert.equal(e.code, 'rate_limit_exceeded')
      const ms = Number(e.headers?.get('retry-after-ms'))
      assert.ok(ms > 19_000 && ms <= 20_000, `retry-after-ms ${ms}`) // one request refills every 60 s / 3
      assert.equal(e.headers?.get('retry-after'), String(Math.ceil(ms / 1000)))
      assert.equal(e.headers?.get('x-ratelimit-remaining-requests'), '0')
      return true
    })
    assert.equal(sim.stats().rateLimited, 1)

    // Tokens per minute, and a scaled window: 60 s × 0.002 = 120 ms.
    sim.setTimeScale(0.002)
    sim.setProfile({ base: 'hosted', load: flatLoad(0), rateLimits: { requestsPerMinute: 1000, tokensPerMinute: 1500 } })
    const long = (i: number): string => docs.slice(i, i + 4).join('\n').slice(0, 4000) // ~1,000 prompt tokens
    await client.chat.completions.create(chat(long(0)))
    await assert.rejects(client.chat.completions.create(chat(long(4))), (e: unknown) => {
      assert.ok(e instanceof RateLimitError)
      assert.equal(e.type, 'tokens')
      const ms = Number(e.headers?.get('retry-after-ms'))
      assert.ok(ms > 0 && ms <= 120, `retry-after-ms ${ms}`)
      return true
    })
    await new Promise((resolve) => setTimeout(resolve, 130))
    await client.chat.completions.create(chat(long(4)))
  } finally {
    await sim.close()
  }
})

test('profiles reproduce the published figures they were calibrated on', () => {
  const h = PROFILES['h100-8b']
  for (const [c, ttft, itl] of [[1, 10, 4.6], [100, 120, 7.6], [200, 465, 12.7], [250, 606, 16.1]] as const) {
    const l = latencyAt(h, c)
    assert.equal(l.ttftMs, ttft)
    assert.equal(l.interTokenMs, itl)
  }
  const mid = latencyAt(h, 150)
  assert.ok(mid.ttftMs > 120 && mid.ttftMs < 465 && mid.interTokenMs > 7.6 && mid.interTokenMs < 12.7)
  // 70B on 2 × H100 at 50 in flight, 5000 prompt / 500 output tokens: NIM measured 814 output tok/s, TTFT 835 ms.
  const l70 = latencyAt(PROFILES['h100x2-70b'], 50)
  const ttft = l70.ttftMs + 5000 * l70.prefillMsPerToken
  assert.ok(Math.abs(ttft - 835) < 10)
  const tokPerS = 50 * 500 / ((ttft + 500 * l70.interTokenMs) / 1000)
  assert.ok(Math.abs(tokPerS - 814) / 814 < 0.02, `${tokPerS} tok/s`)
  assert.equal(Math.round(latencyAt(PROFILES['h100x2-70b'], 1).ttftMs + 5000 * latencyAt(PROFILES['h100x2-70b'], 1).prefillMsPerToken), 407)
  // llama.cpp on 2 threads: 25 prompt tok/s, 11 output tok/s for one slot.
  const cpu = latencyAt(PROFILES['cpu-3b'], 1)
  assert.equal(Math.round(1000 / cpu.prefillMsPerToken), 25)
  assert.equal(Math.round(1000 / cpu.interTokenMs), 11)
  assert.equal(PROFILES['cpu-3b'].maxConcurrent, 2)
  assert.deepEqual(PROFILES.hosted.rateLimits, { requestsPerMinute: 500, tokensPerMinute: 200_000 })
  assert.equal(resolveProfile({ base: 'h100-8b', maxConcurrent: 4 }).name, 'h100-8b*')
  assert.throws(() => resolveProfile({ maxConcurrent: 0 }), /maxConcurrent/)
  assert.throws(() => resolveProfile('a100' as 'instant'), /unknown/)
  assert.deepEqual(['120ms', '1s', '1.5s', '6m0s', '1h2m3.4s'], [120, 1000, 1500, 360_000, 3_723_400].map(formatDuration))
})
