/**
 * `synthq status` on an idle exactly-once Kafka pipeline counts records, not offsets: the input
 * arrives in transactions (with an aborted one in between), the stages commit in transactions,
 * so every partition holds transaction markers (and aborted records) — yet once everything is
 * processed each stage shows lag 0 and done N, and their input topics N records.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { StatusCollector } from '../../src/ops/status.ts'
import type { StatusSnapshot } from '../../src/ops/status-model.ts'
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

const N = 48
const PARTITIONS = 3
const infra = testInfra()
const prefix = unique('status-records')
const runDir = join(testTmpDir('status-records'), 'run')
const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'status-records-test' }, testLogger())
const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
let runner: KafkaRunner | undefined

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function documents (from: number, n: number): Promise<Array<{ key: string, value: Buffer }>> {
  const topic = topicName('documents', prefix)
  const out = []
  for (let i = from; i < from + n; i++) out.push({ key: `doc-${i}`, value: await serde.encode(topic, { ...SAMPLES.documents, id: `doc-${i}`, text: `Document ${i}: why the tide comes in twice a day.` }) })
  return out
}

before(async () => {
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: PARTITIONS })
  await admin.disconnect()
  process.env.SYNTHQ_RUN_DIR = runDir
  // Small commits: many transactions, so many markers in the stages' output topics.
  runner = new KafkaRunner(demoTopology(), { connection: { brokers: infra.bootstrap, clientId: 'status-records-run' }, serde, logger: testLogger(), prefix, topics: { partitions: PARTITIONS }, commitIntervalMs: 20 })
  await runner.start()
})

after(async () => {
  await runner?.stop()
  delete process.env.SYNTHQ_RUN_DIR
})

test('an idle exactly-once pipeline after N inputs shows lag 0 and done N for every stage', async () => {
  // The input arrives as ingest writes it: in transactions. One is aborted: its records and
  // its marker take offsets too, and no stage ever sees them.
  const producer = kafka.producer({ transactionalId: `${prefix}.test-ingest`, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    const topic = topicName('documents', prefix)
    for (let batch = 0; batch < 4; batch++) {
      const tx = await producer.transaction()
      await tx.send({ topic, messages: await documents(batch * (N / 4), N / 4) })
      await tx.commit()
      if (batch === 1) {
        const aborted = await producer.transaction()
        await aborted.send({ topic, messages: await documents(1000, 6) })
        await aborted.abort()
      }
    }
  } finally {
    await producer.disconnect()
  }
  const started = Date.now()
  while ((await readTopicToEnd(kafka, topicName('synthesizedInstructions', prefix))).length < N) {
    assert.ok(Date.now() - started < 120_000, 'the demo topology processed every document')
    await sleep(200)
  }

  const c = new StatusCollector({ runner: 'kafka', prefix, topologies: ['demo'], runDir, transport: new KafkaTransport({ kafka, serde, logger: testLogger() }), latest: 5 }, testLogger())
  try {
    // The stages' last commits become visible a moment after their outputs: poll until both
    // show nothing waiting (with offsets counted as records they never would: markers remain).
    const settled = (s: StatusSnapshot): boolean => s.stages.every((x) => x.lag === 0 && x.committed === N)
    let s = await c.collect()
    for (let i = 0; i < 150 && !settled(s); i++) {
      await sleep(200)
      s = await c.collect()
    }
    for (const stage of ['demo-situation', 'demo-instruction']) {
      const st = s.stages.find((x) => x.stage === stage)!
      assert.equal(st.lag, 0, `${stage}: lag counts records, not transaction markers or aborted records`)
      assert.equal(st.committed, N, `${stage}: done counts records, not offsets`)
    }
    // The offsets really do hold more than the records: markers and the aborted transaction.
    const admin = kafka.admin()
    await admin.connect()
    try {
      for (const t of ['documents', 'situations'] as const) {
        const offsets = (await admin.fetchTopicOffsets(topicName(t, prefix))).reduce((n, p) => n + Number(p.high) - Number(p.low), 0)
        assert.ok(offsets > N, `${t}: ${offsets} offsets for ${N} records`)
      }
    } finally {
      await admin.disconnect()
    }
    // Topic sizes too, where the census reads them (the stages' input topics).
    for (const t of ['documents', 'situations'] as const) {
      assert.equal(s.topics.find((x) => x.topic === topicName(t, prefix))?.records, N, `${t}: the topic's records`)
    }
    assert.ok(s.health.healthy, JSON.stringify(s.health.checks))
  } finally {
    await c.close()
  }
  // The status reader (its census included) leaves no consumer group behind.
  const admin = kafka.admin()
  await admin.connect()
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith('synthq-census') || (g.includes(prefix) && g.startsWith('synthq-status')))
  await admin.disconnect()
  assert.deepEqual(groups.filter((g) => g.includes(prefix) || g.startsWith('synthq-census')), [])
})
