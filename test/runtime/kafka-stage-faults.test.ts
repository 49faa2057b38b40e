/**
 * The Kafka stage under faults that are hard to time for real, injected where they happen:
 *
 * - a commit whose outcome the stage cannot know (it failed, or it went through and the answer
 *   was lost), followed by partition restarts that cannot reach the broker at first: the
 *   partition must start over from what the broker says is committed — no output twice (exactly
 *   once), no input skipped (both modes);
 * - a record failing for reasons not its own (registry down) past the limit: the stage halts,
 *   says which record, and commits nothing past it;
 * - an LLM endpoint refusing the key mid-run: no dead letters, the stage halts, the record stays
 *   uncommitted for the next run;
 * - a table whose records cannot be decoded while the registry is away: it waits, it does not
 *   skip them.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Kafka } from 'kafkajs'
import { SynthqError } from '../../src/errors.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { KafkaStage, type DeliveryMode } from '../../src/runtime/kafka/kafka-stage.ts'
import { KafkaTable } from '../../src/runtime/kafka/kafka-table.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import type { StageEngine } from '../../src/runtime/stage-engine.ts'
import type { AvroSerde } from '../../src/serde/avro-serde.ts'
import { AvroSerde as Serde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName, type TopicName } from '../../src/topics.ts'
import { testInfra, unique } from '../helpers/env.ts'
import { committedOffsets, groupCaughtUp, testLogger } from '../helpers/kafka.ts'
import { readTopicToEnd } from '../helpers/runners.ts'
import { doc, newProbe, testTopology } from '../helpers/test-topology.ts'

/**
 * Polls `cond` until it holds. A wait that takes long says so on stderr at once, with what it
 * waits for: when the test's own timeout cancels it first, that line is the only trace left.
 */
