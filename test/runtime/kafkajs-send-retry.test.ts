/**
 * synthq patches KafkaJS 2.2.4's producer retries (patches/kafkajs+2.2.4.patch,
 * docs/kafkajs-patches.md). KafkaJS's sendMessages retried a sendBatch per broker: an attempt
 * that failed on one broker sent again to every broker that had not answered yet — also to one
 * whose request was still in flight, which then got the same messages a second time under new
 * sequence numbers (duplicates inside one transaction). It also regrouped the messages on every
 * attempt and lost or doubled a partition whose leader moved between attempts.
 *
 * These cases drive KafkaJS's own sendMessages and eosManager against simulated brokers that
 * keep a log per partition and deduplicate by producer sequence as Kafka does, so each failure
 * is exact and repeatable. The cases marked so fail on the unpatched KafkaJS.
 * kafkajs-eos-retry-cluster.test.ts shows the first one on a real 3-broker cluster.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'

const require = createRequire(import.meta.url)
/* eslint-disable @typescript-eslint/no-explicit-any */
const createSendMessages = require('kafkajs/src/producer/sendMessages') as (o: any) => (req: any) => Promise<any[]>
const createEosManager = require('kafkajs/src/producer/eosManager') as (o: any) => any
const createRetry = require('kafkajs/src/retry') as (o: any) => any
const Cluster = require('kafkajs/src/cluster') as { prototype: { findLeaderForPartitions: (this: any, topic: string, partitions: number[]) => Record<string, number[]> } }
const { createLogger, LEVELS } = require('kafkajs/src/loggers') as { createLogger: (o: any) => any, LEVELS: Record<string, number> }
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode: (code: number) => Error }
const { KafkaJSRequestTimeoutError } = require('kafkajs/src/errors') as { KafkaJSRequestTimeoutError: new (m: string) => Error }

const NOT_LEADER_FOR_PARTITION = 6
const MESSAGE_TOO_LARGE = 10
const NOT_ENOUGH_REPLICAS = 19
const OUT_OF_ORDER_SEQUENCE_NUMBER = 45
const TOPIC = 'out'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Deferred { promise: Promise<void>, resolve: () => void }
function deferred (): Deferred {
  let resolve!: () => void
  const promise = new Promise<void>((r) => { resolve = r })
  return { promise, resolve }
}

/** A partition's log on the simulated cluster, with Kafka's per-producer duplicate detection. */
class PartitionLog {
  readonly records: string[] = []
  nextSequence = 0
  readonly batches: Array<{ first: number, count: number, baseOffset: number }> = []

  append (firstSequence: number, values: string[]): number {
    const dup = this.batches.find((b) => b.first === firstSequence && b.count === values.length)
    if (dup) return dup.baseOffset
    if (firstSequence !== this.nextSequence) throw createErrorFromCode(OUT_OF_ORDER_SEQUENCE_NUMBER)
    const baseOffset = this.records.length
    this.records.push(...values)
    this.nextSequence += values.length
    this.batches.push({ first: firstSequence, count: values.length, baseOffset })
    if (this.batches.length > 5) this.batches.shift()
    return baseOffset
  }
}

/** 'ok', or 'append-then-timeout' (the broker writes, the answer is lost). */
type Hook = (call: number, partitions: number[]) => Promise<string> | string

/**
 * A simulated cluster: `leaders[p]` is the broker leading partition p; `hooks[nodeId]` runs
 * before each produce to that broker and may wait, throw, or let the append happen and the
 * answer be lost.
 */
class SimCluster {
  readonly logs = new Map<number, PartitionLog>()
  readonly produceCalls = new Map<number, number>()
  readonly hooks = new Map<number, Hook>()
  readonly targetTopics = new Set<string>()
  readonly retry = { initialRetryTime: 5, maxRetryTime: 40, retries: 30 }
  onRefresh: () => void = () => {}
  readonly brokers = new Map<number, any>()
  readonly coordinator = {
    nodeId: 99,
    initProducerId: async () => ({ producerId: 4242, producerEpoch: 0 }),
    addPartitionsToTxn: async () => ({}),
  }

  constructor (readonly leaders: number[]) {
    for (let p = 0; p < leaders.length; p++) this.logs.set(p, new PartitionLog())
  }

  log (p: number): string[] { return this.logs.get(p)!.records }

