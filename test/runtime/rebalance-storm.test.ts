/**
 * Rebalance storm: on a 3-broker cluster (replication 3, min ISR 2), workers of one pipeline
 * join and leave every few seconds while every stage's queues are deep (slow records, little
 * concurrency, small pause thresholds so that partitions are paused when they move). Afterwards
 * no input is lost or duplicated in either stage's output, every partition is drained within a
 * bound, and the workers still running account no buffered bytes and no queued records.
 *
 * What it guards: revocations used to leave queued records' bytes counted as buffered (after
 * enough of them every partition stayed paused), and a partition paused when it was revoked
 * stayed paused in KafkaJS when it came back to the same member — both silent stalls.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startKafkaCluster, stopKafkaCluster, waitForKafkaCluster } from '../../deploy/local/lib/cluster.ts'
import { ensureKafka } from '../../deploy/local/lib/fetch.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import type { StageStats } from '../../src/runtime/kafka/kafka-stage.ts'
import { readTopicToEnd } from '../../src/runtime/kafka/read-topic.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { mulberry32 } from '../../src/util/hash.ts'
import { topicName, type TopicName } from '../../src/topics.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { groupCaughtUp, testLogger } from '../helpers/kafka.ts'
import { freePortRange } from '../helpers/ports.ts'
import { doc, newProbe, testTopology } from '../helpers/test-topology.ts'

const RECORDS = Number(process.env.SYNTHQ_STORM_RECORDS ?? 600)
/** Joins and leaves each, at least. */
const CHANGES = Number(process.env.SYNTHQ_STORM_CHANGES ?? 3)
const PARTITIONS = 6

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const drained = groupCaughtUp

test('rebalance storm on 3 brokers: workers join and leave while queues are deep; nothing lost, duplicated or stalled', { timeout: 540_000 }, async (t) => {
  const base = await freePortRange(6)
  const cluster = startKafkaCluster(ensureKafka(), { size: 3, kafkaPort: base, dir: testTmpDir('synthq-storm'), node: () => ({ heapMb: 384 }) })
  t.after(() => stopKafkaCluster(cluster))
  await waitForKafkaCluster(cluster, 120_000)

  const prefix = unique('storm')
  const serde = new AvroSerde(new RegistryClient({ url: testInfra().registryUrl }), SchemaCatalog.load(), { prefix })
  const kafka = createKafka({ brokers: cluster.bootstrap, clientId: 'storm-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: PARTITIONS, replicationFactor: 3 })
  const meta = await admin.fetchTopicMetadata({ topics: [topicName('documents', prefix)] })
  assert.ok(meta.topics[0]!.partitions.every((p) => p.replicas.length === 3))
  await admin.disconnect()

  const rand = mulberry32(20261206)
  const ids = Array.from({ length: RECORDS }, (_, i) => `s${i}`)
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const docs = topicName('documents', prefix)
  const messages = []
  for (const id of ids) messages.push({ key: id, value: await serde.encode(docs, doc(id, `slow:${300 + Math.floor(rand() * 600)}`)) })
  await producer.send({ topic: docs, acks: -1, messages })
  await producer.disconnect()

  const workers = new Set<KafkaRunner>()
  const startWorker = async (): Promise<KafkaRunner> => {
    const w = new KafkaRunner(testTopology(newProbe(), { concurrency: 2 }), {
      connection: { brokers: cluster.bootstrap, clientId: 'storm' }, serde, logger: testLogger(), prefix,
      topics: { partitions: PARTITIONS, replicationFactor: 3 }, commitIntervalMs: 50, sessionTimeoutMs: 10_000,
      maxQueuedPerPartition: 6, drainTimeoutMs: 2_000,
    })
    await w.start()
    workers.add(w)
    return w
  }
  const stopWorker = async (w: KafkaRunner): Promise<void> => { workers.delete(w); await w.stop() }
  try {

    for (let i = 0; i < 3; i++) await startWorker()
    // The storm: every 2–5 s one worker leaves or a new one joins, between 1 and 3 at a time.
    let joins = 0
    let leaves = 0
    while (joins < CHANGES || leaves < CHANGES) {
      await sleep(2_000 + Math.floor(rand() * 3_000))
      const leave = workers.size === 3 || (workers.size > 1 && (joins >= CHANGES || rand() < 0.5))
      if (leave) { await stopWorker([...workers][Math.floor(rand() * workers.size)]!); leaves++ } else { await startWorker(); joins++ }
    }
    while (workers.size < 2) await startWorker()

    const bound = Date.now() + 240_000
    const waitFor = async (what: string, cond: () => Promise<boolean>): Promise<void> => {
      while (!await cond()) {
        if (Date.now() > bound) throw new Error(`stalled: ${what} not reached within the bound after the storm`)
        await sleep(500)
      }
    }
    const keys = async (name: TopicName): Promise<Array<string | null>> => (await readTopicToEnd(kafka, topicName(name, prefix))).map((r) => r.key)
    await waitFor('the first stage drained', () => drained(kafka, `${prefix}.situate`, docs))
    await waitFor('every situation readable', async () => { const k = new Set(await keys('situations')); return ids.every((id) => k.has(`sit-${id}`)) })
    await waitFor('the second stage drained', () => drained(kafka, `${prefix}.instruct`, topicName('situations', prefix)))
    await waitFor('every instruction readable', async () => { const k = new Set(await keys('synthesizedInstructions')); return ids.every((id) => k.has(`ins-${id}`)) })

    for (const name of ['situations', 'synthesizedInstructions'] as TopicName[]) {
      const seen = new Map<string, number>()
      for (const k of await keys(name)) seen.set(String(k), (seen.get(String(k)) ?? 0) + 1)
      const dupes = [...seen].filter(([, c]) => c > 1).map(([k]) => k)
      assert.deepEqual(dupes, [], `${name}: no record twice`)
      assert.equal(seen.size, RECORDS, `${name}: one per input`)
    }
    // Buffers of the workers still running are back to empty once their work is done.
    await waitFor('buffers empty', async () => [...workers].every((w) => Object.values(w.stats()).every((s) => {
      const st = s as StageStats
      return st.bufferedBytes === 0 && st.queued === 0 && st.inFlight === 0
    })))
    for (const w of workers) {
      for (const [stage, s] of Object.entries(w.stats())) assert.ok((s as StageStats).bufferedBytes >= 0, `${stage}: buffered bytes never negative`)
    }
  } finally {
    // Workers first, while the brokers are still there to leave their groups.
    await Promise.all([...workers].map((w) => w.stop()))
  }
})
