/**
 * One stage on Kafka: a consumer group reading the stage's input topic, up to `concurrency`
 * records in flight across its partitions, and commits that never skip unfinished work.
 *
 * Fetching is decoupled from processing: KafkaJS's batch callback only queues records and
 * returns — it never waits for the network — so heartbeats and fetches continue while LLM calls
 * take seconds; partitions whose queue grows past the buffer limits are paused and resumed as
 * it drains.
 *
 * Exactly-once (default): each input partition has its own transactional producer
 * (transactional.id = group + topic + partition). A commit is one Kafka transaction holding the
 * outputs of the records it covers and the partition's new offset with, in its metadata, the
 * records completed beyond that offset (see offset-tracker.ts). KafkaJS has no consumer-generation
 * fencing (KIP-447), so this per-partition id is what keeps a zombie from committing.
 *
 * A partition's life here has one rule: **its progress always starts from the offset committed
 * at the broker, read after this member's producer has fenced every earlier one** — never from
 * what this member assumed. A partition starts (or restarts, after a commit whose fate is
 * unknown) paused; its producer is initialised (which aborts whatever an earlier producer left
 * open), the committed offset and metadata are re-read, the consumer is sought to that offset
 * and resumed. If that cannot be done (a broker is down) it is retried, paused, until it can —
 * or until the partition moves to another member. Records are never skipped to catch up.
 *
 * At-least-once: outputs are written with acks=all, then the offset (and metadata) committed.
 */
import type { Consumer, Kafka, Offsets, Producer } from 'kafkajs'
import { SynthqError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { PartitionProgress, METADATA_INTAKE_LIMIT, decodeCompleted } from '../offset-tracker.ts'
import { Scheduler, sharedAbortController, withDeadline } from '../scheduler.ts'
import { runUntilDone } from '../retry.ts'
import { recordFinished } from '../record-events.ts'
import { channels, publish, type AbortReason } from '../../diagnostics/channels.ts'
import { connectFencing } from './client.ts'
import { bridgeConsumer, bridgeProducer, publishPartition, publishRebalance } from './kafka-diagnostics.ts'
import { publishStageHalted } from '../lifecycle-events.ts'
import { StageHaltedError, type EncodedRecord, type RawRecord, type StageEngine } from '../stage-engine.ts'

export type DeliveryMode = 'exactly-once' | 'at-least-once'

/** Tests only: a share of transactions to abort at random, or a decision per commit of a stage. */
export type AbortInjection = number | ((stage: string) => boolean)

/** Whether to abort this commit of `stage` (fault injection; never set outside tests). */
export function injectAbort (injection: AbortInjection | undefined, stage: string): boolean {
  if (injection === undefined) return false
  return typeof injection === 'function' ? injection(stage) : injection > 0 && Math.random() < injection
}

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
   * How long one record may keep failing for reasons that are not its own (the schema registry
   * unreachable, say) before the stage gives up and reports it through `onFatal`. Default 5 min.
   */
  infraRetryLimitMs?: number
  /** Longest wait for one Kafka call of a commit before it counts as failed. Default 60 s. */
  kafkaCallTimeoutMs?: number
  /**
   * The stage stopped taking records for a reason a retry does not fix (an LLM endpoint that
   * refuses the key, an outage past `infraRetryLimitMs`). Work in flight is left uncommitted.
   */
  onFatal?: (err: Error) => void
  /**
   * Fault injection for tests (as in Apache Kafka's own exactly-once system test): abort this
   * share of transactions at random, just before they would commit — or those for which the
   * function says so (a test that must see aborts, deterministically).
   */
  abortRate?: AbortInjection
  /** Fault injection for tests: see {@link StageFaults}. */
  faults?: StageFaults
}

/**
 * Faults a test can inject where real ones are hard to time: a commit whose outcome is unknown
 * to the stage (it failed, or it went through and the answer was lost) and a partition that
 * cannot start (its broker is away).
 */
export interface StageFaults {
  commit?: (partition: number) => 'failed' | 'lost-response' | undefined
  start?: (partition: number, attempt: number) => boolean
}

type Phase = 'starting' | 'running' | 'released'

interface PartitionState {
  partition: number
  lane: string
  phase: Phase
  progress: PartitionProgress
  outputs: Map<number, EncodedRecord[]>
  producer: Producer | undefined
  abort: AbortController
  commitTimer: NodeJS.Timeout | undefined
  committing: Promise<void> | undefined
  /** Paused by this stage (while starting, or for backpressure). */
  paused: boolean
  /** Bytes of records queued on this partition's lane and not started yet. */
  queuedBytes: number
}

