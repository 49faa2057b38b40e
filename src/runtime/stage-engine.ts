/**
 * What happens to one input record of a stage, whatever the transport: decode it, run the
 * processor (retrying transient failures), validate and encode its outputs — or, when any of
 * that fails for good, turn it into a dead letter carrying the original bytes and the reason.
 * The runners only move bytes and commit; this is shared by both.
 */
import { randomUUID } from 'node:crypto'
import { DecodeError, RecordInvalidError, SynthqError } from '../errors.ts'
import type { LlmClient, StageLlm } from '../llm/client.ts'
import { LlmRejectedError } from '../llm/errors.ts'
import type { Logger } from '../log.ts'
import { buildLineage, type LineageOptions } from '../processors/lineage.ts'
import type { InputRecord, Processor, ProcessorContext, ProcessResult, TableView } from '../processors/processor.ts'
import type { AvroSerde } from '../serde/avro-serde.ts'
import type { StageSpec, Topology } from '../topologies/topology.ts'
import { namespacedTopic, topicSpec, type TopicName, type TopicNamespace } from '../topics.ts'
import type { PromptPromotion } from './promotions.ts'
import { DEFAULT_RETRY, NotRetried, RetriesExhausted, withRetry, type RetryPolicy } from './retry.ts'
import { inTurn } from './turns.ts'

/** A record as the transport holds it: bytes and position. */
export interface RawRecord {
  key: Buffer | null
  value: Buffer | null
  partition: number
  offset: string
  timestamp: number
  headers?: Record<string, string>
}

/** An encoded output, ready to be written. */
export interface EncodedRecord {
  topic: string
  key: string
  /** null: a tombstone (compacted topics only). */
  value: Buffer | null
}

export interface Outcome {
  outputs: EncodedRecord[]
  /** The input went to the dead-letter topic (its only output). */
  deadLettered: boolean
  attempts: number
}

/**
 * Thrown by {@link StageEngine.run} when the record must not get an outcome at all: the stage has
 * to stop, and the record stays uncommitted for a later run (an LLM endpoint that refuses this
 * key or model fails every record alike — dead-lettering them would bury a configuration fault
 * in the dead-letter topic).
 */
export class StageHaltedError extends Error {
  readonly reason: Error
  constructor (reason: Error) {
    super(reason.message, { cause: reason })
    this.name = 'StageHaltedError'
    this.reason = reason
  }
}

/** True for failures that say nothing about the record and the same about every other. */
function haltsTheStage (err: unknown): err is LlmRejectedError {
  return err instanceof LlmRejectedError && err.endpointMisconfigured
}

export interface StageEngineOptions {
  stage: StageSpec
  serde: AvroSerde
  prefix: string
  /** A shadow run's namespace (default: everything under `prefix`). */
  namespace?: TopicNamespace
  /** The promotions table (`synthq shadow promote`): which prompt version this stage sends from which offsets. */
  promotions?: TableView
  runId: string
  logger: Logger
  tables: (name: TopicName) => TableView
  retry?: RetryPolicy
  now?: () => number
  llm?: LlmClient
  /** The topology the stage belongs to, as diagnostics name it. */
  topology?: string
}

export interface Failure {
  errorClass: string
  code: string | null
  message: string
  attempts: number
  rawOutput?: string
}

export class StageEngine {
  readonly stage: StageSpec
  readonly inputTopic: string
  readonly topology: string
  readonly runId: string
  readonly #serde: AvroSerde
  readonly #topic: (name: TopicName) => string
  readonly #logger: Logger
  readonly #tables: (name: TopicName) => TableView
  readonly #retry: RetryPolicy
  readonly #now: () => number
  readonly #processor: Processor
  readonly #promotions: TableView | undefined
  /** Processors of promoted prompt versions, made and initialised on first use. */
  readonly #promoted = new Map<string, Promise<Processor>>()
  readonly #dlqTopic: string
  readonly #llm: StageLlm | undefined

  constructor (opts: StageEngineOptions) {
    this.stage = opts.stage
    this.#serde = opts.serde
    const ns: TopicNamespace = opts.namespace ?? { prefix: opts.prefix }
    this.#topic = (name) => namespacedTopic(ns, name)
    // A shadow run sends the version it was asked for, whatever is promoted on the live stream.
    this.#promotions = opts.stage.prompt && !ns.shadow ? opts.promotions : undefined
    this.runId = opts.runId
    this.topology = opts.topology ?? ''
    this.#logger = opts.logger.child({ stage: opts.stage.name })
    this.#tables = opts.tables
    this.#retry = opts.retry ?? DEFAULT_RETRY
    this.#now = opts.now ?? Date.now
    this.#processor = opts.stage.processor()
    this.inputTopic = this.#topic(opts.stage.input)
    this.#dlqTopic = this.#topic('deadLetters')
    this.#llm = opts.stage.llm && opts.llm ? opts.llm.stage(opts.stage.name) : undefined
  }

