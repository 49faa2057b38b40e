/**
 * One stage on Kafka: a consumer group reading the stage's input topic, up to `concurrency`
 * records in flight across its partitions, and commits that never skip unfinished work.
 *
 * Fetching is decoupled from processing: KafkaJS's batch callback only queues records and
 * returns, so heartbeats and fetches continue while LLM calls take seconds; partitions whose
 * queue grows past the buffer limits are paused and resumed as it drains.
 *
 * Exactly-once (default): each input partition has its own transactional producer
 * (transactional.id = group + topic + partition). A commit is one Kafka transaction holding the
 * outputs of the records it covers and the partition's new offset with, in its metadata, the
 * records completed beyond that offset (see offset-tracker.ts). A new owner of the partition
 * fences the old one by initialising the same transactional id before it reads the committed
 * offset — KafkaJS has no consumer-generation fencing (KIP-447), so this per-partition id is
 * what keeps a zombie from committing. After an indefinite error (a timeout) the producer is
 * recreated rather than trusted.
 *
 * At-least-once: outputs are written with acks=all, then the offset (and metadata) committed.
 */
import type { Consumer, Kafka, Offsets, Producer } from 'kafkajs'
import type { Logger } from '../../log.ts'
import { PartitionProgress, METADATA_INTAKE_LIMIT, decodeCompleted } from '../offset-tracker.ts'
import { Scheduler, sharedAbortController, withDeadline } from '../scheduler.ts'
import { connectFencing } from './client.ts'
import type { EncodedRecord, RawRecord, StageEngine } from '../stage-engine.ts'

export type DeliveryMode = 'exactly-once' | 'at-least-once'

export interface KafkaStageOptions {
  kafka: Kafka
  engine: StageEngine
  groupId: string
  mode: DeliveryMode
  concurrency: number
  /** Records queued (fetched, not started) per partition before it is paused. */
  maxQueuedPerPartition: number
  /** Bytes of queued input across the stage before every partition is paused. */
  maxBufferedBytes: number
  commitIntervalMs: number
  /** Consumer group session timeout: how soon a crashed member's partitions move on. */
  sessionTimeoutMs: number
  logger: Logger
  /**
   * Fault injection for tests (as in Apache Kafka's own exactly-once system test): abort this
   * share of transactions at random, just before they would commit.
   */
  abortRate?: number
}

interface PartitionState {
  partition: number
  lane: string
  ready: Promise<void>
  progress: PartitionProgress
  outputs: Map<number, EncodedRecord[]>
  producer: Producer | undefined
  abort: AbortController
  commitTimer: NodeJS.Timeout | undefined
  committing: Promise<void> | undefined
  revoked: boolean
  paused: boolean
}

export interface StageStats {
  processed: number
  deadLettered: number
  skipped: number
  commits: number
  abortedCommits: number
  inFlight: number
  queued: number
  bufferedBytes: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export class KafkaStage {
  readonly #o: KafkaStageOptions
  readonly #topic: string
  readonly #scheduler: Scheduler
  readonly #partitions = new Map<number, PartitionState>()
  readonly #logger: Logger
  #consumer: Consumer | undefined
  #plainProducer: Producer | undefined
  #bufferedBytes = 0
  #stopping = false
  /** Set after the final commits: nothing may commit after it. */
  #closed = false
  readonly stats: StageStats = { processed: 0, deadLettered: 0, skipped: 0, commits: 0, abortedCommits: 0, inFlight: 0, queued: 0, bufferedBytes: 0 }

  constructor (o: KafkaStageOptions) {
    this.#o = o
    this.#topic = o.engine.inputTopic
    this.#scheduler = new Scheduler(o.concurrency)
    this.#logger = o.logger.child({ stage: o.engine.stage.name, group: o.groupId })
  }

  async start (): Promise<void> {
    const { kafka, groupId } = this.#o
    if (this.#o.mode === 'at-least-once') {
      this.#plainProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      await this.#plainProducer.connect()
    }
    // Small fetches: a partition is paused only after a fetch lands, so one fetch per partition is
    // the most a queue can overshoot its limit (and compressed batches inflate several times).
    const consumer = kafka.consumer({ groupId, readUncommitted: false, maxBytesPerPartition: 256 * 1024, maxBytes: 4 * 1024 * 1024, sessionTimeout: this.#o.sessionTimeoutMs, rebalanceTimeout: Math.max(10_000, 2 * this.#o.sessionTimeoutMs), heartbeatInterval: Math.max(500, Math.floor(this.#o.sessionTimeoutMs / 10)) })
    this.#consumer = consumer
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = new Set((e.payload.memberAssignment[this.#topic] ?? []) as number[])
      for (const p of [...this.#partitions.keys()]) if (!assigned.has(p)) this.#revoke(p, 'rebalance')
      this.#logger.info({ partitions: [...assigned] }, 'partitions assigned')
    })
    await consumer.connect()
    await consumer.subscribe({ topic: this.#topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset }) => {
        const state = this.#state(batch.partition)
        await state.ready
        if (state.revoked || this.#stopping) return
        for (const m of batch.messages) {
          const offset = Number(m.offset)
          if (state.progress.admit(offset) === 'skip') { this.stats.skipped++; continue }
          const raw: RawRecord = {
            key: m.key,
            value: m.value,
            partition: batch.partition,
            offset: m.offset,
            timestamp: Number(m.timestamp),
            headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('utf8') : String(v)])),
          }
          const size = (m.value?.length ?? 0) + (m.key?.length ?? 0)
          this.#bufferedBytes += size
          this.#scheduler.push(state.lane, () => this.#work(state, raw, offset, size))
        }
        // The fetch position moves on; what is committed is decided by the progress tracker.
        const last = batch.messages[batch.messages.length - 1]
        if (last) resolveOffset(last.offset)
        this.#applyBackpressure()
      },
    })
  }

  #state (partition: number): PartitionState {
    let s = this.#partitions.get(partition)
    if (s) return s
    const lane = `${this.#topic}-${partition}`
    s = {
      partition, lane, progress: new PartitionProgress(0), outputs: new Map(), producer: undefined,
      abort: sharedAbortController(), commitTimer: undefined, committing: undefined, revoked: false, paused: false,
      ready: Promise.resolve(),
    }
    const state = s
    this.#partitions.set(partition, state)
    this.#scheduler.addLane(lane, () => state.revoked || state.progress.metadataBytes() > METADATA_INTAKE_LIMIT)
    state.ready = this.#initPartition(state).catch((err: unknown) => {
      // Forget the partition so that the next batch tries again from scratch.
      this.#partitions.delete(partition)
      this.#scheduler.dropLane(lane)
      throw err
    })
    return state
  }

