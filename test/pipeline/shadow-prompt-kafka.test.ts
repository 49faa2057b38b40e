/**
 * A shadow prompt version on Kafka, end to end: the live instruction-generation (prompt v1) and
 * scoring run as one process; a shadow of instruction-generation at v2 with a copy of scoring
 * runs beside it on the same input; `compare` reads both sides; a promotion from the input's end
 * while the live stage runs turns the records written after it to v2; a promotion from where the
 * shadow started (live stage stopped) redoes the shadowed records with v2, answered from the
 * LLM cache. Every v1 output stays as it was, byte for byte. The versions of what the live topic
 * holds are counted by an independent client (Python confluent-kafka with the registry's
 * Avro deserializer), not by synthq's own decoder.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { compareSides } from '../../src/ops/compare/compare-report.ts'
import { readSides } from '../../src/ops/compare/read-sides.ts'
import { listShadows, positionShadow, promote, promptStage } from '../../src/ops/shadow.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { KafkaTransport } from '../../src/runtime/kafka/kafka-transport.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import { shadowTopology } from '../../src/topologies/shadow.ts'
import { synthesisTopology } from '../../src/topologies/synthesis.ts'
import { namespacedTopic, topicName } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { readTopicToEnd, type Read } from '../helpers/runners.ts'
import { thirdPartyConsume } from '../helpers/third-party.ts'

const infra = testInfra()
const prefix = unique('shadow')
const logger = testLogger()
const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'shadow-test' }, logger)
const serde = (): AvroSerde => new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
const situationsTopic = topicName('situations', prefix)
const liveOut = topicName('synthesizedInstructions', prefix)
let sim: LlmSim
let llm: LlmClient

const STAGES = ['instruction-generation', 'scoring']
const topology = synthesisTopology({ options: DEFAULT_PIPELINE_OPTIONS })
const run = shadowTopology(topology, { stage: 'instruction-generation', version: 'v2', through: 'scoring' }, prefix)

function situation (i: number): { key: string, value: Record<string, unknown> } {
  const base = SAMPLES.situations as Record<string, unknown> & { document: Record<string, unknown>, lineage: Record<string, unknown> }
  const id = `sit-${i}`
  return { key: id, value: { ...base, id, document: { ...base.document, id: `doc-${i}` }, scene: `${base.scene as string} Case ${i}.`, document_text: `${base.document_text as string} Measurement series ${i}.` } }
}

/** Situations written as situation-envisioning writes them: in transactions, so the topic's offsets also number markers. */
async function produceSituations (from: number, to: number): Promise<void> {
  const s = serde()
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId: `${prefix}-situations-${from}` })
  await producer.connect()
  try {
    for (let i = from; i < to; i += 4) {
      const tx = await producer.transaction()
      const messages = []
      for (let j = i; j < Math.min(i + 4, to); j++) {
        const r = situation(j)
        messages.push({ key: r.key, value: await s.encode(situationsTopic, r.value) })
      }
      await tx.send({ topic: situationsTopic, messages })
      await tx.commit()
    }
  } finally {
    await producer.disconnect()
  }
}

async function waitFor<T> (what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    const v = await read()
    if (done(v)) return v
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 300)}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

const values = async (topic: string): Promise<Read[]> => await readTopicToEnd(kafka, topic)
const count = async (topic: string): Promise<number> => (await values(topic)).length

function liveRunner (): KafkaRunner {
  return new KafkaRunner(topology, { connection: { brokers: infra.bootstrap, clientId: 'shadow-live' }, serde: serde(), logger, prefix, topics: { partitions: 3 }, commitIntervalMs: 50, llm, stages: STAGES })
}

before(async () => {
  sim = await startLlmSim({ profile: 'instant' })
  const settings = resolveLlmSettings({ stages: STAGES, fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 32, initialConcurrency: 8, adaptiveConcurrency: true }, fallbackModel: 'sim-chat-8b' })
  llm = new LlmClient({ settings, logger, dbPath: join(testTmpDir('shadow-kafka'), 'llm.db') })
})

after(async () => {
  await llm?.close()
  await sim?.close()
})