const until = async (what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 120_000, describe?: () => string): Promise<void> => {
  const t0 = Date.now()
  let warned = false
  while (!await cond()) {
    const waited = Date.now() - t0
    if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}${describe ? `: ${describe()}` : ''}`)
    if (!warned && waited > 30_000) {
      warned = true
      process.stderr.write(`# still waiting for ${what} after 30 s${describe ? `: ${describe()}` : ''}\n`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}

const drained = groupCaughtUp

function counts (keys: Array<string | null>): { dupes: string[], set: Set<string> } {
  const seen = new Map<string, number>()
  for (const k of keys) seen.set(String(k), (seen.get(String(k)) ?? 0) + 1)
  return { dupes: [...seen].filter(([, c]) => c > 1).map(([k]) => k), set: new Set(seen.keys()) }
}

interface Setup { kafka: Kafka, serde: AvroSerde, prefix: string, topic: (n: TopicName) => string, produceDocs: (docs: Array<{ key: string, value: unknown }>) => Promise<void>, close: () => Promise<void> }

async function setup (partitions: number): Promise<Setup> {
  const infra = testInfra()
  const prefix = unique('faults')
  const serde = new Serde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'faults-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions })
  await admin.disconnect()
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  return {
    kafka, serde, prefix,
    topic: (n) => topicName(n, prefix),
    async produceDocs (docs) {
      const topic = topicName('documents', prefix)
      const messages = []
      for (const d of docs) messages.push({ key: d.key, value: await serde.encode(topic, d.value) })
      await producer.send({ topic, messages })
    },
    close: () => producer.disconnect(),
  }
}

for (const mode of ['exactly-once', 'at-least-once'] as DeliveryMode[]) {
  test(`${mode}: commits of unknown outcome and partitions that cannot restart at once lose nothing${mode === 'exactly-once' ? ' and duplicate nothing' : ''}`, { timeout: 300_000 }, async () => {
    const s = await setup(3)
    const ids = Array.from({ length: 90 }, (_, i) => `u${i}`)
    // Random per-record delays: records finish out of order, so commits carry completed-beyond offsets.
    await s.produceDocs(ids.map((id, i) => ({ key: id, value: doc(id, `slow:${(i * 37) % 60}`) })))
    const commitsByPartition = new Map<number, number>()
    let lost = 0
    let failed = 0
    let startFailures = 0
    const runner = new KafkaRunner(testTopology(newProbe()), {
      connection: { brokers: testInfra().bootstrap, clientId: 'faults' }, serde: s.serde, logger: testLogger(), prefix: s.prefix,
      mode, topics: { partitions: 3 }, commitIntervalMs: 20, sessionTimeoutMs: 10_000,
      faults: {
        // Of every three commits of a partition, one fails and one goes through with its answer lost.
        commit: (p) => {
          const n = (commitsByPartition.get(p) ?? 0) + 1
          commitsByPartition.set(p, n)
          if (n % 3 === 2) { failed++; return 'failed' }
          if (n % 3 === 0) { lost++; return 'lost-response' }
          return undefined
        },
        // A restarting partition cannot reach its broker twice before it can.
        start: (_p, attempt) => { if (attempt < 2) { startFailures++; return true } return false },
      },
    })
    try {
      await runner.start()
      const situate = `${s.prefix}.situate`
      const instruct = `${s.prefix}.instruct`
      // The first stage's input is not transactional: once it is drained, every situation it will
      // ever write is committed; then the second stage is drained once it is past all of them.
      await until('the first stage to commit every input', () => drained(s.kafka, situate, s.topic('documents')))
      const present = async (name: TopicName, id: (x: string) => string): Promise<boolean> => {
        const keys = new Set((await readTopicToEnd(s.kafka, s.topic(name))).map((r) => r.key))
        return ids.every((x) => keys.has(id(x)))
      }
      await until('every situation to be readable', () => present('situations', (x) => `sit-${x}`))
      await until('the second stage to commit every situation', () => drained(s.kafka, instruct, s.topic('situations')))
      await until('every instruction to be readable', () => present('synthesizedInstructions', (x) => `ins-${x}`))
      assert.ok(lost > 0 && failed > 0 && startFailures > 0, `faults were injected (lost ${lost}, failed ${failed}, start failures ${startFailures})`)
      const situations = counts((await readTopicToEnd(s.kafka, s.topic('situations'))).map((r) => r.key))
      const instructions = counts((await readTopicToEnd(s.kafka, s.topic('synthesizedInstructions'))).map((r) => r.key))
      assert.deepEqual(ids.filter((id) => !situations.set.has(`sit-${id}`)), [], 'no input lost at the first stage')
      assert.deepEqual(ids.filter((id) => !instructions.set.has(`ins-${id}`)), [], 'no input lost at the second stage')
      if (mode === 'exactly-once') {
        assert.deepEqual(situations.dupes, [], 'no situation twice')
        assert.deepEqual(instructions.dupes, [], 'no instruction twice')
      }
      for (const st of Object.values(runner.stats())) assert.equal((st as { bufferedBytes: number }).bufferedBytes, 0, 'no bytes left accounted as buffered')
      assert.ok((runner.stats().situate as { restarts: number }).restarts > 0, 'partitions started over')
    } finally {
      await runner.stop()
      await s.close()
    }
  })
}

describe('a stage that must stop', () => {
  test('a record failing for reasons not its own past the limit halts the stage, named, with nothing committed past it', { timeout: 120_000 }, async () => {
    const infra = testInfra()
    const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'halt-test' }, testLogger())
    const topic = unique('halt-in')
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] })
    await admin.disconnect()
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic, messages: [{ key: 'a', value: 'x' }, { key: 'b', value: 'y' }] })
    await producer.disconnect()
    let tries = 0
    const engine = {
      inputTopic: topic,
      stage: { name: 'fake' },
      run: async () => { tries++; throw new SynthqError('SYNTHQ_REGISTRY_UNAVAILABLE', 'simulated: the schema registry cannot be reached', { retriable: true }) },
    } as unknown as StageEngine
    const group = unique('halt-group')
    let fatal: Error | undefined
    const stage = new KafkaStage({ kafka, engine, groupId: group, mode: 'exactly-once', concurrency: 1, maxQueuedPerPartition: 100, maxBufferedBytes: 1 << 20, commitIntervalMs: 20, sessionTimeoutMs: 10_000, logger: testLogger(), infraRetryLimitMs: 1_500, onFatal: (e) => { fatal = e } })
    try {
      await stage.start()
      await until('the stage to halt', () => fatal !== undefined, 60_000)
      assert.equal((fatal as SynthqError).code, 'SYNTHQ_INFRA_UNAVAILABLE')
      assert.match(fatal!.message, new RegExp(`record ${topic}-0-0 kept failing`))
      assert.match(fatal!.message, /schema registry cannot be reached/)
      assert.ok(tries > 1, 'retried before giving up')
      assert.ok(stage.snapshot().infraRetries > 0)
    } finally {
      await stage.stop(5_000)
    }
    const committed = await committedOffsets(kafka, group, topic)
    assert.ok((committed.get(0) ?? -1) <= 0, `nothing committed past the failing record (committed ${committed.get(0)})`)
  })

  test('an LLM endpoint refusing the key mid-run: no dead letter, the stage halts, the record stays uncommitted', { timeout: 180_000 }, async () => {
    const s = await setup(1)
    const ids = ['k0', 'k1', 'k2', 'bad', 'k3', 'k4']
    await s.produceDocs(ids.map((id) => ({ key: id, value: doc(id, id === 'bad' ? 'misconfigured' : 'ok') })))
    let fatal: Error | undefined
    const runner = new KafkaRunner(testTopology(newProbe(), { concurrency: 1 }), {
      connection: { brokers: testInfra().bootstrap, clientId: 'halt' }, serde: s.serde, logger: testLogger(), prefix: s.prefix,
      topics: { partitions: 1 }, commitIntervalMs: 20, sessionTimeoutMs: 10_000, onFatal: (e) => { fatal ??= e },
    })
    try {
      await runner.start()
      await until('the stage to halt', () => fatal !== undefined, 60_000)
      assert.match(fatal!.message, /refused the API key/)
    } finally {
      await runner.stop()
      await s.close()
    }
    const letters = await readTopicToEnd(s.kafka, s.topic('deadLetters'))
    assert.deepEqual(letters.map((r) => r.key), [], 'no record dead-lettered for a configuration fault')
    const committed = await committedOffsets(s.kafka, `${s.prefix}.situate`, s.topic('documents'))
    assert.ok((committed.get(0) ?? -1) <= 3, `the refused record (offset 3) is not committed over (committed ${committed.get(0)})`)
    const situations = (await readTopicToEnd(s.kafka, s.topic('situations'))).map((r) => r.key)
    assert.ok(!situations.includes('sit-bad'))
  })
})

