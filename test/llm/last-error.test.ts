/**
 * A failing endpoint never fails silently: its own words (keys scrubbed) reach the circuit
 * breaker's log line, the process's metrics (`synthq_llm_last_error_timestamp_seconds{error}`) and
 * from there `synthq status`'s and the dashboard's health check.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { LlmUnavailableError } from '../../src/llm/errors.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'
import { parseExposition } from '../../src/metrics/exposition.ts'
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.ts'
import { healthOf } from '../../src/ops/status.ts'
import type { StatusSnapshot } from '../../src/ops/status-model.ts'
import { startSimProxy, type SimProxy } from '../helpers/sim-proxy.ts'

const KEY = 'sk-test-4f9a2c7e1b'
let sim: LlmSim
let broken: SimProxy

before(async () => {
  sim = await startLlmSim()
  broken = await startSimProxy(sim, {
    handle: ({ url, body }) => url.endsWith('/chat/completions')
      ? { answer: { status: 500, json: { error: { message: `CUDA out of memory: tried to allocate 2.00 GiB (request from key ${KEY})`, type: 'server_error' } } } }
      : { forward: body },
  })
})
after(async () => {
  await broken.close()
  await sim.close()
})

test('the server\'s last error text, keys scrubbed, in the breaker\'s log line, the metrics and the status health check', async () => {
  const lines: string[] = []
  const settings = resolveLlmSettings({ stages: ['concepts'], env: { SYNTHQ_LLM_BASE_URL: broken.url, SYNTHQ_LLM_API_KEY: KEY, SYNTHQ_LLM_MODEL: 'sim-chat-8b', SYNTHQ_LLM_RETRIES: '2', SYNTHQ_LLM_STRUCTURED_OUTPUTS: 'json_schema' } })
  const client = new LlmClient({ settings, logger: createLogger({ level: 'warn' }, new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } })), breaker: { failureThreshold: 2, cooldownMs: 60_000 } })
  const metrics = new PipelineMetrics({ processMetrics: false })
  metrics.addLlm(client)
  try {
    await assert.rejects(client.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Kelp forests' }], schema: { type: 'object' }, signal: AbortSignal.timeout(5_000) }), (e: unknown) => e instanceof LlmUnavailableError || (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError')
    const open = lines.find((l) => l.includes('keeps failing'))
    assert.ok(open, `the breaker opened and said so:\n${lines.join('')}`)
    assert.match(open, /last: HTTP 500: .*CUDA out of memory: tried to allocate 2\.00 GiB/)
    const samples = parseExposition(await metrics.text())
    const last = samples.find((s) => s.name === 'synthq_llm_last_error_timestamp_seconds')
    assert.ok(last, 'the last error is exported')
    assert.match(last.labels.error ?? '', /CUDA out of memory/)
    assert.ok(Math.abs(last.value - Date.now() / 1000) < 60, 'stamped with when it happened')
    const snapshot = { processes: [], stages: [], runner: 'embedded' } as unknown as StatusSnapshot
    const health = healthOf(snapshot, null, [samples])
    const check = health.checks.find((c) => c.name === 'llm_circuit_open')
    assert.ok(check && !check.ok, 'status reports the open circuit')
    assert.match(check.message, /last error: HTTP 500: .*CUDA out of memory/)
    for (const text of [...lines, await metrics.text(), check.message]) assert.ok(!text.includes(KEY), 'the key never appears')
  } finally {
    await client.close()
  }
})