export interface StageStats {
  processed: number
  deadLettered: number
  skipped: number
  commits: number
  abortedCommits: number
  /** Partitions started over from their committed offset after a commit of unknown outcome. */
  restarts: number
  /** Records that failed for reasons not their own and were tried again. */
  infraRetries: number
  inFlight: number
  queued: number
  bufferedBytes: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function isFencedError (err: unknown): boolean {
  const e = err as { type?: string, message?: string }
  return e.type === 'PRODUCER_FENCED' || e.type === 'INVALID_PRODUCER_EPOCH' || /fenced|newer producer/i.test(e.message ?? '')
}

/** `p`, or a rejection naming `what` if it has not settled within `ms`. */
async function bounded<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms) })
  try {
    return await Promise.race([p, expired])
  } finally {
    clearTimeout(timer)
  }
}

export class KafkaStage {
  readonly #o: KafkaStageOptions
  readonly #topic: string
  readonly #scheduler: Scheduler
  readonly #partitions = new Map<number, PartitionState>()
  /** Partitions the group gave this member at its last join. */
  #assigned = new Set<number>()
  readonly #logger: Logger
  readonly #callTimeout: number
  #consumer: Consumer | undefined
  #plainProducer: Producer | undefined
  #bufferedBytes = 0
  #stopping = false
  #halted: Error | undefined
  /** Set after the final commits: nothing may commit after it. */
  #closed = false
  readonly stats: StageStats = { processed: 0, deadLettered: 0, skipped: 0, commits: 0, abortedCommits: 0, restarts: 0, infraRetries: 0, inFlight: 0, queued: 0, bufferedBytes: 0 }

  constructor (o: KafkaStageOptions) {
    this.#o = o
    this.#topic = o.engine.inputTopic
    this.#scheduler = new Scheduler(o.concurrency)
    this.#logger = o.logger.child({ stage: o.engine.stage.name, group: o.groupId })
    this.#callTimeout = o.kafkaCallTimeoutMs ?? 60_000
  }

