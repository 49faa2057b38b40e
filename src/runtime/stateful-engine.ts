/**
 * What happens to a stateful stage's records, whatever the transport: decode a batch, run the
 * processor, encode its outputs into the pending set, and — at each checkpoint — turn the
 * processor's snapshot and the input offsets into records for the state topic. The runners
 * decide when to checkpoint and write `checkpoint()`'s records and their consumer position in
 * one transaction; until `committed()` nothing here is final.
 *
 * Pending outputs of compacted topics are coalesced by key (an instruction admitted and evicted
 * between two checkpoints leaves one tombstone, not an upsert and a tombstone). The checkpoint
 * is gzip-compressed and split into parts of at most `maxPartBytes` (default 512 KiB, under
 * Kafka's 1 MB default record limit); parts of one generation share its SHA-256, and restore
 * takes the newest generation whose parts are all present and match it.
 *
 * Any failure rolls back: `rollback()` restores the processor from the last committed
 * checkpoint and rewinds the offsets, so re-reading the input redoes exactly what was lost.
 */
import { createHash } from 'node:crypto'
import { channels, type RunnerName } from '../diagnostics/channels.ts'
import { ConfigError, SynthqError } from '../errors.ts'
import type { LlmClient, StageLlm } from '../llm/client.ts'
import type { Logger } from '../log.ts'
import { buildLineage, type LineageOptions } from '../processors/lineage.ts'
import type { InputRecord, OutputRecord, ProcessorContext, TableView } from '../processors/processor.ts'
import type { StatefulContext, StatefulProcessor } from '../processors/stateful.ts'
import type { AvroSerde } from '../serde/avro-serde.ts'
import type { StatefulStageSpec } from '../topologies/topology.ts'
import { namespacedTopic, topicSpec, type TopicName, type TopicNamespace } from '../topics.ts'
import { pickCheckpoint, type CheckpointPart } from './checkpoint.ts'
import { deadLetterOf, failureOf, type EncodedRecord, type RawRecord } from './stage-engine.ts'

/** The checkpoint format lives in checkpoint.ts; its type is still named here for existing importers. */
export type { CheckpointPart }

export interface StatefulEngineOptions {
  stage: StatefulStageSpec
  serde: AvroSerde
  prefix: string
  /** A shadow run's namespace (default: everything under `prefix`). */
  namespace?: TopicNamespace
  runId: string
  logger: Logger
  llm?: LlmClient
  tables?: (name: TopicName) => TableView
  now?: () => number
  maxPartBytes?: number
  /** Who runs the stage, as `synthq:stage:record` names it. */
  runner?: RunnerName
  topology?: string
}

/** A stateful stage's figures, on either runner. */
export interface StatefulStageStats {
  processed: number
  deadLettered: number
  /** A batch is being processed (0 or 1). */
  inFlight: number
  /** Input records not read yet. */
  queued: number
  checkpoints: number
  rollbacks: number
  /** Checkpoint transactions aborted by fault injection (Kafka, tests only). */
  abortedCheckpoints?: number
  generation: number
  uncheckpointed: number
  pendingOutputs: number
}

/** How a runner paces a stateful stage: the stage's settings over the defaults. */
export interface StatefulPacing {
  batchSize: number
  checkpointIntervalMs: number
  checkpointRecords: number
  punctuateMs: number
}

export function pacingOf (s: StatefulStageSpec): StatefulPacing {
  return { batchSize: s.batchSize ?? 256, checkpointIntervalMs: s.checkpointIntervalMs ?? 5_000, checkpointRecords: s.checkpointRecords ?? 20_000, punctuateMs: s.punctuateMs ?? 1_000 }
}

export interface RestoredCheckpoint {
  generation: number
  offsets: Map<number, number>
  bytes: number
}

