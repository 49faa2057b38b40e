/**
 * `synthq:llm:request`: one message per LLM call — answered, served from the cache, or failed
 * for good — from the real client against the simulator over HTTP.
 */
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { after, before, test } from 'node:test'
import type { LlmRequestMessage } from '../../src/diagnostics/channels.ts'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'

let sim: LlmSim
before(async () => { sim = await startLlmSim({}) })
after(async () => { await sim.close() })

const SCHEMA = { type: 'object', additionalProperties: false, required: ['intention'], properties: { intention: { type: 'string', minLength: 1 } } }

test('answered, cached and failed calls each publish one message, without the URL or key', async () => {
  const seen: LlmRequestMessage[] = []
  const listener = (m: unknown): void => { seen.push(m as LlmRequestMessage) }
  subscribe('synthq:llm:request', listener)
  const settings = resolveLlmSettings({
    stages: ['concepts'],
    env: {},
    file: { defaults: { model: 'sim-chat-8b', retries: 2 } },
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'test', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 8, initialConcurrency: 8, adaptiveConcurrency: false },
  })
  const llm = new LlmClient({ settings, logger: createLogger({ level: 'silent' }) })
  try {
    const req = { prompt: { id: 'concepts', version: '1' }, messages: [{ role: 'user' as const, content: 'How do I price handmade candles?' }], schema: SCHEMA }
    await llm.stage('concepts').json(req)
    await llm.stage('concepts').json(req)
    sim.queueFaults(['server_error', 'server_error', 'server_error'])
    await assert.rejects(llm.stage('concepts').json({ ...req, messages: [{ role: 'user', content: 'Another question' }] }))
  } finally {
    unsubscribe('synthq:llm:request', listener)
    await llm.close()
  }
  assert.deepEqual(seen.map((m) => [m.stage, m.kind, m.status, m.attempts]), [['concepts', 'chat', 'ok', 1], ['concepts', 'chat', 'cached', 0], ['concepts', 'chat', 'failed', 3]])
  assert.equal(seen[2]!.error, 'LlmUnavailableError')
  assert.ok(seen[0]!.promptTokens > 0 && seen[0]!.completionTokens > 0 && seen[0]!.simulated)
  assert.ok(!JSON.stringify(seen).includes(sim.url.replace(/\/v1$/, '')), 'no URL in any message')
})