  #context (signal: AbortSignal): ProcessorContext {
    const declared = new Set(this.stage.tables ?? [])
    return {
      stage: this.stage.name,
      runId: this.runId,
      logger: this.#logger,
      now: this.#now,
      signal,
      llm: () => {
        if (!this.stage.llm) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage.name} calls an LLM without declaring llm: true in its topology`)
        if (!this.#llm) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage.name} needs an LLM, but the runner was started without an LLM client`)
        return this.#llm
      },
      table: <V>(name: TopicName) => {
        if (!declared.has(name)) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage.name} reads table ${name} without declaring it in its topology`)
        return this.#tables(name) as TableView<V>
      },
      lineage: (inputs: InputRecord | InputRecord[], opts: LineageOptions = {}) =>
        buildLineage(this.stage.name, this.runId, (r) => this.#topic(r.topic), Array.isArray(inputs) ? inputs : [inputs], opts, this.#now()),
    }
  }

  async init (): Promise<void> {
    const { signal: _s, ...ctx } = this.#context(new AbortController().signal)
    await this.#processor.init?.(ctx)
  }

  async close (): Promise<void> {
    await this.#processor.close?.()
    for (const p of this.#promoted.values()) await (await p.catch(() => undefined))?.close?.()
  }

  /** The processor's own figures (see Processor.metrics); a promoted version's counts are added in. */
  metrics (): Record<string, number> {
    const out = { ...this.#processor.metrics?.() }
    for (const p of this.#settledPromoted) {
      for (const [k, v] of Object.entries(p.metrics?.() ?? {})) out[k] = (out[k] ?? 0) + v
    }
    return out
  }

  readonly #settledPromoted: Processor[] = []

  /**
   * The processor for a record: the stage's own, or a promoted prompt version's when the
   * promotions table says this stage sends another version from an offset at or before the
   * record's (per partition). The choice is the runtime's: processors never look at offsets.
   */
  async #processorFor (record: RawRecord): Promise<Processor> {
    const p = this.#promotions?.get(this.stage.name) as PromptPromotion | undefined
    if (!p || p.version === this.stage.prompt!.version || p.input_topic !== this.inputTopic) return this.#processor
    const from = p.offsets.find((o) => o.partition === record.partition)?.offset ?? 0
    if (BigInt(record.offset) < BigInt(from)) return this.#processor
    let made = this.#promoted.get(p.version)
    if (!made) {
      made = (async () => {
        const processor = this.stage.processor({ promptVersion: p.version })
        const { signal: _s, ...ctx } = this.#context(new AbortController().signal)
        await processor.init?.(ctx)
        this.#settledPromoted.push(processor)
        this.#logger.info({ stage: this.stage.name, version: p.version, previous: this.stage.prompt!.version, from: p.offsets }, 'promoted prompt version in use from these offsets')
        return processor
      })()
      made.catch(() => this.#promoted.delete(p.version))
      this.#promoted.set(p.version, made)
    }
    return await made
  }

  /**
   * Runs one record to an outcome. Throws when `signal` aborts (the work is abandoned), on an
   * infrastructure failure that is not the record's (a retriable SynthqError: try it again), and
   * with {@link StageHaltedError} when the stage must stop without an outcome for it.
   */
  async run (raw: RawRecord, signal: AbortSignal): Promise<Outcome> {
    let value: unknown
    try {
      value = await this.#serde.decode(this.inputTopic, raw.value)
    } catch (err) {
      if (err instanceof SynthqError && err.retriable) throw err // registry outage: not the record's fault
      return this.#deadLetter(raw, failureOf(err, 1))
    }
    const record: InputRecord = {
      topic: this.stage.input,
      key: raw.key?.toString('utf8') ?? null,
      value,
      partition: raw.partition,
      offset: raw.offset,
      timestamp: raw.timestamp,
    }
    let attempts: number
    let result: ProcessResult
    const processor = this.#promotions ? await this.#processorFor(raw) : this.#processor
    try {
      // In turns: a CPU-bound processor's backlog must not hold back the next stage's requests (turns.ts).
      ({ attempts, value: result } = await withRetry(async () => await inTurn(() => processor.process(record, this.#context(signal))), this.#retry, signal))
    } catch (err) {
      if (signal.aborted) throw err
      const cause = err instanceof NotRetried || err instanceof RetriesExhausted ? (err as Error).cause ?? err : err
      if (haltsTheStage(err) || haltsTheStage(cause)) throw new StageHaltedError(haltsTheStage(err) ? err : cause as Error)
      return this.#deadLetter(raw, failureOf(err, (err as { attempts?: number }).attempts ?? 1))
    }
    if (result.kind === 'rejected') {
      return this.#deadLetter(raw, { errorClass: result.errorClass ?? 'Rejected', code: null, message: result.reason, attempts, ...(result.rawOutput !== undefined ? { rawOutput: result.rawOutput } : {}) })
    }
    const outputs: EncodedRecord[] = []
    for (const out of result.records) {
      if (!this.stage.outputs.includes(out.topic)) {
        return this.#deadLetter(raw, { errorClass: 'UndeclaredOutput', code: 'SYNTHQ_CONFIG', message: `processor ${this.#processor.name} wrote to ${out.topic}, which stage ${this.stage.name} does not declare as an output`, attempts })
      }
      const topic = this.#topic(out.topic)
      if (out.value === null) {
        // A tombstone deletes the key from a compacted topic (and from tables reading it).
        if (topicSpec(out.topic).cleanupPolicy !== 'compact') {
          return this.#deadLetter(raw, { errorClass: 'InvalidTombstone', code: 'SYNTHQ_CONFIG', message: `processor ${this.#processor.name} wrote a tombstone to ${topic}, which is not a compacted topic`, attempts })
        }
        outputs.push({ topic, key: out.key, value: null })
        continue
      }
      try {
        outputs.push({ topic, key: out.key, value: await this.#serde.encode(topic, out.value) })
      } catch (err) {
        if (err instanceof RecordInvalidError) return this.#deadLetter(raw, { ...failureOf(err, attempts), message: `output to ${topic}: ${err.message}` })
        throw err
      }
    }
    return { outputs, deadLettered: false, attempts }
  }

  async #deadLetter (raw: RawRecord, f: Failure): Promise<Outcome> {
    return { outputs: [await deadLetterOf(raw, f, { stage: this.stage.name, inputTopic: this.inputTopic, dlqTopic: this.#dlqTopic, runId: this.runId, now: this.#now(), serde: this.#serde, logger: this.#logger })], deadLettered: true, attempts: f.attempts }
  }
}

/** The dead letter of `raw`, encoded for the dead-letter topic (logged as a warning). */
export async function deadLetterOf (raw: RawRecord, f: Failure, o: { stage: string, inputTopic: string, dlqTopic: string, runId: string, now: number, serde: AvroSerde, logger: Logger }): Promise<EncodedRecord> {
  const position = `${o.inputTopic}-${raw.partition}-${raw.offset}`
  o.logger.warn({ record: position, errorClass: f.errorClass, code: f.code, attempts: f.attempts, reason: f.message }, 'record sent to the dead-letter topic')
  let schemaId: number | null = null
  if (raw.value && raw.value.length >= 5 && raw.value[0] === 0) schemaId = raw.value.readUInt32BE(1)
  const letter = {
    id: randomUUID(),
    stage: o.stage,
    source_topic: o.inputTopic,
    source_partition: raw.partition,
    source_offset: Number(raw.offset),
    key: raw.key,
    value: raw.value,
    schema_id: schemaId,
    headers: raw.headers ?? {},
    error_class: f.errorClass,
    error_code: f.code,
    message: f.message,
    attempts: f.attempts,
    raw_output: f.rawOutput ?? null,
    run_id: o.runId,
    failed_at: o.now,
  }
  return { topic: o.dlqTopic, key: raw.key?.toString('utf8') ?? position, value: await o.serde.encode(o.dlqTopic, letter) }
}

export function failureOf (err: unknown, attempts: number): Failure {
  const inner = err instanceof RetriesExhausted || err instanceof NotRetried ? (err.cause ?? err) : err
  const e = inner as Error & { code?: unknown }
  const errorClass = err instanceof RetriesExhausted ? 'RetriesExhausted' : err instanceof DecodeError ? 'DecodeError' : (e?.name ?? 'Error')
  const message = err instanceof RetriesExhausted ? err.message : (e?.message ?? String(inner))
  // An LLM answer that never became valid keeps its raw text, for the person reading the dead letter.
  const raw = (inner as { raw?: unknown } | null)?.raw
  return { errorClass, code: typeof e?.code === 'string' ? e.code : null, message, attempts, ...(typeof raw === 'string' ? { rawOutput: raw } : {}) }
}

export interface EngineSetup {
  serde: AvroSerde
  prefix: string
  /** A shadow run's namespace (default: everything under `prefix`). */
  namespace?: TopicNamespace
  runId: string
  logger: Logger
  retry?: RetryPolicy
  /** Only these stages (default: all). */
  stages?: string[]
  /** The process's LLM client, for stages that declare `llm: true`. */
  llm?: LlmClient
}

/**
 * The initialised engines of a topology's selected stages, reading tables from `tables` — what
 * every runner does before it starts moving records.
 */
export async function createEngines (topology: Topology, tables: ReadonlyMap<TopicName, { table: TableView }>, o: EngineSetup): Promise<StageEngine[]> {
  const table = (name: TopicName): TableView => {
    const t = tables.get(name)
    if (!t) throw new Error(`table ${name} is not loaded`)
    return t.table
  }
  const engines: StageEngine[] = []
  for (const spec of topology.stages.filter((s) => !o.stages || o.stages.includes(s.name))) {
    const promotions = tables.get('promptPromotions')?.table
    const engine = new StageEngine({ stage: spec, serde: o.serde, prefix: o.prefix, runId: o.runId, logger: o.logger, tables: table, topology: topology.name, ...(o.namespace ? { namespace: o.namespace } : {}), ...(promotions ? { promotions } : {}), ...(o.retry ? { retry: o.retry } : {}), ...(o.llm ? { llm: o.llm } : {}) })
    await engine.init()
    engines.push(engine)
  }
  return engines
}
