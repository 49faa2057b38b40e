/**
 * Exactly-once across brokers, on a real 3-node cluster: a transactional sendBatch whose
 * partitions have different leaders, while one leader's part fails retriably and another's is
 * still in flight.
 *
 * KafkaJS 2.2.4 retried such a sendBatch for every broker that had not answered yet — also for
 * the one whose request was still in flight; that second request waited for the broker lock and
 * then wrote the same records again under new sequence numbers, inside the same transaction.
 * synthq's patch (patches/kafkajs+2.2.4.patch) retries per batch instead; this test fails on the
 * unpatched KafkaJS with copies committed.
 *
 * Roles: broker Z leads `good` (one replica) and follows `bad`, which broker X leads. Z is paused
 * (SIGSTOP): the write to `good` waits in Z's socket until Z resumes, while the write to `bad`
 * (acks=all, timeout 1 s) times out waiting for Z's replica — REQUEST_TIMED_OUT, retriable — again
 * and again. The producer is synthq's (connectFencing). Whether KafkaJS makes its next attempt
 * while the write to `good` is in flight depends on the broker it picks to refresh metadata after
 * the failure (Z does not answer), so the cycle repeats until that happened; then the committed
 * `good` records must hold no copy.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import kafkajs, { type Admin, type Kafka as KafkaType, type LogEntry } from 'kafkajs'
import { startKafkaCluster, stopKafkaCluster, waitForKafkaCluster } from '../../deploy/local/lib/cluster.ts'
import { ensureKafka } from '../../deploy/local/lib/fetch.ts'
import { connectFencing, kafkaConfig } from '../../src/runtime/kafka/client.ts'
import { testTmpDir, unique } from '../helpers/env.ts'
import { freePortRange } from '../helpers/ports.ts'

const { Kafka, logLevel } = kafkajs

const MAX_CYCLES = 20
const HITS_WANTED = 1
const GOOD_PER_CYCLE = 5
const PAUSE_MS = 3_500
const ACK_TIMEOUT_MS = 1_000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const trace = (m: string): void => { if (process.env.SYNTHQ_TEST_TRACE) process.stderr.write(`[kjs-eos] ${m}\n`) }

interface Captured { at: number, message: string, retryCount?: number }

/** Waits until the cluster metadata shows each topic's partition 0 led by the given broker. */
async function leadersSettled (admin: Admin, leaders: Record<string, number>): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: Object.keys(leaders) })
      if (topics.every((m) => m.partitions[0]?.leader === leaders[m.name])) return
    } catch (err) {
      if (Date.now() > deadline) throw err
    }
    if (Date.now() > deadline) throw new Error(`partition leaders are not ${JSON.stringify(leaders)}`)
    await sleep(250)
  }
}

/** Every committed record of `topic`, read until `expected` arrived and nothing more came for a while. */
async function readCommitted (kafka: KafkaType, topic: string, expected: number): Promise<Array<{ value: string, offset: string }>> {
  const consumer = kafka.consumer({ groupId: unique('read'), readUncommitted: false })
  const values: Array<{ value: string, offset: string }> = []
  let last = Date.now()
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { values.push({ value: message.value!.toString(), offset: message.offset }); last = Date.now() } })
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline && (values.length < expected || Date.now() - last < 3_000)) await sleep(200)
  } finally {
    await Promise.race([consumer.disconnect(), sleep(10_000)])
  }
  return values
}

