/**
 * The response stage on Kafka (exactly-once, registry-encoded Avro, 3 partitions): it reads the
 * compacted sample topic — tombstones included — and the sample as a table. Instructions the
 * sink keeps get their response; those evicted while their call is in flight (a slow model)
 * cost nothing more: their call is abandoned, no response is written after the tombstone, and
 * the responses topic's latest values are exactly the sample's.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { JsonRequest, JsonResult } from '../../src/llm/client.ts'
import type { StageSettings } from '../../src/llm/config.ts'
import { response, type ResponseValue } from '../../src/processors/response/response.ts'
import type { SampleRowValue } from '../../src/processors/sink/types.ts'
import { ScriptedLlm } from '../../src/processors/testing/index.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testInfra, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { readTopicToEnd } from '../helpers/runners.ts'

/** A model that takes `ms` per answer (and honours the abort signal, as the real client does). */
class SlowLlm extends ScriptedLlm {
  started = 0
  constructor (private readonly ms: number) { super() }
  override async json<T> (s: StageSettings, req: JsonRequest<T>): Promise<JsonResult<T>> {
    this.started++
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, this.ms)
      req.signal?.addEventListener('abort', () => { clearTimeout(t); reject(req.signal!.reason as Error) }, { once: true })
    })
    return await super.json(s, req)
  }
}

const ROW = SAMPLES.sample as unknown as SampleRowValue
const row = (id: string): SampleRowValue => ({ ...ROW, id, instruction: `How would you redesign part ${id}?` })

async function waitFor (what: string, cond: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const t0 = Date.now()
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

test('the response stage on Kafka: responses for the sample, tombstones forwarded, evictions in flight dropped', async () => {
  const infra = testInfra()
  const prefix = unique('responses')
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'responses-test' }, testLogger())
  const llm = new SlowLlm(3_000).answer('response', (req) => ({ assistant_response: `An answer to: ${req.messages.at(-1)!.content}` }), { simulated: true })
  const topology = new TopologyBuilder('responses-test')
    .table('sample')
    .stage({ name: 'response', input: 'sample', outputs: ['responses'], tables: ['sample'], llm: true, processor: () => response({ showDocument: false, settleMs: 2_000 }) })
    .build()
  const runner = new KafkaRunner(topology, { connection: { brokers: infra.bootstrap, clientId: 'responses-run' }, serde, logger: testLogger(), prefix, topics: { partitions: 3 }, commitIntervalMs: 50, llm })
  const producer = kafka.producer({ idempotent: true })
  const sampleTopic = topicName('sample', prefix)
  const responsesTopic = topicName('responses', prefix)
  const live = async (topic: string): Promise<Map<string, Buffer>> => {
    const m = new Map<string, Buffer | null>()
    for (const r of await readTopicToEnd(kafka, topic)) if (r.key !== null) m.set(r.key, r.value)
    return new Map([...m].filter((e): e is [string, Buffer] => e[1] !== null))
  }
  try {
    await runner.start()
    await producer.connect()
    const kept = Array.from({ length: 9 }, (_, i) => `keep-${i}`)
    const evicted = ['gone-0', 'gone-1', 'gone-2', 'gone-3']
    await producer.send({ topic: sampleTopic, messages: await Promise.all([...kept, ...evicted].map(async (id) => ({ key: id, value: await serde.encode(sampleTopic, row(id)) }))) })
    // The sink evicts four while their responses are being written (each call takes 3 s).
    await waitFor('every call to start', async () => llm.started === kept.length + evicted.length)
    await producer.send({ topic: sampleTopic, messages: evicted.map((id) => ({ key: id, value: null })) })

    await waitFor('the responses to catch up with the sample', async () => {
      const m = runner.metrics().response ?? {}
      return (m.responses ?? 0) === kept.length && (m.tombstones ?? 0) === evicted.length && (m.evicted_before_call ?? 0) + (m.evicted_in_flight ?? 0) === evicted.length
    })
    // Written by committed transactions; read until every one is visible.
    let responses = new Map<string, Buffer>()
    await waitFor('the committed responses', async () => (responses = await live(responsesTopic)).size === kept.length)
    assert.deepEqual([...responses.keys()].sort(), [...(await live(sampleTopic)).keys()].sort(), 'the responses topic answers exactly the current sample')
    for (const [id, buf] of responses) {
      const v = await serde.decode<ResponseValue>(responsesTopic, buf)
      assert.equal(v.id, id)
      assert.equal(v.response, `An answer to: ${row(id).instruction}`)
      assert.equal(v.lineage.stage, 'response')
      assert.equal(v.lineage.simulated, true)
      assert.equal(v.lineage.upstream[0]!.topic, sampleTopic)
    }
    // Each evicted instruction ends in a tombstone of its response, and no response follows it.
    const history = await readTopicToEnd(kafka, responsesTopic)
    for (const id of evicted) {
      const rows = history.filter((r) => r.key === id)
      assert.ok(rows.length >= 1 && rows.at(-1)!.value === null, `${id}: ends in a tombstone`)
    }
    const m = runner.metrics().response!
    assert.equal(m.evicted_in_flight, evicted.length, `evicted while in flight: ${JSON.stringify(m)}`)
    assert.equal(runner.stats().response?.deadLettered ?? 0, 0, 'tombstones are records, not dead letters')
  } finally {
    await producer.disconnect()
    await runner.stop()
    await llm.close()
  }
})