test('shadow v2 of instruction-generation beside v1 on Kafka: compared, promoted from the end and from the shadow, v1 untouched', { timeout: 600_000 }, async () => {
  const N = 24
  const M = 12
  const transport = new KafkaTransport({ kafka, serde: serde(), logger })
  let live = liveRunner()
  const shadow = new KafkaRunner(run.topology, { connection: { brokers: infra.bootstrap, clientId: 'shadow-v2' }, serde: serde(), logger, prefix, shadow: run.shadow, topics: { partitions: 3 }, commitIntervalMs: 50, llm })
  try {
    // 1. The live stages (v1) on N situations.
    await live.start()
    await produceSituations(0, N)
    await waitFor('live scores', async () => await count(topicName('scoredInstructions', prefix)), (n) => n === N)
    const v1Before = await values(liveOut)
    assert.equal(v1Before.length, N)

    // 2. The shadow (v2 + a scoring copy) on the same records, from the beginning of the input.
    assert.match(await positionShadow(transport, run, prefix, 'earliest'), /from its beginning/)
    await shadow.start()
    const shadowScored = namespacedTopic({ prefix, shadow: run.shadow }, 'scoredInstructions')
    await waitFor('shadow scores', async () => await count(shadowScored), (n) => n === N)
    assert.equal(await count(liveOut), N, 'the shadow wrote nothing into the live topic')
    assert.equal(await count(topicName('scoredInstructions', prefix)), N, 'nor into the live scores')
    await shadow.stop()
    const listed = await listShadows(transport, prefix)
    assert.deepEqual(listed.shadows.map((x) => [x.stage, x.version, x.prefix]), [['instruction-generation', '2', run.shadow.prefix]])
    assert.deepEqual(listed.promotions, [])

    // 3. Compare: both sides answered the same N inputs, each with its own version.
    const { live: a, shadow: b } = await readSides({ transport, stage: promptStage(topology, 'instruction-generation'), version: '2', prefix })
    assert.deepEqual([a.version, b.version], ['1', '2'])
    const report = compareSides(a, b)
    assert.equal(a.outputs.length, N)
    assert.equal(b.outputs.length, N)
    assert.ok(a.outputs.every((r) => r.score !== null) && b.outputs.every((r) => r.score !== null), 'every output on both sides has a score')
    assert.ok(b.outputs.every((r) => r.simulated && r.promptTokens !== null && r.promptTokens > 0), 'usage and the simulated label in lineage')
    assert.equal(report.inputsBoth, N, 'compare pairs the N inputs both versions answered')
    assert.deepEqual(report.scoreTest?.n, [N, N])
    assert.ok(report.scoreTest?.p != null && report.scoreTest.p >= 0 && report.scoreTest.p <= 1, 'a two-sample test on the paired scores')

    // 4. A promotion from the input's end while the live stage runs: the next M records get v2.
    await assert.rejects(promote(transport, { topology, stage: 'instruction-generation', version: '2', prefix, from: { kind: 'offsets', offsets: new Map([[0, 0]]) }, logger }), /member\(s\) running/, 'a rewind needs the live group stopped')
    const first = await promote(transport, { topology, stage: 'instruction-generation', version: '2', prefix, from: { kind: 'end' }, logger })
    assert.equal(first.redo, 0)
    // The stage reads the promotion as a table; wait until it is loaded before new input arrives.
    await waitFor('the promotion to reach the live stage', async () => live.table('promptPromotions')?.get('instruction-generation') !== undefined, (v) => v)
    await produceSituations(N, N + M)
    await waitFor('live outputs of the new records', async () => await count(liveOut), (n) => n === N + M)

    // 5. A promotion from where the shadow started: the live stage stopped, its group moved back
    //    to offset 0, every record since redone with v2 — the N the shadow saw and the M the
    //    first promotion already ran at v2 — all of them answered from the LLM cache.
    await live.stop()
    const hitsBefore = llm.stats().stages['instruction-generation']?.cacheHits ?? 0
    const second = await promote(transport, { topology, stage: 'instruction-generation', version: '2', prefix, from: { kind: 'shadow' }, logger })
    assert.equal(second.redo, N + M, 'every record from the shadow\'s start is redone (counted in records: the offsets also number transaction markers)')
    assert.deepEqual((await listShadows(transport, prefix)).promotions.map((p) => [p.version, p.shadow_prefix]), [['2', run.shadow.prefix]])
    assert.deepEqual(second.promotion.offsets.map((o) => o.offset), [0, 0, 0])
    live = liveRunner()
    await live.start()
    await waitFor('the redone outputs', async () => await count(liveOut), (n) => n === N + M + N + M)
    const hits = (llm.stats().stages['instruction-generation']?.cacheHits ?? 0) - hitsBefore
    assert.equal(hits, N + M, 'the redo is answered from the cache: no new call')

    // v1's outputs are untouched: the first N records of the live topic, byte for byte.
    const after = await values(liveOut)
    const key = (r: Read): string => `${r.key}\u0000${r.value!.toString('base64')}`
    const kept = new Set(after.map(key))
    assert.ok(v1Before.every((r) => kept.has(key(r))), 'every v1 output is still in the live topic as it was')

    // Counted by an independent client: N outputs of v1, and v2's for the M new records, then for all N + M again.
    const independent = await thirdPartyConsume(liveOut, N + M + N + M)
    const versions = new Map<string, number>()
    for (const r of independent) {
      const v = (r.value as { lineage: { prompt: { version: string } } }).lineage.prompt.version
      versions.set(v, (versions.get(v) ?? 0) + 1)
    }
    assert.deepEqual(Object.fromEntries(versions), { 1: N, 2: M + N + M })
  } finally {
    await shadow.stop().catch(() => {})
    await live.stop().catch(() => {})
    await transport.close()
  }
})