  #broker (nodeId: number): any {
    let b = this.brokers.get(nodeId)
    if (b) return b
    b = {
      nodeId,
      produce: async ({ topicData }: any) => {
        const call = (this.produceCalls.get(nodeId) ?? 0) + 1
        this.produceCalls.set(nodeId, call)
        const parts = topicData.flatMap((t: any) => t.partitions.map((p: any) => p.partition))
        const outcome = await (this.hooks.get(nodeId)?.(call, parts) ?? 'ok')
        const responses = topicData.map((t: any) => ({
          topicName: t.topic,
          partitions: t.partitions.map((p: any) => ({
            partition: p.partition,
            errorCode: 0,
            baseOffset: String(this.logs.get(p.partition)!.append(p.firstSequence, p.messages.map((m: any) => String(m.value)))),
            logAppendTime: '-1',
            logStartOffset: '0',
          })),
        }))
        if (outcome === 'append-then-timeout') throw new KafkaJSRequestTimeoutError('Request Produce timed out')
        return { topics: responses, throttleTime: 0 }
      },
    }
    this.brokers.set(nodeId, b)
    return b
  }

  // The subset of KafkaJS's Cluster that the producer uses.
  async refreshMetadataIfNecessary (): Promise<void> {}
  async refreshMetadata (): Promise<void> { this.onRefresh() }
  async addMultipleTargetTopics (topics: string[]): Promise<void> { for (const t of topics) this.targetTopics.add(t) }
  isConnected (): boolean { return true }
  async connect (): Promise<void> {}
  removeBroker (): void {}
  findTopicPartitionMetadata (topic: string): any[] {
    return topic === TOPIC ? this.leaders.map((leader, partitionId) => ({ partitionId, leader })) : []
  }

  findLeaderForPartitions (topic: string, partitions: number[]): Record<string, number[]> {
    return Cluster.prototype.findLeaderForPartitions.call(this, topic, partitions)
  }

  async findBroker ({ nodeId }: { nodeId: string | number }): Promise<any> { return this.#broker(Number(nodeId)) }
  async findGroupCoordinator (): Promise<any> { return this.coordinator }
}

const byKey = () => ({ message }: any) => Number(message.key)

async function transactionalSend (cluster: SimCluster, partitioner: () => (a: any) => number = byKey) {
  const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} })
  const eosManager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx-sim' })
  await eosManager.initProducerId()
  eosManager.beginTransaction()
  const sendMessages = createSendMessages({ logger, cluster, partitioner: partitioner(), eosManager, retrier: createRetry(cluster.retry) })
  const send = (messages: Array<{ key: string, value: string }>) =>
    sendMessages({ acks: -1, timeout: 30_000, compression: 0, topicMessages: [{ topic: TOPIC, messages }] })
  return { send, eosManager }
}

const msgs = (partition: number, prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ key: String(partition), value: `${prefix}${i}` }))

test('a request still in flight when another broker fails is not sent again (fails unpatched)', async () => {
  // Partition 0 on broker 1 answers late; partition 1 on broker 2 fails once, retriably.
  const sim = new SimCluster([1, 2])
  const release = deferred()
  const secondTry = deferred()
  sim.hooks.set(1, async () => { await release.promise; return 'ok' })
  sim.hooks.set(2, (call) => {
    if (call === 1) throw createErrorFromCode(NOT_ENOUGH_REPLICAS)
    secondTry.resolve()
    return 'ok'
  })
  const { send } = await transactionalSend(sim)
  const sent = send([...msgs(0, 'a', 3), ...msgs(1, 'b', 3)])
  await secondTry.promise
  await sleep(30) // further attempts would have been made by now
  release.resolve()
  const responses = await sent
  assert.deepEqual(sim.log(0), ['a0', 'a1', 'a2'], 'partition 0 written once')
  assert.deepEqual(sim.log(1), ['b0', 'b1', 'b2'])
  assert.equal(sim.produceCalls.get(1), 1, 'one produce request to broker 1')
  assert.deepEqual(responses.map((r) => r.partition).sort(), [0, 1])
})

