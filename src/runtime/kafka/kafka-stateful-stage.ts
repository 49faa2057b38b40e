/**
 * A stateful stage on Kafka: one consumer group member processes the input's partitions in
 * batches through the engine, and every checkpoint is one Kafka transaction holding the
 * outputs since the last one, the processor's state (compacted state topic) and the consumer
 * offsets — the offsets the state has consumed, so state and position never disagree.
 *
 * One instance per stage: the transactional id is fixed (`<group>.state`), so a second
 * instance fences the first when it starts (initTransactions), reads the state the first
 * committed last, and the first stops at its next commit with "fenced" — at the latest at the
 * rebalance the newcomer causes, where every member checkpoints. The state must be
 * global — balance across topics needs every record — so this is how it fails over, not how it
 * scales; to scale the sink out, give each instance its own topic prefix (docs/sink.md).
 *
 * Failure: any error while processing rolls the engine back to the last checkpoint and
 * restarts the consumer, which resumes from the committed offsets (those of that checkpoint).
 * After a rebalance KafkaJS re-fetches from the committed offsets; the engine skips records it
 * already holds in its state (offset < next), so nothing is counted twice.
 */
import type { Consumer, Kafka, Offsets, Producer } from 'kafkajs'
import { SynthqError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import type { RawRecord } from '../stage-engine.ts'
import { pacingOf, type StatefulEngine, type StatefulPacing, type StatefulStageStats } from '../stateful-engine.ts'
import { channels, publish, type AbortReason } from '../../diagnostics/channels.ts'
import { connectFencing } from './client.ts'
import { bridgeConsumer, publishRebalance } from './kafka-diagnostics.ts'
import { readTopicToEnd } from './read-topic.ts'
import { publishStageHalted } from '../lifecycle-events.ts'
import { injectAbort, type AbortInjection } from './kafka-stage.ts'

export interface KafkaStatefulStageOptions {
  kafka: Kafka
  engine: StatefulEngine
  groupId: string
  sessionTimeoutMs: number
  logger: Logger
  /** Called once when another instance fenced this one (the stage has stopped). */
  onFenced?: (err: Error) => void
  /**
   * Tests only: abort this share of checkpoint transactions just before they would commit. The
   * state, outputs and offsets stay pending and go out in the next checkpoint; readers and a
   * restore must never see the aborted ones (the chaos run's random aborts).
   */
  abortRate?: AbortInjection
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export class KafkaStatefulStage {
  readonly #o: KafkaStatefulStageOptions
  readonly #logger: Logger
  readonly #pace: StatefulPacing
  #producer: Producer | undefined
  #consumer: Consumer | undefined
  #timer: NodeJS.Timeout | undefined
  /** Serialises batches, checkpoints and punctuations: the engine is not re-entrant. */
  #chain: Promise<void> = Promise.resolve()
  #stopping = false
  #fenced = false
  #restarting = false
  #failures = 0
  #lastCheckpoint = Date.now()
  #lastInput = 0
  #busy = false
  #memberId: string | undefined
  /** Partitions of the input the group gave this member at its last join (for diagnostics). */
  #assigned: ReadonlySet<number> = new Set()
  readonly stats = { processed: 0, checkpoints: 0, rollbacks: 0, abortedCheckpoints: 0 }

  constructor (o: KafkaStatefulStageOptions) {
    this.#o = o
    this.#logger = o.logger.child({ stage: o.engine.stage.name, group: o.groupId })
    this.#pace = pacingOf(o.engine.stage)
  }

  async start (): Promise<void> {
    const { kafka, engine, groupId } = this.#o
    // Fence any earlier instance before reading the state it may still be writing.
    this.#producer = await connectFencing(kafka, `${groupId}.state`, { bridge: { stage: engine.stage.name, group: groupId } })
    const records = await readTopicToEnd(kafka, engine.stateTopic)
    await engine.restore(records)
    await this.#startConsumer()
    this.#timer = setInterval(() => { void this.#serial(async () => await this.#tick()) }, Math.min(this.#pace.punctuateMs, this.#pace.checkpointIntervalMs))
  }

  async #startConsumer (): Promise<void> {
    const { kafka, engine, groupId, sessionTimeoutMs } = this.#o
    const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 500, maxBytesPerPartition: 1024 * 1024, sessionTimeout: sessionTimeoutMs, rebalanceTimeout: Math.max(10_000, 2 * sessionTimeoutMs), heartbeatInterval: Math.max(500, Math.floor(sessionTimeoutMs / 10)) })
    this.#consumer = consumer
    bridgeConsumer(consumer, { stage: engine.stage.name, group: groupId })
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.#memberId = e.payload.memberId
      const partitions = (e.payload.memberAssignment[engine.inputTopic] ?? []) as number[]
      publishRebalance({ stage: engine.stage.name, group: groupId, topic: engine.inputTopic, memberId: e.payload.memberId }, this.#assigned, partitions)
      this.#assigned = new Set(partitions)
      this.#logger.info({ partitions: e.payload.memberAssignment[engine.inputTopic] ?? [] }, 'partitions assigned')
      // A rebalance may mean another instance of this stage has started (and fenced this one),
      // and a member with no partitions would never find out by committing. A checkpoint now —
      // state and offsets together, so always consistent — either succeeds or says "fenced".
      void this.#serial(async () => {
        if (this.#stopping || this.#fenced || this.#restarting) return
        try { await this.#checkpoint() } catch (err) { this.#fail(err as Error) }
      })
    })
    await consumer.connect()
    await consumer.subscribe({ topic: engine.inputTopic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        await this.#serial(async () => {
          for (let i = 0; i < batch.messages.length; i += this.#pace.batchSize) {
            if (this.#stopping || this.#fenced || this.#restarting || !isRunning() || isStale()) return
            const chunk = batch.messages.slice(i, i + this.#pace.batchSize)
            const raws: RawRecord[] = chunk.map((m) => ({
              key: m.key, value: m.value, partition: batch.partition, offset: m.offset, timestamp: Number(m.timestamp),
              headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('utf8') : String(v)])),
            }))
            try {
              this.#busy = true
              this.stats.processed += await engine.process(raws)
              this.#failures = 0
            } catch (err) {
              this.#fail(err as Error)
              return
            } finally {
              this.#busy = false
            }
            resolveOffset(chunk[chunk.length - 1]!.offset)
            this.#lastInput = Date.now()
            await heartbeat()
            if (engine.uncheckpointed >= this.#pace.checkpointRecords) {
              try { await this.#checkpoint() } catch (err) { this.#fail(err as Error); return }
            }
          }
        })
      },
    })
  }

  /** Runs `fn` after everything queued before it. */
  async #serial (fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn, fn)
    this.#chain = next.catch(() => {})
    await next
  }

  async #tick (): Promise<void> {
    if (this.#stopping || this.#fenced || this.#restarting) return
    const { engine } = this.#o
    try {
      if (Date.now() - this.#lastInput >= this.#pace.punctuateMs) await engine.punctuate()
      if (engine.uncheckpointed > 0 && Date.now() - this.#lastCheckpoint >= this.#pace.checkpointIntervalMs) await this.#checkpoint()
      else if (engine.uncheckpointed > 0 && Date.now() - this.#lastInput >= this.#pace.punctuateMs) await this.#checkpoint() // input idle: make it visible now
    } catch (err) {
      this.#fail(err as Error)
    }
  }

  /** Rolls back to the last checkpoint and restarts the consumer from its offsets. */
  #fail (err: Error): void {
    if (this.#restarting || this.#stopping) return
    this.#failures++
    this.stats.rollbacks++
    const wait = Math.min(30_000, 200 * 2 ** Math.min(this.#failures, 8))
    this.#logger.error({ err: err.message, retryInMs: wait }, 'stateful stage failed; rolling back to the last checkpoint and re-reading from its offsets')
    this.#o.engine.rollback(err.message)
    this.#restarting = true
    const consumer = this.#consumer
    void (async () => {
      await consumer?.disconnect().catch(() => {})
      await sleep(wait)
      this.#restarting = false
      if (!this.#stopping && !this.#fenced) await this.#startConsumer().catch((e: unknown) => this.#fail(e as Error))
    })()
  }

  async #checkpoint (): Promise<void> {
    const { engine, groupId } = this.#o
    const producer = this.#producer!
    const { records, offsets } = await engine.checkpoint()
    const byTopic = new Map<string, Array<{ key: string, value: Buffer | null }>>()
    for (const r of records) {
      let list = byTopic.get(r.topic)
      if (!list) byTopic.set(r.topic, list = [])
      list.push({ key: r.key, value: r.value })
    }
    const partitions = [...offsets].map(([partition, offset]) => ({ partition, offset: String(offset) }))
    const inputs = engine.uncheckpointed
    const startedAt = performance.now()
    const tx = await producer.transaction()
    try {
      if (byTopic.size) await tx.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: -1 })
      if (partitions.length) await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: engine.inputTopic, partitions }] } as Offsets & { consumerGroupId: string })
      if (injectAbort(this.#o.abortRate, engine.stage.name)) {
        await tx.abort()
        this.stats.abortedCheckpoints++
        this.#publishAbort(partitions, 'injected')
        return // not committed(): the engine keeps everything pending for the next checkpoint
      }
      await tx.commit()
    } catch (err) {
      await tx.abort().catch(() => {})
      this.#publishAbort(partitions, isFenced(err) ? 'fenced' : 'failed', err as Error)
      // A commit error of unknown cause while another member is in the group: a newer instance
      // (it joins the group right after fencing us) — re-initialising the id would fence it back.
      const fencedForSure = isFenced(err)
      if (fencedForSure || await this.#othersInGroup()) {
        this.#fenced = true
        const fenced = new SynthqError('SYNTHQ_STATE_FENCED', fencedForSure
          ? `stage ${engine.stage.name}: another instance of this stage started and took over its state (producer fenced); this one stops`
          : `stage ${engine.stage.name}: a checkpoint failed (${(err as Error).message}) while another member is in group ${groupId}; this one stops rather than take the state back from what may be a newer instance — restart it once that member has gone`, { cause: err })
        this.#logger.error(fenced.message)
        publishStageHalted({ stage: engine.stage.name, topology: engine.topology, runner: 'kafka', runId: engine.runId }, fenced)
        void this.#consumer?.disconnect().catch(() => {})
        this.#o.onFenced?.(fenced)
        return
      }
      // Fate unknown: a fresh producer with the same id aborts whatever was open; the state is
      // rolled back so the records since the last checkpoint are read and written again.
      await producer.disconnect().catch(() => {})
      this.#producer = await connectFencing(this.#o.kafka, `${groupId}.state`, { bridge: { stage: engine.stage.name, group: groupId } })
      throw err
    }
    engine.committed()
    this.stats.checkpoints++
    publish(channels.kafkaCommit, () => ({ stage: engine.stage.name, group: groupId, topic: engine.inputTopic, kind: 'checkpoint' as const, transactional: true, partitions, records: inputs, outputs: records.length, durationMs: performance.now() - startedAt }))
    this.#lastCheckpoint = Date.now()
  }

  #publishAbort (partitions: Array<{ partition: number }>, reason: AbortReason, err?: Error): void {
    const { engine, groupId } = this.#o
    publish(channels.kafkaAbort, () => ({ stage: engine.stage.name, group: groupId, topic: engine.inputTopic, kind: 'checkpoint' as const, transactional: true, partitions: partitions.map((p) => p.partition), reason, ...(err ? { error: err.message } : {}) }))
  }

  async #othersInGroup (): Promise<boolean> {
    const admin = this.#o.kafka.admin()
    try {
      await admin.connect()
      const { groups } = await admin.describeGroups([this.#o.groupId])
      return (groups[0]?.members ?? []).some((m) => m.memberId !== this.#memberId)
    } catch {
      return false
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }

  /** End of input: the processor releases what it holds, and a checkpoint makes it durable. */
  async flush (): Promise<void> {
    await this.#serial(async () => {
      if (this.#fenced) throw new SynthqError('SYNTHQ_STATE_FENCED', `stage ${this.#o.engine.stage.name} was fenced by another instance: nothing to flush here`)
      await this.#o.engine.flush()
      await this.#checkpoint()
      if (this.#fenced) throw new SynthqError('SYNTHQ_STATE_FENCED', `stage ${this.#o.engine.stage.name} was fenced by another instance while flushing`)
    })
  }

  /** Nothing processed and not checkpointed, nothing running. */
  idle (): boolean {
    return !this.#busy && this.#o.engine.uncheckpointed === 0
  }

  snapshot (): StatefulStageStats {
    return { ...this.stats, deadLettered: this.#o.engine.deadLettered, inFlight: this.#busy ? 1 : 0, queued: 0, generation: this.#o.engine.generation, uncheckpointed: this.#o.engine.uncheckpointed, pendingOutputs: this.#o.engine.pendingOutputs }
  }

  get fenced (): boolean { return this.#fenced }

  /** Finishes the batch in hand, checkpoints, leaves the group. */
  async stop (): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    clearInterval(this.#timer)
    await this.#serial(async () => {
      if (!this.#fenced && this.#o.engine.uncheckpointed > 0) {
        await this.#checkpoint().catch((err: unknown) => this.#logger.error({ err: (err as Error).message }, 'final checkpoint failed; the next start redoes the records since the last one'))
      }
    })
    await this.#consumer?.disconnect().catch(() => {})
    await this.#producer?.disconnect().catch(() => {})
  }
}

/** The broker says a newer producer with this transactional id exists (anywhere in the cause chain). */
function isFenced (err: unknown): boolean {
  for (let e = err as { type?: string, message?: string, cause?: unknown, originalError?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.type === 'PRODUCER_FENCED' || e.type === 'INVALID_PRODUCER_EPOCH' || /fenced|newer producer/i.test(e.message ?? '')) return true
    e = (e.cause ?? e.originalError) as typeof e
  }
  return false
}