test('a table waits for the registry instead of skipping records it cannot decode yet', { timeout: 120_000 }, async () => {
  const infra = testInfra()
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'table-test' }, testLogger())
  const topic = unique('table')
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [...Array.from({ length: 6 }, (_, i) => ({ key: `r${i}`, value: JSON.stringify({ n: i }) })), { key: 'junk', value: 'not json' }] })
  await producer.disconnect()
  let calls = 0
  const serde = {
    decode: async (_t: string, v: Buffer) => {
      if (++calls <= 4) throw new SynthqError('SYNTHQ_REGISTRY_UNAVAILABLE', 'simulated: registry away', { retriable: true })
      return JSON.parse(v.toString()) as unknown
    },
  } as unknown as AvroSerde
  const table = new KafkaTable(kafka, serde, topic, testLogger())
  try {
    await table.start()
    assert.deepEqual([...table.table.keys()].sort(), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'], 'every decodable row, none skipped during the outage')
    assert.equal(table.undecodable, 1, 'the row no reader can decode is counted')
  } finally {
    await table.stop()
  }
})

test('a partition revoked while paused with a deep queue comes back to the same member and is fetched again; dropped queues leave no bytes behind', { timeout: 300_000 }, async () => {
  const s = await setup(2)
  const ids = Array.from({ length: 60 }, (_, i) => `p${i}`)
  await s.produceDocs(ids.map((id) => ({ key: id, value: doc(id, 'slow:150') })))
  const worker = (): KafkaRunner => new KafkaRunner(testTopology(newProbe(), { concurrency: 1 }), {
    connection: { brokers: testInfra().bootstrap, clientId: 'pause' }, serde: s.serde, logger: testLogger(), prefix: s.prefix,
    topics: { partitions: 2 }, commitIntervalMs: 20, sessionTimeoutMs: 10_000, maxQueuedPerPartition: 4, drainTimeoutMs: 1_000, stages: ['situate'],
  })
  const a = worker()
  let b: KafkaRunner | undefined
  const stats = (): { queued: number, bufferedBytes: number, inFlight: number } => a.stats().situate as { queued: number, bufferedBytes: number, inFlight: number }
  const describe = (): string => JSON.stringify({ a: a.stats().situate, b: b?.stats().situate })
  try {
    await a.start()
    // Both partitions fetched whole: far past the pause threshold.
    await until('deep queues on both partitions', () => stats().queued > 8, 60_000, describe)
    b = worker()
    await b.start() // the group rebalances: one partition, paused with its queue, moves to b
    await until('the rebalance to take a partition from the first member', () => stats().queued < 30 || stats().queued === 0, 60_000, describe)
    await b.stop() // and it comes back to the first member
    const situate = `${s.prefix}.situate`
    await until('the first stage to commit every input', () => drained(s.kafka, situate, s.topic('documents')), 120_000, describe)
    await until('nothing left running', () => stats().queued === 0 && stats().inFlight === 0, 30_000, describe)
    assert.equal(stats().bufferedBytes, 0, 'no bytes of dropped queues left counted')
    const keys = new Set((await readTopicToEnd(s.kafka, s.topic('situations'))).map((r) => r.key))
    assert.deepEqual(ids.filter((id) => !keys.has(`sit-${id}`)), [])
  } finally {
    // b too: a wait that failed before b.stop() would leave its consumer keeping the file alive.
    await Promise.all([a.stop(), b?.stop()])
    await s.close()
  }
})