  /** The error that stopped this stage from taking records, if any. */
  get halted (): Error | undefined { return this.#halted }

  async start (): Promise<void> {
    const { kafka, groupId } = this.#o
    if (this.#o.mode === 'at-least-once') {
      this.#plainProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      bridgeProducer(this.#plainProducer, { stage: this.#o.engine.stage.name, group: groupId })
      await this.#plainProducer.connect()
    }
    // Small fetches: a partition is paused only after a fetch lands, so one fetch per partition is
    // the most a queue can overshoot its limit (and compressed batches inflate several times).
    // A fetch waits at most 500 ms (the Java client's default; KafkaJS's is 5 s): KafkaJS also
    // sleeps that long when every partition of a broker is paused, as a partition is while it starts.
    const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 500, maxBytesPerPartition: 256 * 1024, maxBytes: 4 * 1024 * 1024, sessionTimeout: this.#o.sessionTimeoutMs, rebalanceTimeout: Math.max(10_000, 2 * this.#o.sessionTimeoutMs), heartbeatInterval: Math.max(500, Math.floor(this.#o.sessionTimeoutMs / 10)) })
    this.#consumer = consumer
    bridgeConsumer(consumer, { stage: this.#o.engine.stage.name, group: groupId })
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.#onAssignment((e.payload.memberAssignment[this.#topic] ?? []) as number[], e.payload.memberId))
    // A consumer that crashed for good fetches nothing more: a silent stall unless said and acted on.
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error, restart: boolean }
      if (restart || this.#stopping) { this.#logger.warn({ err: error.message }, 'the consumer crashed; KafkaJS restarts it'); return }
      this.#halt(new SynthqError('SYNTHQ_INFRA_UNAVAILABLE', `stage ${this.#o.engine.stage.name}: its Kafka consumer stopped for good (${error.message})`, { cause: error }))
    })
    await consumer.connect()
    await consumer.subscribe({ topic: this.#topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, isStale }) => {
        if (this.#stopping || this.#halted) return
        const state = this.#partitions.get(batch.partition) ?? this.#startPartition(batch.partition, 'assigned')
        // Not resolved: after the start's seek the same records are fetched again.
        if (state.phase !== 'running') { this.#pause(state); return }
        if (isStale()) return
        for (const m of batch.messages) {
          const offset = Number(m.offset)
          if (state.progress.admit(offset) === 'skip') {
            this.stats.skipped++
            recordFinished(this.#o.engine, 'kafka', { partition: batch.partition, offset: m.offset }, undefined)
            continue
          }
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
          state.queuedBytes += size
          this.#scheduler.push(state.lane, () => this.#work(state, raw, offset, size))
        }
        // The fetch position moves on; what is committed is decided by the progress tracker.
        const last = batch.messages[batch.messages.length - 1]
        if (last) resolveOffset(last.offset)
        this.#applyBackpressure()
      },
    })
  }

  /**
   * The group's assignment after a join. Partitions that moved away are released; KafkaJS keeps
   * a partition's pause across rebalances, so an assigned partition this stage holds no paused
   * state for is resumed — else a partition that came back would never be fetched again.
   */
  #onAssignment (partitions: number[], memberId: string): void {
    publishRebalance({ stage: this.#o.engine.stage.name, group: this.#o.groupId, topic: this.#topic, memberId }, this.#assigned, partitions)
    this.#assigned = new Set(partitions)
    for (const p of [...this.#partitions.keys()]) if (!this.#assigned.has(p)) this.#release(p, 'rebalance')
    if (this.#stopping || this.#halted) { this.#consumerCall('pause', []); return }
    const resume = partitions.filter((p) => !this.#partitions.get(p)?.paused)
    const pause = partitions.filter((p) => this.#partitions.get(p)?.paused)
    if (resume.length) this.#consumerCall('resume', resume)
    // After KafkaJS restarted a crashed consumer nothing is paused in it any more.
    if (pause.length) this.#consumerCall('pause', pause)
    this.#logger.info({ partitions }, 'partitions assigned')
  }

  #startPartition (partition: number, why: string): PartitionState {
    const lane = `${this.#topic}-${partition}`
    const state: PartitionState = {
      partition, lane, phase: 'starting', progress: new PartitionProgress(0), outputs: new Map(), producer: undefined,
      abort: sharedAbortController(), commitTimer: undefined, committing: undefined, paused: false, queuedBytes: 0,
    }
    this.#partitions.set(partition, state)
    this.#scheduler.addLane(lane, () => state.phase !== 'running' || state.progress.metadataBytes() > METADATA_INTAKE_LIMIT)
    this.#pause(state)
    this.#publishPartition(partition, 'starting', why)
    void this.#initPartition(state, why)
    return state
  }

  /**
   * Fences any earlier owner (exactly-once), reads the committed offset and its metadata, seeks
   * the consumer there and resumes. Retried while the partition is still this member's.
   */
  async #initPartition (state: PartitionState, why: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (state.phase !== 'starting' || this.#stopping) return
      let producer: Producer | undefined
      try {
        if (this.#o.faults?.start?.(state.partition, attempt)) throw new Error('simulated: the partition\'s broker cannot be reached')
        if (this.#o.mode === 'exactly-once') producer = await bounded(this.#newProducer(state.partition), this.#callTimeout, 'initialising the transactional producer')
        const { committed, done } = await bounded(this.#readCommitted(state.partition), this.#callTimeout, 'reading the committed offset')
        if (state.phase !== 'starting' || this.#stopping) { await producer?.disconnect().catch(() => {}); return }
        this.#consumer?.seek({ topic: this.#topic, partition: state.partition, offset: String(committed) }) // throws while KafkaJS restarts the consumer: tried again
        state.producer = producer
        state.progress = new PartitionProgress(committed, done)
        state.phase = 'running'
        this.#logger.info({ partition: state.partition, why, committed, completedBeyond: done.length }, 'partition ready')
        this.#publishPartition(state.partition, 'started', why, committed)
        this.#resumeIfRoom(state)
        return
      } catch (err) {
        await producer?.disconnect().catch(() => {})
        if (isFencedError(err)) { this.#release(state.partition, 'fenced while starting', { fenced: true }); return }
        const wait = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6))
        this.#logger.warn({ partition: state.partition, err: (err as Error).message, attempt, retryInMs: wait }, 'partition could not start; it stays paused and is tried again')
        await sleep(wait)
      }
    }
  }

  async #readCommitted (partition: number): Promise<{ committed: number, done: number[] }> {
    const admin = this.#o.kafka.admin()
    await admin.connect()
    try {
      const [topic] = await admin.fetchOffsets({ groupId: this.#o.groupId, topics: [this.#topic] })
      const p = topic?.partitions.find((x) => x.partition === partition)
      const committed = p && Number(p.offset) >= 0 ? Number(p.offset) : 0
      return { committed, done: decodeCompleted(committed, p?.metadata ?? null) }
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }

  async #newProducer (partition: number): Promise<Producer> {
    const transactionalId = `${this.#o.groupId}.${this.#topic}.${partition}`
    return await connectFencing(this.#o.kafka, transactionalId, { bridge: { stage: this.#o.engine.stage.name, group: this.#o.groupId } })
  }

  async #work (state: PartitionState, raw: RawRecord, offset: number, size: number): Promise<void> {
    state.queuedBytes -= size
    try {
      const position = `${this.#topic}-${state.partition}-${offset}`
      const startedAt = performance.now()
      const outcome = await runUntilDone(async () => await this.#o.engine.run(raw, state.abort.signal), {
        mayStart: () => state.phase === 'running' && !this.#halted,
        mayKeep: () => state.phase === 'running',
        aborted: () => state.abort.signal.aborted,
        halts: (err) => {
          if (!(err instanceof StageHaltedError)) return false
          this.#halt(err.reason)
          return true
        },
        logger: this.#logger,
        record: { record: position },
        limitMs: this.#o.infraRetryLimitMs ?? 300_000,
        onGiveUp: (err, limit) => this.#halt(new SynthqError('SYNTHQ_INFRA_UNAVAILABLE', `stage ${this.#o.engine.stage.name}: record ${position} kept failing for ${Math.round(limit / 1000)} s for a reason that is not its own (${(err as Error).message}); stopping without committing it`, { cause: err, context: { record: position } })),
        onRetry: () => { this.stats.infraRetries++ },
      })
      if (!outcome) return
      state.outputs.set(offset, outcome.outputs)
      state.progress.complete(offset)
      if (outcome.deadLettered) this.stats.deadLettered++
      else this.stats.processed++
      recordFinished(this.#o.engine, 'kafka', raw, outcome, startedAt)
      this.#scheduleCommit(state)
    } finally {
      this.#bufferedBytes -= size
      this.#applyBackpressure()
    }
  }

  /** Stops taking records; in-flight and queued work stays uncommitted for the next owner. */
  #halt (err: Error): void {
    if (this.#halted) return
    this.#halted = err
    this.#logger.error({ err: err.message }, 'stage halted: no more records are taken and nothing unfinished is committed')
    this.#consumerCall('pause', [])
    publishStageHalted({ stage: this.#o.engine.stage.name, topology: this.#o.engine.topology, runner: 'kafka', runId: this.#o.engine.runId }, err)
    this.#o.onFatal?.(err)
  }

  #scheduleCommit (state: PartitionState, delayMs = this.#o.commitIntervalMs): void {
    if (state.commitTimer || state.phase !== 'running' || this.#closed) return
    state.commitTimer = setTimeout(() => {
      state.commitTimer = undefined
      void this.#commit(state)
    }, delayMs)
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
    if (state.phase !== 'running' || this.#closed) return
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
    const t = this.#callTimeout
    const startedAt = performance.now()
    try {
      if (this.#o.mode === 'exactly-once') {
        const producer = state.producer!
        const tx = await bounded(producer.transaction(), t, 'beginning a transaction')
        try {
          if (topicMessages.length) await bounded(tx.sendBatch({ topicMessages, acks: -1 }), t, 'writing the outputs')
          await bounded(tx.sendOffsets({ ...offsets, consumerGroupId: this.#o.groupId }), t, 'adding the offsets to the transaction')
          if (injectAbort(this.#o.abortRate, this.#o.engine.stage.name)) {
            await bounded(tx.abort(), t, 'aborting the transaction')
            this.stats.abortedCommits++
            this.#publishAbort(state, 'injected')
            this.#scheduleCommit(state) // the outputs are kept and go out in the next transaction
            return
          }
          const fault = this.#o.faults?.commit?.(state.partition)
          if (fault === 'failed') throw new Error('simulated: the commit failed')
          await bounded(tx.commit(), t, 'committing the transaction')
          if (fault === 'lost-response') throw Object.assign(new Error('simulated: the commit went through but its answer was lost'), { committed: true })
        } catch (err) {
          if (!isFencedError(err) && !(err as { committed?: boolean }).committed) await bounded(tx.abort(), t, 'aborting the transaction').catch(() => {})
          throw err
        }
      } else {
        if (topicMessages.length) await bounded(this.#plainProducer!.sendBatch({ topicMessages, acks: -1 }), t, 'writing the outputs')
        const fault = this.#o.faults?.commit?.(state.partition)
        if (fault === 'failed') throw new Error('simulated: the commit failed')
        await bounded(this.#consumer!.commitOffsets([{ topic: this.#topic, partition: state.partition, offset: String(plan.offset), metadata: plan.metadata } as never]), t, 'committing the offset')
        if (fault === 'lost-response') throw new Error('simulated: the commit went through but its answer was lost')
      }
    } catch (err) {
      this.stats.abortedCommits++
      this.#publishAbort(state, isFencedError(err) ? 'fenced' : 'failed', err as Error)
      if (state.phase !== 'running') return
      if (isFencedError(err)) {
        // Usually the partition has moved and the rebalance that says so is on its way; if it
        // is still this member's after a moment, it starts over (fencing the other in turn).
        this.#logger.warn({ partition: state.partition }, 'another member took over this partition (producer fenced); releasing it')
        this.#restart(state, 'fenced', Math.min(5_000, this.#o.sessionTimeoutMs / 2), { fenced: true })
        return
      }
      // The commit's outcome is unknown: it may have gone through. Whatever this member holds for
      // the partition is no longer to be trusted; start it over from what the broker says.
      this.#logger.warn({ partition: state.partition, err: (err as Error).message }, 'commit failed; the partition starts over from its committed offset')
      this.#restart(state, 'commit failed')
      return
    }
    state.progress.committedPlan(plan)
    for (const o of plan.include) state.outputs.delete(o)
    this.stats.commits++
    publish(channels.kafkaCommit, () => ({
      stage: this.#o.engine.stage.name, group: this.#o.groupId, topic: this.#topic, kind: 'records' as const, transactional: this.#o.mode === 'exactly-once',
      partitions: [{ partition: state.partition, offset: String(plan.offset) }], records: plan.include.length, outputs: records.length, durationMs: performance.now() - startedAt,
    }))
    this.#scheduler.pump() // a partition blocked on metadata size may start again
  }

  #publishAbort (state: PartitionState, reason: AbortReason, err?: Error): void {
    publish(channels.kafkaAbort, () => ({
      stage: this.#o.engine.stage.name, group: this.#o.groupId, topic: this.#topic, kind: 'records' as const, transactional: this.#o.mode === 'exactly-once',
      partitions: [state.partition], reason, ...(err ? { error: err.message } : {}),
    }))
  }

  /**
   * Drops what this member holds for the partition (unfinished work, uncommitted outputs, the
   * producer). If the group still gives it this partition, it starts again from the committed
   * offset; otherwise its new owner does.
   */
  #restart (state: PartitionState, why: string, delayMs = 0, o: { fenced?: boolean } = {}): void {
    const p = state.partition
    this.#release(p, why, o)
    const again = (): void => {
      if (this.#stopping || this.#halted || !this.#assigned.has(p) || this.#partitions.has(p)) return
      this.stats.restarts++
      this.#startPartition(p, why)
    }
    if (delayMs > 0) {
      // Paused meanwhile; a partition that moves away is resumed by the next assignment.
      this.#consumerCall('pause', [p])
      setTimeout(again, delayMs).unref()
    } else {
      again()
    }
  }

  /** `fenced`: a newer producer took the partition's transactional id while this member held it. */
  #release (partition: number, why: string, o: { fenced?: boolean } = {}): void {
    const state = this.#partitions.get(partition)
    if (!state) return
    const uncommitted = state.progress.uncommitted
    state.phase = 'released'
    state.abort.abort(new Error(`partition ${partition} ${why}`))
    clearTimeout(state.commitTimer)
    state.commitTimer = undefined
    // Queued tasks never run: their bytes leave the buffer here, not in #work's finally.
    this.#scheduler.dropLane(state.lane)
    this.#bufferedBytes -= state.queuedBytes
    state.queuedBytes = 0
    this.#partitions.delete(partition)
    void state.producer?.disconnect().catch(() => {})
    state.producer = undefined
    this.#logger.info({ partition, why, uncommitted }, 'partition released; its uncommitted work is redone from the committed offset')
    this.#publishPartition(partition, o.fenced ? 'fenced' : 'released', why)
    this.#applyBackpressure()
  }

  #publishPartition (partition: number, state: 'starting' | 'started' | 'released' | 'fenced', why: string, committed?: number): void {
    publishPartition({ stage: this.#o.engine.stage.name, group: this.#o.groupId, topic: this.#topic, runId: this.#o.engine.runId }, partition, state, why, committed)
  }

  #pause (state: PartitionState): void {
    if (state.paused) return
    if (this.#consumerCall('pause', [state.partition])) state.paused = true
  }

  #resumeIfRoom (state: PartitionState): void {
    if (!state.paused || this.#stopping || this.#halted) return
    if (state.phase !== 'running' || this.#bufferedBytes > this.#o.maxBufferedBytes / 2 || this.#scheduler.queuedIn(state.lane) > this.#o.maxQueuedPerPartition / 2) return
    if (this.#consumerCall('resume', [state.partition])) state.paused = false
  }

  /**
   * Pauses or resumes partitions; false if the consumer cannot be told now. While KafkaJS
   * restarts a crashed consumer it refuses both ("consumer group was not initialized"); the
   * restarted consumer starts with nothing paused and joins again, and the join re-applies
   * this stage's pauses (see #onAssignment).
   */
  #consumerCall (op: 'pause' | 'resume', partitions: number[]): boolean {
    if (!this.#consumer) return false
    try {
      this.#consumer[op](partitions.length ? [{ topic: this.#topic, partitions }] : [{ topic: this.#topic }])
      return true
    } catch (err) {
      this.#logger.debug({ op, partitions, err: (err as Error).message }, 'the consumer cannot pause or resume now')
      return false
    }
  }

  #applyBackpressure (): void {
    if (!this.#consumer || this.#stopping || this.#halted) return
    const overBytes = this.#bufferedBytes > this.#o.maxBufferedBytes
    for (const s of this.#partitions.values()) {
      if (overBytes || this.#scheduler.queuedIn(s.lane) >= this.#o.maxQueuedPerPartition) this.#pause(s)
      else this.#resumeIfRoom(s)
    }
  }

  snapshot (): StageStats {
    return { ...this.stats, inFlight: this.#scheduler.inFlight, queued: this.#scheduler.queued, bufferedBytes: this.#bufferedBytes }
  }

  /**
   * Stops fetching, lets in-flight records finish within `deadlineMs`, commits what finished,
   * and leaves the group. Records not finished by then are abandoned uncommitted: the next
   * owner redoes them, and their outputs were never written. Every step is bounded, so the
   * stop returns even when a broker does not answer.
   */
  async stop (deadlineMs: number): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    const consumer = this.#consumer
    this.#consumerCall('pause', [])
    for (const s of this.#partitions.values()) { // queued, not started: refetched later
      this.#scheduler.dropLane(s.lane)
      this.#bufferedBytes -= s.queuedBytes
      s.queuedBytes = 0
    }
    const drained = await withDeadline(this.#scheduler.whenNoneRunning(), deadlineMs)
    if (!drained) this.#logger.warn({ inFlight: this.#scheduler.inFlight }, 'shutdown deadline passed; abandoning in-flight records uncommitted')
    // The final commits run side by side under one deadline: with a broker gone, one commit
    // after another would each wait out the whole call timeout.
    const finals = [...this.#partitions.values()].map((s) => {
      if (!drained) s.abort.abort(new Error('shutdown'))
      clearTimeout(s.commitTimer)
      s.commitTimer = undefined
      if (s.phase !== 'running') return Promise.resolve()
      return this.#commit(s).catch((err: unknown) => this.#logger.error({ partition: s.partition, err: (err as Error).message }, 'final commit failed'))
    })
    if (!await withDeadline(Promise.all(finals), this.#callTimeout + 5_000)) this.#logger.error('final commits did not finish in time; their records are redone by the next owner')
    this.#closed = true
    for (const s of this.#partitions.values()) s.phase = 'released'
    if (consumer && !await withDeadline(consumer.disconnect(), this.#callTimeout)) this.#logger.error('leaving the consumer group did not finish in time')
    await withDeadline(Promise.all([...this.#partitions.values()].map((s) => s.producer?.disconnect().catch(() => {}))), this.#callTimeout)
    if (this.#plainProducer) await withDeadline(this.#plainProducer.disconnect().catch(() => {}), this.#callTimeout)
    this.#partitions.clear()
  }
}
