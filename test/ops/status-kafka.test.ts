/**
 * `synthq status` on Kafka: lag and committed positions from the stages' consumer groups, group
 * members as consumers, dead letters read from the dead-letter topic, the newest scored
 * instructions, and live figures from the process's metrics endpoint — checked against a run of
 * the demo topology on a real broker, and the stall check once it stops.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { processEndpoint, type ProcessEndpoint } from '../../src/metrics/process-endpoint.ts'
import { StatusCollector } from '../../src/ops/status.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { KafkaTransport } from '../../src/runtime/kafka/kafka-transport.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { demoTopology } from '../../src/topologies/demo.ts'
import { topicName } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { readTopicToEnd } from '../helpers/runners.ts'

const infra = testInfra()
const prefix = unique('status')
const runDir = join(testTmpDir('status-kafka'), 'run')
const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'status-test' }, testLogger())
const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
const producer = kafka.producer({ idempotent: true })
let runner: KafkaRunner | undefined
let endpoint: ProcessEndpoint

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const collector = (): StatusCollector => new StatusCollector({ runner: 'kafka', prefix, topologies: ['demo'], runDir, transport: new KafkaTransport({ kafka, serde, logger: testLogger() }), latest: 5 }, testLogger())

async function documents (n: number, from = 0): Promise<Array<{ key: string, value: Buffer }>> {
  const topic = topicName('documents', prefix)
  const out = []
  for (let i = from; i < from + n; i++) out.push({ key: `doc-${i}`, value: await serde.encode(topic, { ...SAMPLES.documents, id: `doc-${i}`, text: `Document ${i}: how tides follow the moon, and why harbours publish tables of them.` }) })
  return out
}

before(async () => {
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: 2 })
  await admin.disconnect()
  await producer.connect()
  process.env.SYNTHQ_RUN_DIR = runDir
  endpoint = processEndpoint({ enabled: true, host: '127.0.0.1', port: 0 }, { runner: 'kafka' }, testLogger())
  runner = new KafkaRunner(demoTopology(), { connection: { brokers: infra.bootstrap, clientId: 'status-run' }, serde, logger: testLogger(), prefix, topics: { partitions: 2 }, commitIntervalMs: 20 })
  await runner.start()
  endpoint.metrics.addRunner('demo', runner)
  await endpoint.start({ topologies: ['demo'], prefix, runner })
})

after(async () => {
  await endpoint?.close()
  await runner?.stop()
  await producer.disconnect()
  delete process.env.SYNTHQ_RUN_DIR
})

test('lag, positions, members, dead letters and live figures of a running Kafka pipeline', async () => {
  // 30 documents, 3 records that are not Avro at all (→ dead letters), 4 scored instructions.
  await producer.send({ topic: topicName('documents', prefix), messages: [...await documents(30), ...['x', 'y', 'z'].map((k) => ({ key: `junk-${k}`, value: Buffer.from(`not avro ${k}`) }))] })
  const scoredTopic = topicName('scoredInstructions', prefix)
  const scored = []
  for (let i = 0; i < 4; i++) scored.push({ key: `sc-${i}`, value: await serde.encode(scoredTopic, { ...SAMPLES.scoredInstructions, id: `sc-${i}`, instruction: `Instruction number ${i}` }) })
  await producer.send({ topic: scoredTopic, messages: scored })
  const started = Date.now()
  while ((await readTopicToEnd(kafka, topicName('synthesizedInstructions', prefix))).length < 30) {
    assert.ok(Date.now() - started < 60_000, 'the demo topology processed the documents')
    await sleep(200)
  }

  const c = collector()
  try {
    let s = await c.collect()
    // Committed positions catch up with the last transaction a moment after its outputs are visible.
    for (let i = 0; i < 100 && s.stages.find((x) => x.stage === 'demo-situation')!.lag !== 0; i++) {
      await sleep(200)
      s = await c.collect()
    }
    await sleep(300)
    s = await c.collect()
    const situation = s.stages.find((x) => x.stage === 'demo-situation')!
    const instruction = s.stages.find((x) => x.stage === 'demo-instruction')!
    assert.equal(situation.input, topicName('documents', prefix))
    assert.equal(situation.lag, 0)
    assert.equal(situation.committed, 33, 'every document and junk record committed (plain producer: no markers)')
    assert.equal(situation.consumers, 1, 'one member in the stage group')
    assert.equal(instruction.consumers, 1)
    assert.ok(instruction.lag! <= 2, `demo-instruction lag ${instruction.lag}: at most one transaction marker per partition`)
    assert.equal(situation.deadLetters, 3)
    assert.deepEqual(situation.deadLetterReasons, [{ errorClass: 'DecodeError', count: 3 }])
    assert.equal(instruction.deadLetters, 0)
    // Live: the process was found through the run directory and scraped twice.
    assert.equal(s.processes.length, 1)
    assert.ok(s.processes[0]!.up && s.processes[0]!.topology === 'demo')
    assert.equal(situation.inFlight, 0)
    assert.equal(situation.throughputPerSec, 0, 'idle now')
    assert.equal(situation.retries, 0)
    // The newest scored instructions (tail of the topic), newest first.
    assert.deepEqual(new Set(s.latest.map((l) => l.id)), new Set(['sc-0', 'sc-1', 'sc-2', 'sc-3']))
    assert.ok(s.topics.some((t) => t.topic === topicName('documents', prefix) && t.records === 33))
    assert.ok(s.health.healthy, JSON.stringify(s.health.checks))

    // Throughput while records flow: 200 more documents, sampled while they are processed.
    const before = await c.collect()
    assert.equal(before.stages.find((x) => x.stage === 'demo-situation')!.throughputPerSec, 0)
    await producer.send({ topic: topicName('documents', prefix), messages: await documents(200, 100) })
    let seen = 0
    for (let i = 0; i < 50 && seen === 0; i++) {
      await sleep(100)
      seen = (await c.collect()).stages.find((x) => x.stage === 'demo-situation')!.throughputPerSec ?? 0
    }
    assert.ok(seen > 0, 'throughput measured between two collects while records flow')

    // Stopped: no members; new documents then wait with nobody to read them.
    await endpoint.close()
    await runner!.stop()
    runner = undefined
    await producer.send({ topic: topicName('documents', prefix), messages: await documents(5, 1000) })
    let stopped = await c.collect()
    for (let i = 0; i < 50 && stopped.stages.find((x) => x.stage === 'demo-situation')!.consumers !== 0; i++) {
      await sleep(200)
      stopped = await c.collect()
    }
    assert.equal(stopped.processes.length, 0, 'the announcement was removed')
    assert.equal(stopped.stages.find((x) => x.stage === 'demo-situation')!.consumers, 0)
    assert.equal(stopped.health.healthy, false)
    const stall = stopped.health.checks.find((x) => x.name === 'stalled')
    assert.match(stall?.message ?? '', /demo-situation: \d+ records wait in .*documents and its consumer group has no members/)
  } finally {
    await c.close()
  }
  // The status reader leaves no consumer group behind.
  const admin = kafka.admin()
  await admin.connect()
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.includes(prefix) && g.startsWith('synthq-status'))
  await admin.disconnect()
  assert.deepEqual(groups, [])
})