test('a partition acknowledged by one broker is not sent again when its leadership moves (fails unpatched)', async () => {
  const sim = new SimCluster([1, 2])
  sim.hooks.set(2, (call) => { if (call === 1) throw createErrorFromCode(NOT_LEADER_FOR_PARTITION); return 'ok' })
  // Broker 1 hands partition 0 to broker 2 after it acknowledged partition 0's batch.
  sim.onRefresh = () => { sim.leaders[0] = 2 }
  const { send } = await transactionalSend(sim)
  await send([...msgs(0, 'a', 2), ...msgs(1, 'b', 2)])
  assert.deepEqual(sim.log(0), ['a0', 'a1'])
  assert.deepEqual(sim.log(1), ['b0', 'b1'])
})

test('a failed partition whose leader moves to a broker that already answered is still sent (fails unpatched)', async () => {
  const sim = new SimCluster([1, 2])
  sim.hooks.set(2, (call) => { if (call === 1) throw createErrorFromCode(NOT_LEADER_FOR_PARTITION); return 'ok' })
  sim.onRefresh = () => { sim.leaders[1] = 1 }
  const { send } = await transactionalSend(sim)
  await send([...msgs(0, 'a', 2), ...msgs(1, 'b', 2)])
  assert.deepEqual(sim.log(0), ['a0', 'a1'])
  assert.deepEqual(sim.log(1), ['b0', 'b1'], 'partition 1 written, not dropped')
})

test('messages keep the partition chosen at the first attempt (fails unpatched)', async () => {
  // A partitioner that does not look at keys (round robin): regrouping on a retry moved
  // messages already written to partition 0 into partition 1's retry, and lost others.
  const sim = new SimCluster([1, 2])
  sim.hooks.set(2, (call) => { if (call === 1) throw createErrorFromCode(NOT_ENOUGH_REPLICAS); return 'ok' })
  const roundRobin = () => { let n = 0; return () => n++ % 2 }
  const { send } = await transactionalSend(sim, roundRobin)
  await send(['m0', 'm1', 'm2'].map((value) => ({ key: 'x', value })))
  assert.deepEqual([...sim.log(0), ...sim.log(1)].sort(), ['m0', 'm1', 'm2'])
})

test('a failed call returns only after its requests have settled (fails unpatched)', async () => {
  const sim = new SimCluster([1, 2])
  const release = deferred()
  let broker1Answered = false
  sim.hooks.set(1, async () => { await release.promise; broker1Answered = true; return 'ok' })
  sim.hooks.set(2, () => { throw createErrorFromCode(MESSAGE_TOO_LARGE) })
  const { send } = await transactionalSend(sim)
  const sent = send([...msgs(0, 'a', 1), ...msgs(1, 'b', 1)])
  setTimeout(() => release.resolve(), 50)
  await assert.rejects(sent)
  assert.ok(broker1Answered, 'no produce of the failed call is left in flight (it could land after an abort)')
})

test('a re-send whose first answer was lost keeps its sequence numbers and is deduplicated', async () => {
  const sim = new SimCluster([1])
  sim.hooks.set(1, (call) => call === 1 ? 'append-then-timeout' : 'ok')
  const { send } = await transactionalSend(sim)
  await send(msgs(0, 'a', 3))
  assert.equal(sim.produceCalls.get(1), 2)
  assert.deepEqual(sim.log(0), ['a0', 'a1', 'a2'])
  await send(msgs(0, 'c', 1))
  assert.deepEqual(sim.log(0), ['a0', 'a1', 'a2', 'c0'])
})

test('a call that gives up returns its sequence numbers, so the next send is accepted', async () => {
  const sim = new SimCluster([1])
  sim.hooks.set(1, (call) => { if (call === 1) throw createErrorFromCode(MESSAGE_TOO_LARGE); return 'ok' })
  const { send } = await transactionalSend(sim)
  await assert.rejects(send(msgs(0, 'big', 2)))
  await send(msgs(0, 'a', 1))
  assert.deepEqual(sim.log(0), ['a0'])
})

test('concurrent calls to one partition while one of them retries are each written once, in order', async () => {
  const sim = new SimCluster([1])
  sim.hooks.set(1, async (call) => {
    if (call === 1) { await sleep(20); throw createErrorFromCode(NOT_ENOUGH_REPLICAS) }
    return 'ok'
  })
  const { send } = await transactionalSend(sim)
  const first = send(msgs(0, 'a', 2))
  await sleep(25)
  const second = send(msgs(0, 'b', 2))
  await Promise.all([first, second])
  const log = sim.log(0)
  assert.deepEqual([...log].sort(), ['a0', 'a1', 'b0', 'b1'])
})
