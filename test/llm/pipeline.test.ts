/**
 * An LLM stage inside a running pipeline (embedded runner, simulator over HTTP): answers become
 * records labelled simulated with their model in the lineage; transient faults are absorbed;
 * answers that stay unusable reach the dead-letter topic with the reason and the raw answer.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import type { Lineage } from '../../src/processors/lineage.ts'
import { emit, type Processor } from '../../src/processors/processor.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { doc } from '../helpers/test-topology.ts'

interface Doc { id: string, text: string, url: string | null, title: string | null, corpus: string }
interface Situation { thought: string, scene: string, query_compositions: { ability: string, knowledge: string, extra_information: string, output: string } }

const SITUATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['thought', 'scene', 'query_compositions'],
  properties: {
    thought: { type: 'string', minLength: 1 },
    scene: { type: 'string', minLength: 1 },
    query_compositions: {
      type: 'object',
      additionalProperties: false,
      required: ['ability', 'knowledge', 'extra_information', 'output'],
      properties: { ability: { type: 'string' }, knowledge: { type: 'string' }, extra_information: { type: 'string' }, output: { type: 'string' } },
    },
  },
}

function situate (): Processor<Doc> {
  return {
    name: 'llm-situate',
    async process (record, ctx) {
      const d = record.value
      const llm = ctx.llm()
      const r = await llm.json<Situation>({
        prompt: { id: 'test-situation', version: '1' },
        messages: [{ role: 'system', content: 'Imagine who would ask about this document, and why.' }, { role: 'user', content: d.text }],
        schema: SITUATION_SCHEMA,
        signal: ctx.signal,
      })
      const value = {
        id: `sit-${d.id}`,
        document: { id: d.id, url: d.url, title: d.title, corpus: d.corpus },
        document_text: d.text,
        ...r.value,
        lineage: ctx.lineage(record, { model: llm.model, prompt: { id: 'test-situation', version: '1' }, simulated: r.simulated }),
      }
      return emit({ topic: 'situations', key: value.id, value })
    },
  }
}

let sim: LlmSim
before(async () => {
  sim = await startLlmSim({
    faults: {
      retryAfterSeconds: 0.05,
      // The document's text decides its fate: the simulator sees what the stage sent.
      script: ({ body }) => {
        const text = JSON.stringify(body)
        if (text.includes('ALWAYS-MALFORMED')) return 'malformed_json'
        if (text.includes('FLAKY') && flaky++ < 2) return flaky === 1 ? 'rate_limit' : 'server_error'
        return null
      },
    },
  })
})
after(async () => { await sim.close() })
let flaky = 0

test('an LLM stage in the embedded runner: simulated lineage, absorbed faults, dead letters with the raw answer', async () => {
  const path = join(testTmpDir('llm-pipeline'), 'synthq.db')
  const topology = new TopologyBuilder('llm-test')
    .stage({ name: 'situate', input: 'documents', outputs: ['situations'], processor: situate, llm: true })
    .build()
  const settings = resolveLlmSettings({
    stages: ['situate'], env: {}, file: { defaults: { model: 'sim-chat-8b', repairAttempts: 1 } },
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 16, initialConcurrency: 4, adaptiveConcurrency: true },
  })
  const llm = new LlmClient({ settings, logger: testLogger(), dbPath: path })
  await llm.preflight()
  const runner = new EmbeddedRunner(topology, { path, logger: testLogger(), pollMs: 20, llm })
  await runner.start()
  try {
    const docs = [
      ...Array.from({ length: 8 }, (_, i) => doc(`ok-${i}`)),
      { ...doc('flaky'), text: 'FLAKY document about tide tables and sailing schedules.' },
      { ...doc('bad'), text: 'ALWAYS-MALFORMED document about nothing in particular.' },
    ]
    await runner.produce('documents', docs.map((d) => ({ key: d.id as string, value: d })))
    const deadline = Date.now() + 30_000
    while (!runner.idle() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.ok(runner.idle(), 'pipeline caught up')

    const sits = runner.log.read(topicName('situations'), 0, 1e9)
    assert.equal(sits.length, 9, '8 plain + the flaky one after its retries')
    for (const row of sits) {
      const v = await runner.serde.decode<{ scene: string, lineage: Lineage }>(topicName('situations'), row.value)
      assert.equal(v.lineage.simulated, true)
      assert.deepEqual({ ...v.lineage.model }, { endpoint: 'sim', name: 'sim-chat-8b' })
      assert.ok(v.scene.length > 0)
    }
    const letters = runner.log.read(topicName('deadLetters'), 0, 1e9)
    assert.equal(letters.length, 1)
    const letter = await runner.serde.decode<{ key: Buffer, message: string, raw_output: string | null, error_class: string, error_code: string | null }>(topicName('deadLetters'), letters[0]!.value)
    assert.equal(letter.key.toString(), 'bad')
    assert.equal(letter.error_class, 'LlmOutputError')
    assert.equal(letter.error_code, 'SYNTHQ_LLM_OUTPUT')
    assert.match(letter.message, /stage situate: the model's answer is not usable after 2 attempt\(s\)/)
    assert.ok(letter.raw_output && letter.raw_output.length > 0, 'raw answer kept in the dead letter')
    assert.equal(llm.stats().stages.situate?.retries, 2, 'the flaky document took two retries')
  } finally {
    await runner.stop()
    await llm.close()
  }
})