test('a transactional sendBatch over several brokers commits no copy when one broker fails while another is in flight', { timeout: 600_000 }, async (t) => {
  const base = await freePortRange(6)
  const cluster = startKafkaCluster(ensureKafka(), { size: 3, kafkaPort: base, dir: testTmpDir('synthq-kjs-eos'), node: () => ({ heapMb: 384 }) })
  let paused: number | undefined
  const resume = (): void => {
    if (paused !== undefined) { try { process.kill(paused, 'SIGCONT') } catch { /* gone */ } }
    paused = undefined
  }
  t.after(async () => { resume(); await stopKafkaCluster(cluster) })
  await waitForKafkaCluster(cluster, 180_000)
  trace(`cluster up: ${cluster.bootstrap.join(',')}`)

  const kafka = new Kafka({ ...kafkaConfig({ brokers: cluster.bootstrap, clientId: 'kjs-eos-retry' }), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())

  // Z, the paused broker, is not the active controller (keeps the controller quorum out of it).
  const { controller } = await admin.describeCluster()
  const ids = [1, 2, 3]
  const z = ids.find((id) => id !== controller && id !== 1) ?? 3
  const [x, y] = ids.filter((id) => id !== z) as [number, number]
  const node = (id: number) => cluster.nodes.find((n) => n.nodeId === id)!
  trace(`controller ${controller}; bad led by ${x} and followed by ${z}; good led by ${z}; spare ${y}`)

  const good = unique('good')
  const bad = unique('bad')
  // (KafkaJS's waitForLeaders gives up when the broker it asks has not heard of the topic yet.)
  await admin.createTopics({
    waitForLeaders: false,
    topics: [
      { topic: good, replicaAssignment: [{ partition: 0, replicas: [z] }] },
      { topic: bad, replicaAssignment: [{ partition: 0, replicas: [x, z] }] },
    ],
  })
  await leadersSettled(admin, { [good]: z, [bad]: x })

  // synthq's transactional producer, on a client whose log is kept to see the retries. It
  // bootstraps from the spare broker, so that a metadata refresh can go to a broker that answers.
  const logs: Captured[] = []
  const capture = () => ({ log }: LogEntry) => {
    const { message, retryCount } = log as { message: string, retryCount?: number }
    logs.push({ at: Date.now(), message, ...(retryCount !== undefined ? { retryCount } : {}) })
  }
  const producerKafka = new Kafka({ ...kafkaConfig({ brokers: [`127.0.0.1:${node(y).port}`], clientId: 'kjs-eos-retry' }), logLevel: logLevel.ERROR, logCreator: capture })
  const producer = await connectFencing(producerKafka, unique('tx'))
  t.after(() => producer.disconnect())

  let hits = 0
  let cycles = 0
  for (; cycles < MAX_CYCLES && hits < HITS_WANTED; cycles++) {
    trace(`cycle ${cycles}`)
    const tx = await producer.transaction()
    // Both partitions join the transaction before the pause (AddPartitionsToTxn and the brokers'
    // transaction checks need the transaction coordinator, which may be Z).
    await tx.send({ topic: good, acks: -1, messages: [{ key: 'k', value: `c${cycles}-warm` }] })
    await tx.send({ topic: bad, acks: -1, messages: [{ key: 'k', value: `c${cycles}-warm` }] })

    const pausedAt = Date.now()
    process.kill(node(z).pid, 'SIGSTOP')
    paused = node(z).pid
    const sent = tx.sendBatch({
      acks: -1,
      timeout: ACK_TIMEOUT_MS,
      topicMessages: [
        { topic: good, messages: Array.from({ length: GOOD_PER_CYCLE }, (_, i) => ({ key: `g${i}`, value: `c${cycles}-g${i}` })) },
        { topic: bad, messages: [{ key: 'b', value: `c${cycles}-bad` }] },
      ],
    })
    sent.catch(() => {})
    await sleep(PAUSE_MS)
    const resumedAt = Date.now()
    resume()

    // A second attempt failed before Z resumed: KafkaJS retried while the write to `good` was in
    // flight.
    if (logs.some((l) => l.at > pausedAt && l.at < resumedAt && (l.retryCount ?? 0) >= 1)) hits++
    trace(`resumed; hits ${hits}`)

    await sent
    await tx.commit()
    trace('committed')
  }
  assert.ok(hits >= HITS_WANTED, `the fault did not line up in ${cycles} cycles (no retry while the write to ${good} was in flight)`)

  const expected = cycles * (GOOD_PER_CYCLE + 1)
  const values = await readCommitted(kafka, good, expected)
  const offsets = new Map<string, string[]>()
  for (const { value, offset } of values) offsets.set(value, [...(offsets.get(value) ?? []), offset])
  const copies = [...offsets].filter(([, at]) => at.length > 1).map(([value, at]) => `${value} at offsets ${at.join(', ')}`)
  assert.deepEqual(copies, [], `records committed more than once (${values.length} read, ${expected} sent in ${cycles} cycles, ${hits} with a retry during the pause)`)
  assert.equal(values.length, expected)
})