  /** Fence any earlier owner (EOS), then read the committed offset and its metadata. */
  async #initPartition (state: PartitionState): Promise<void> {
    if (this.#o.mode === 'exactly-once') state.producer = await this.#newProducer(state.partition)
    const admin = this.#o.kafka.admin()
    await admin.connect()
    try {
      const [topic] = await admin.fetchOffsets({ groupId: this.#o.groupId, topics: [this.#topic] })
      const p = topic?.partitions.find((x) => x.partition === state.partition)
      const committed = p && Number(p.offset) >= 0 ? Number(p.offset) : 0
      const done = decodeCompleted(committed, p?.metadata ?? null)
      state.progress = new PartitionProgress(committed, done)
      this.#logger.info({ partition: state.partition, committed, completedBeyond: done.length }, 'partition ready')
    } finally {
      await admin.disconnect()
    }
  }

  async #newProducer (partition: number): Promise<Producer> {
    return await connectFencing(this.#o.kafka, `${this.#o.groupId}.${this.#topic}.${partition}`)
  }

  async #work (state: PartitionState, raw: RawRecord, offset: number, size: number): Promise<void> {
    try {
      for (let attempt = 0; ; attempt++) {
        if (state.revoked) return
        try {
          const outcome = await this.#o.engine.run(raw, state.abort.signal)
          state.outputs.set(offset, outcome.outputs)
          state.progress.complete(offset)
          if (outcome.deadLettered) this.stats.deadLettered++
          else this.stats.processed++
          this.#scheduleCommit(state)
          return
        } catch (err) {
          if (state.abort.signal.aborted) return
          // Not the record's fault (e.g. the registry is down): wait and try the record again.
          const wait = Math.min(30_000, 200 * 2 ** Math.min(attempt, 8))
          this.#logger.error({ partition: state.partition, offset, err: (err as Error).message, retryInMs: wait }, 'infrastructure error while processing; retrying the record')
          await sleep(wait)
        }
      }
    } finally {
      this.#bufferedBytes -= size
      this.#applyBackpressure()
    }
  }

  #scheduleCommit (state: PartitionState): void {
    if (state.commitTimer || state.revoked || this.#closed) return
    state.commitTimer = setTimeout(() => {
      state.commitTimer = undefined
      void this.#commit(state)
    }, this.#o.commitIntervalMs)
  }

  /** Commits what the partition's progress allows; one commit at a time per partition. */
  #commit (state: PartitionState): Promise<void> {
    if (state.committing) {
      // Runs again after the current one, so completions that arrived meanwhile are covered.
      return state.committing.then(() => this.#commit(state))
    }
    state.committing = this.#commitOnce(state).finally(() => { state.committing = undefined })
    return state.committing
  }

  async #commitOnce (state: PartitionState): Promise<void> {
    if (state.revoked || this.#closed) return
    const plan = state.progress.plan()
    if (!plan) return
    const records = plan.include.flatMap((o) => state.outputs.get(o) ?? [])
    const byTopic = new Map<string, Array<{ key: string, value: Buffer | null }>>()
    for (const r of records) {
      let list = byTopic.get(r.topic)
      if (!list) byTopic.set(r.topic, list = [])
      list.push({ key: r.key, value: r.value })
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
    // KafkaJS sends per-partition metadata with the offset (TxnOffsetCommit, OffsetCommit); its
    // types omit the field.
    const offsets = { topics: [{ topic: this.#topic, partitions: [{ partition: state.partition, offset: String(plan.offset), metadata: plan.metadata }] }] } as unknown as Offsets
    try {
      if (this.#o.mode === 'exactly-once') {
        const producer = state.producer!
        const tx = await producer.transaction()
        try {
          if (topicMessages.length) await tx.sendBatch({ topicMessages, acks: -1 })
          await tx.sendOffsets({ ...offsets, consumerGroupId: this.#o.groupId })
          if (this.#o.abortRate && Math.random() < this.#o.abortRate) {
            await tx.abort()
            this.stats.abortedCommits++
            this.#scheduleCommit(state) // the outputs are kept and go out in the next transaction
            return
          }
          await tx.commit()
        } catch (err) {
          await tx.abort().catch(() => {})
          throw err
        }
      } else {
        if (topicMessages.length) await this.#plainProducer!.sendBatch({ topicMessages, acks: -1 })
        await this.#consumer!.commitOffsets([{ topic: this.#topic, partition: state.partition, offset: String(plan.offset), metadata: plan.metadata } as never])
      }
    } catch (err) {
      this.stats.abortedCommits++
      const e = err as Error & { type?: string }
      if (e.type === 'PRODUCER_FENCED' || e.type === 'INVALID_PRODUCER_EPOCH' || /fenced/i.test(e.message)) {
        this.#logger.warn({ partition: state.partition }, 'another consumer took over this partition (producer fenced); dropping it')
        this.#revoke(state.partition, 'fenced')
        return
      }
      // An indefinite error: the transaction's fate is unknown to this producer. Start over with
      // a fresh producer (which aborts whatever was open) and keep the outputs for the next try.
      this.#logger.warn({ partition: state.partition, err: e.message }, 'commit failed; recreating the producer and retrying')
      if (this.#o.mode === 'exactly-once') {
        await state.producer?.disconnect().catch(() => {})
        if (!state.revoked) state.producer = await this.#newProducer(state.partition).catch(() => undefined)
        if (!state.producer) { this.#revoke(state.partition, 'producer unavailable'); return }
      }
      await sleep(200)
      this.#scheduleCommit(state)
      return
    }
    state.progress.committedPlan(plan)
    for (const o of plan.include) state.outputs.delete(o)
    this.stats.commits++
    this.#scheduler.pump() // a partition blocked on metadata size may start again
  }

  #revoke (partition: number, why: string): void {
    const state = this.#partitions.get(partition)
    if (!state) return
    state.revoked = true
    state.abort.abort(new Error(`partition ${partition} ${why}`))
    clearTimeout(state.commitTimer)
    this.#scheduler.dropLane(state.lane)
    this.#partitions.delete(partition)
    void state.producer?.disconnect().catch(() => {})
    this.#logger.info({ partition, why, uncommitted: state.progress.uncommitted }, 'partition released; uncommitted work is left to the next owner')
  }

  #applyBackpressure (): void {
    if (!this.#consumer || this.#stopping) return
    const overBytes = this.#bufferedBytes > this.#o.maxBufferedBytes
    for (const s of this.#partitions.values()) {
      const queued = this.#scheduler.queuedIn(s.lane)
      const shouldPause = overBytes || queued >= this.#o.maxQueuedPerPartition
      const canResume = !overBytes && queued <= this.#o.maxQueuedPerPartition / 2 && this.#bufferedBytes <= this.#o.maxBufferedBytes / 2
      if (shouldPause && !s.paused) { this.#consumer.pause([{ topic: this.#topic, partitions: [s.partition] }]); s.paused = true }
      else if (s.paused && canResume) { this.#consumer.resume([{ topic: this.#topic, partitions: [s.partition] }]); s.paused = false }
    }
  }

  snapshot (): StageStats {
    return { ...this.stats, inFlight: this.#scheduler.inFlight, queued: this.#scheduler.queued, bufferedBytes: this.#bufferedBytes }
  }

  /**
   * Stops fetching, lets in-flight records finish within `deadlineMs`, commits what finished,
   * and leaves the group. Records not finished by then are abandoned uncommitted: the next
   * owner redoes them, and their outputs were never written.
   */
  async stop (deadlineMs: number): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    const consumer = this.#consumer
    if (consumer) consumer.pause([{ topic: this.#topic }])
    for (const s of this.#partitions.values()) this.#scheduler.dropLane(s.lane) // queued, not started: refetched later
    const drained = await withDeadline(this.#scheduler.whenNoneRunning(), deadlineMs)
    if (!drained) this.#logger.warn({ inFlight: this.#scheduler.inFlight }, 'shutdown deadline passed; abandoning in-flight records uncommitted')
    for (const s of this.#partitions.values()) {
      if (!drained) s.abort.abort(new Error('shutdown'))
      clearTimeout(s.commitTimer)
      s.commitTimer = undefined
      await this.#commit(s).catch((err: unknown) => this.#logger.error({ partition: s.partition, err: (err as Error).message }, 'final commit failed'))
    }
    this.#closed = true
    await consumer?.disconnect()
    await Promise.all([...this.#partitions.values()].map((s) => s.producer?.disconnect().catch(() => {})))
    await this.#plainProducer?.disconnect()
    this.#partitions.clear()
  }
}