test('while KafkaJS restarts its consumer (pause, resume and seek refuse), partitions wait and start once it is back: no crash', { timeout: 60_000 }, async () => {
  // A stand-in for KafkaJS's objects, so that the refusal can be timed exactly; the stage's own
  // code is what runs. Without the guard the refusal escaped from the batch callback (and, from
  // a commit's restart, crashed the worker).
  const refusal = (): Error => new Error('Consumer group was not initialized, consumer#run must be called first')
  let restarting = true
  const listeners = new Map<string, (e: unknown) => void>()
  const commits: string[] = []
  let eachBatch: ((p: unknown) => Promise<void>) | undefined
  const paused = new Set<number>()
  const consumer = {
    events: { GROUP_JOIN: 'join', CRASH: 'crash' },
    on: (ev: string, fn: (e: unknown) => void) => { listeners.set(ev, fn) },
    connect: async () => {}, subscribe: async () => {}, disconnect: async () => {},
    run: async (o: { eachBatch: (p: unknown) => Promise<void> }) => { eachBatch = o.eachBatch },
    pause: (tp: Array<{ partitions?: number[] }>) => { if (restarting) throw refusal(); for (const p of tp[0]?.partitions ?? [0]) paused.add(p) },
    resume: (tp: Array<{ partitions?: number[] }>) => { if (restarting) throw refusal(); for (const p of tp[0]?.partitions ?? [0]) paused.delete(p) },
    seek: () => { if (restarting) throw refusal() },
    commitOffsets: async (o: Array<{ offset: string }>) => { commits.push(o[0]!.offset) },
  }
  const kafka = {
    consumer: () => consumer,
    producer: () => ({ events: {}, on: () => () => {}, connect: async () => {}, disconnect: async () => {}, sendBatch: async () => {} }),
    admin: () => ({ connect: async () => {}, disconnect: async () => {}, fetchOffsets: async () => [{ topic: 'in', partitions: [{ partition: 0, offset: '-1', metadata: null }] }] }),
  } as unknown as Kafka
  const engine = { inputTopic: 'in', stage: { name: 'fake' }, run: async () => ({ outputs: [], deadLettered: false, attempts: 1 }) } as unknown as StageEngine
  const stage = new KafkaStage({ kafka, engine, groupId: 'g', mode: 'at-least-once', concurrency: 2, maxQueuedPerPartition: 100, maxBufferedBytes: 1 << 20, commitIntervalMs: 5, sessionTimeoutMs: 10_000, logger: testLogger() })
  await stage.start()
  const batch = { topic: 'in', partition: 0, fetchedOffset: '0', messages: [0, 1, 2].map((o) => ({ offset: String(o), key: Buffer.from(`k${o}`), value: Buffer.from('v'), timestamp: '0', headers: {} })) }
  const deliver = async (): Promise<void> => { await eachBatch!({ batch, resolveOffset: () => {}, isStale: () => false }) }
  listeners.get('join')!({ payload: { memberAssignment: { in: [0] } } })
  await deliver() // the partition starts; its pause is refused
  await new Promise((r) => setTimeout(r, 50))
  await deliver()
  restarting = false
  listeners.get('join')!({ payload: { memberAssignment: { in: [0] } } }) // the restarted consumer joins
  await until('the partition to start', async () => { await deliver(); return commits.includes('3') }, 30_000)
  assert.ok(!paused.has(0), 'resumed once started')
  await stage.stop(1_000)
})