export class StatefulEngine {
  readonly stage: StatefulStageSpec
  readonly inputTopic: string
  readonly stateTopic: string
  readonly #o: StatefulEngineOptions
  readonly #processor: StatefulProcessor
  readonly #logger: Logger
  readonly #dlqTopic: string
  readonly #llm: StageLlm | undefined
  readonly #now: () => number
  readonly #maxPart: number
  /** Outputs since the last checkpoint: compacted topics by key, the rest in order. */
  #pendingKeyed = new Map<string, EncodedRecord>()
  #pendingLog: EncodedRecord[] = []
  /** Next offset to read per input partition, as of the records processed. */
  #next = new Map<number, number>()
  /** The last committed checkpoint: what rollback() returns to. */
  #committed: { state: Buffer | null, offsets: Map<number, number>, generation: number, parts: number } = { state: null, offsets: new Map(), generation: 0, parts: 0 }
  #sinceCheckpoint = 0
  /** Input records dead-lettered (since start; rollbacks may redo some). */
  deadLettered = 0
  readonly #topic: (name: TopicName) => string
  #inFlight: { state: Buffer, offsets: Map<number, number>, generation: number, parts: number } | undefined

  constructor (o: StatefulEngineOptions) {
    this.#o = o
    this.stage = o.stage
    this.#processor = o.stage.processor()
    this.#logger = o.logger.child({ stage: o.stage.name })
    const ns = o.namespace ?? { prefix: o.prefix }
    this.#topic = (name) => namespacedTopic(ns, name)
    this.inputTopic = this.#topic(o.stage.input)
    this.stateTopic = this.#topic(o.stage.state)
    this.#dlqTopic = this.#topic('deadLetters')
    this.#now = o.now ?? Date.now
    this.#maxPart = o.maxPartBytes ?? 512 * 1024
    let llm: StageLlm | undefined
    if (o.stage.llm && o.llm) {
      try { llm = o.llm.stage(o.stage.name) } catch { llm = undefined } // no endpoint: the processor decides (ctx.llm() throws)
    }
    this.#llm = llm
  }

