/**
 * Embeddings through the LLM client (for the sink's topic assignment): batched, cached per
 * text, retried and accounted like chat calls, against the simulator over HTTP.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { EMBEDDINGS_PATH } from '../../src/llm/sim/faults.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'
import { testTmpDir } from '../helpers/env.ts'

let sim: LlmSim
before(async () => { sim = await startLlmSim({ faults: { retryAfterSeconds: 0.05 } }) })
after(async () => { await sim.close() })

function client (dbPath?: string): LlmClient {
  const settings = resolveLlmSettings({
    stages: ['sink'], env: {}, file: { defaults: { model: 'sim-embed-small' } },
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 8, initialConcurrency: 4, adaptiveConcurrency: true },
  })
  return new LlmClient({ settings, logger: createLogger({ level: 'silent' }), ...(dbPath ? { dbPath } : {}) })
}

const embeddingRequests = (): number => sim.stats().requests.byPath[EMBEDDINGS_PATH] ?? 0
const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0) / Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0))

test('vectors in input order, similar texts closer, batched by 256, labelled simulated', async () => {
  const llm = client()
  try {
    const texts = ['How do tides work in the Bay of Fundy?', 'Why are the tides in the Bay of Fundy so high?', 'A vegan lasagna recipe without tofu', ...Array.from({ length: 300 }, (_, i) => `filler text number ${i} about topic ${i % 7}`)]
    const before = embeddingRequests()
    const r = await llm.stage('sink').embed({ texts })
    assert.equal(r.vectors.length, texts.length)
    assert.equal(r.requests, 2, '303 texts in batches of 256')
    assert.equal(embeddingRequests() - before, 2)
    assert.equal(r.simulated, true)
    assert.ok(cosine(r.vectors[0]!, r.vectors[1]!) > cosine(r.vectors[0]!, r.vectors[2]!) + 0.1)
    assert.equal(llm.usage()[0]?.requests, 2)
    assert.equal(llm.usage()[0]?.calls, texts.length, 'the ledger counts one call per text')
    assert.equal(llm.usage()[0]?.cacheMisses, texts.length)
  } finally {
    await llm.close()
  }
})

test('cached per text, also after a restart; transient failures retried', async () => {
  const dbPath = join(testTmpDir('llm-embed'), 'llm.db')
  let llm = client(dbPath)
  const first = await llm.stage('sink').embed({ texts: ['alpha beta gamma', 'delta epsilon'] })
  await llm.close()
  llm = client(dbPath)
  try {
    const n = embeddingRequests()
    const again = await llm.stage('sink').embed({ texts: ['delta epsilon', 'alpha beta gamma', 'zeta eta'] })
    assert.equal(again.cached, 2)
    assert.equal(embeddingRequests() - n, 1, 'only the new text is requested')
    assert.deepEqual([...again.vectors[1]!], [...first.vectors[0]!])
    sim.queueFaults(['rate_limit', 'server_error'], EMBEDDINGS_PATH)
    const retried = await llm.stage('sink').embed({ texts: ['theta iota'] })
    assert.equal(retried.requests, 3)
    assert.equal(retried.vectors.length, 1)
    // Over both processes: 2 texts, then 3 (2 from the cache), then 1.
    const row = llm.usage().find((u) => u.stage === 'sink')
    assert.deepEqual([row?.calls, row?.cacheHits, row?.cacheMisses], [6, 2, 4])
  } finally {
    await llm.close()
  }
})