  #context (signal?: AbortSignal): ProcessorContext {
    return {
      stage: this.stage.name,
      runId: this.#o.runId,
      logger: this.#logger,
      now: this.#now,
      signal: signal ?? new AbortController().signal,
      llm: () => {
        if (!this.stage.llm) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage.name} calls an LLM without declaring llm in its topology`)
        if (!this.#llm) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage.name} has no LLM endpoint configured`)
        return this.#llm
      },
      table: <V>(name: TopicName) => {
        if (!this.#o.tables) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage.name} reads table ${name}, which stateful stages cannot declare`)
        return this.#o.tables(name) as TableView<V>
      },
      lineage: (inputs: InputRecord | InputRecord[], opts: LineageOptions = {}) =>
        buildLineage(this.stage.name, this.#o.runId, (r) => this.#topic(r.topic), Array.isArray(inputs) ? inputs : [inputs], opts, this.#now()),
    }
  }

  #statefulContext (): StatefulContext {
    const { signal: _s, ...ctx } = this.#context()
    return ctx
  }

  async init (): Promise<void> {
    await this.#processor.init?.(this.#statefulContext())
  }

  async close (): Promise<void> {
    await this.#processor.close?.()
  }

  metrics (): Record<string, number> {
    return this.#processor.metrics?.() ?? {}
  }

  /** Where to read partition `p` from next (records below it are already in the state). */
  next (partition: number): number {
    return this.#next.get(partition) ?? this.#committed.offsets.get(partition) ?? 0
  }

  /** Partitions the state has read from, with their next offsets. */
  positions (): Map<number, number> {
    return new Map(this.#next)
  }

  /** Records processed since the last checkpoint. */
  get uncheckpointed (): number { return this.#sinceCheckpoint }
  /** The runner's run id and the topology's name, as diagnostics name them. */
  get runId (): string { return this.#o.runId }
  get topology (): string { return this.#o.topology ?? '' }
  get generation (): number { return this.#committed.generation }
  /** Outputs waiting for the next checkpoint. */
  get pendingOutputs (): number { return this.#pendingKeyed.size + this.#pendingLog.length }

  /**
   * Restores the processor from the state topic's records (in log order; later values of a key
   * replace earlier ones, as compaction would). No checkpoint: an empty state from offset 0.
   */
  async restore (records: Iterable<{ key: string | null, value: Buffer | null }>): Promise<RestoredCheckpoint | null> {
    const latest = new Map<string, Buffer | null>()
    const prefix = `${this.stage.name}/`
    for (const r of records) if (r.key?.startsWith(prefix)) latest.set(r.key, r.value)
    const parts: CheckpointPart[] = []
    for (const v of latest.values()) if (v !== null) parts.push(await this.#o.serde.decode<CheckpointPart>(this.stateTopic, v))
    const found = pickCheckpoint(parts)
    if (!found && parts.length > 0) {
      throw new SynthqError('SYNTHQ_STATE_CORRUPT', `stage ${this.stage.name}: ${this.stateTopic} holds ${parts.length} checkpoint parts but no complete generation whose SHA-256 matches; refusing to start from an empty state (that would count the input twice). Inspect the topic, or start the sink under a new topic prefix.`)
    }
    const ctx = this.#statefulContext()
    this.#processor.restore(found?.state ?? null, ctx)
    this.#committed = found
      ? { state: found.state, offsets: found.offsets, generation: found.generation, parts: found.parts }
      : { state: null, offsets: new Map(), generation: 0, parts: Math.max(0, ...parts.map((p) => p.part + 1)) }
    this.#next = new Map(this.#committed.offsets)
    this.#pendingKeyed.clear()
    this.#pendingLog = []
    this.#sinceCheckpoint = 0
    this.#logger.info({ generation: this.#committed.generation, bytes: found?.state.length ?? 0, offsets: Object.fromEntries(this.#committed.offsets) }, found ? 'state restored from checkpoint' : 'no checkpoint: starting with an empty state')
    return found ? { generation: found.generation, offsets: found.offsets, bytes: found.state.length } : null
  }

  /** Back to the last committed checkpoint: the state, the offsets, no pending outputs. */
  rollback (why: string): void {
    this.#processor.restore(this.#committed.state, this.#statefulContext())
    this.#next = new Map(this.#committed.offsets)
    this.#pendingKeyed.clear()
    this.#pendingLog = []
    this.#inFlight = undefined
    this.#logger.warn({ why, generation: this.#committed.generation, discarded: this.#sinceCheckpoint }, 'rolled back to the last checkpoint; the records since are read again')
    this.#sinceCheckpoint = 0
  }

  /**
   * Processes records of one partition, in offset order. Records below next(partition) are
   * skipped (already in the state). Throws when the processor fails: call rollback() then.
   */
  async process (raws: readonly RawRecord[], signal?: AbortSignal): Promise<number> {
    const startedAt = performance.now()
    // Records dead-lettered, kept only while someone listens to synthq:stage:record.
    const letters = channels.stageRecord.hasSubscribers ? new Set<RawRecord>() : undefined
    const decoded: InputRecord[] = []
    const taken: RawRecord[] = []
    for (const raw of raws) {
      const offset = Number(raw.offset)
      if (offset < this.next(raw.partition)) continue
      taken.push(raw)
      let value: unknown
      try {
        value = await this.#o.serde.decode(this.inputTopic, raw.value)
      } catch (err) {
        if (err instanceof SynthqError && err.retriable) throw err
        this.#pendingLog.push(await this.#letter(raw, failureOf(err, 1)))
        this.deadLettered++
        letters?.add(raw)
        continue
      }
      decoded.push({ topic: this.stage.input, key: raw.key?.toString('utf8') ?? null, value, partition: raw.partition, offset: raw.offset, timestamp: raw.timestamp })
    }
    if (taken.length === 0) return 0
    if (decoded.length > 0) {
      const result = await this.#processor.processBatch(decoded, this.#context(signal))
      await this.#addOutputs(result.outputs)
      for (const r of result.rejected) {
        const raw = taken.find((t) => t.partition === r.record.partition && t.offset === r.record.offset)!
        this.#pendingLog.push(await this.#letter(raw, { errorClass: r.errorClass ?? 'Rejected', code: null, message: r.reason, attempts: 1 }))
        this.deadLettered++
        letters?.add(raw)
      }
    }
    for (const raw of taken) this.#next.set(raw.partition, Number(raw.offset) + 1)
    this.#sinceCheckpoint += taken.length
    if (letters) this.#publishRecords(taken, letters, performance.now() - startedAt)
    return taken.length
  }

  /**
   * `synthq:stage:record` for a batch: a batch's outputs are not attributed to its records, so
   * a record is processed (outputs 0) or dead-lettered, and its duration is the batch's.
   */
  #publishRecords (taken: readonly RawRecord[], letters: ReadonlySet<RawRecord>, durationMs: number): void {
    if (!channels.stageRecord.hasSubscribers) return
    for (const raw of taken) {
      const dead = letters.has(raw)
      channels.stageRecord.publish({
        stage: this.stage.name, topology: this.#o.topology ?? '', runner: this.#o.runner ?? 'embedded', runId: this.#o.runId,
        topic: this.inputTopic, partition: raw.partition, offset: raw.offset,
        outcome: dead ? 'deadLettered' : 'processed', outputs: dead ? 1 : 0, attempts: 1, durationMs, batchSize: taken.length,
      })
    }
  }

  /** Time-driven work while input is idle. */
  async punctuate (): Promise<void> {
    const out = this.#processor.punctuate?.(this.#now(), this.#statefulContext()) ?? []
    await this.#addOutputs(out)
    if (out.length) this.#sinceCheckpoint++
  }

  /** End of input: let the processor release what it holds back. */
  async flush (): Promise<void> {
    const out = this.#processor.flush?.(this.#statefulContext()) ?? []
    await this.#addOutputs(out)
    this.#sinceCheckpoint++
  }

  async #letter (raw: RawRecord, f: ReturnType<typeof failureOf>): Promise<EncodedRecord> {
    return await deadLetterOf(raw, f, { stage: this.stage.name, inputTopic: this.inputTopic, dlqTopic: this.#dlqTopic, runId: this.#o.runId, now: this.#now(), serde: this.#o.serde, logger: this.#logger })
  }

  async #addOutputs (outputs: readonly OutputRecord[]): Promise<void> {
    for (const out of outputs) {
      if (!this.stage.outputs.includes(out.topic)) throw new ConfigError(`stage ${this.stage.name} wrote to ${out.topic}, which it does not declare as an output`)
      const topic = this.#topic(out.topic)
      const compacted = topicSpec(out.topic).cleanupPolicy === 'compact'
      if (out.value === null && !compacted) throw new ConfigError(`stage ${this.stage.name} wrote a tombstone to ${topic}, which is not a compacted topic`)
      // An output the schema refuses is the processor's bug, not the record's: it fails the batch.
      const value = out.value === null ? null : await this.#o.serde.encode(topic, out.value)
      const rec = { topic, key: out.key, value }
      if (compacted) {
        const k = `${topic}\u0000${out.key}`
        this.#pendingKeyed.delete(k) // keep the latest write last, in order
        this.#pendingKeyed.set(k, rec)
      } else {
        this.#pendingLog.push(rec)
      }
    }
  }

  /**
   * The records of a checkpoint: pending outputs, then the state's parts (and tombstones for
   * parts a larger earlier checkpoint left). Write them and the offsets in one transaction,
   * then call committed(); on failure call rollback() or retry checkpoint().
   */
  async checkpoint (): Promise<{ records: EncodedRecord[], offsets: Map<number, number> }> {
    const state = await this.#processor.snapshot()
    const offsets = new Map([...this.#committed.offsets, ...this.#next])
    const generation = this.#committed.generation + 1
    const sha256 = createHash('sha256').update(state).digest('hex')
    const count = Math.max(1, Math.ceil(state.length / this.#maxPart))
    const records: EncodedRecord[] = [...this.#pendingLog, ...this.#pendingKeyed.values()]
    const now = this.#now()
    const offsetList = [...offsets].sort((a, b) => a[0] - b[0]).map(([partition, offset]) => ({ partition, offset }))
    for (let part = 0; part < count; part++) {
      const value: CheckpointPart = { stage: this.stage.name, generation, part, parts: count, sha256, data: state.subarray(part * this.#maxPart, (part + 1) * this.#maxPart), offsets: offsetList, run_id: this.#o.runId, written_at: now }
      records.push({ topic: this.stateTopic, key: `${this.stage.name}/${part}`, value: await this.#o.serde.encode(this.stateTopic, value) })
    }
    for (let part = count; part < this.#committed.parts; part++) records.push({ topic: this.stateTopic, key: `${this.stage.name}/${part}`, value: null })
    this.#inFlight = { state, offsets, generation, parts: count }
    return { records, offsets }
  }

  /** The records of the last checkpoint() are durable: they become the rollback point. */
  committed (): void {
    if (!this.#inFlight) throw new Error('committed() without a checkpoint() in flight')
    this.#committed = this.#inFlight
    this.#inFlight = undefined
    this.#pendingKeyed.clear()
    this.#pendingLog = []
    this.#sinceCheckpoint = 0
  }
}
