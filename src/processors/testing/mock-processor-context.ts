/**
 * MockProcessorContext: unit-test a processor without a runner, the way Kafka Streams'
 * test-utils MockProcessorContext does. It is a {@link ProcessorContext} (the exact interface
 * the runtime gives processors) whose clock, tables and LLM the test sets, and which records
 * what the processor produced: outputs ("forwarded" records, each with the input it came from)
 * and rejections (what the runtime would dead-letter, with the reason).
 *
 *   const ctx = new MockProcessorContext({ stage: 'scoring', llm: new ScriptedLlm().answer('scoring', answer) })
 *   await ctx.process(scoring(), ctx.input('synthesizedInstructions', value))
 *   assert.equal(ctx.forwarded()[0]!.value.total, 7)
 *
 * Processors return their outputs instead of forwarding them (processor.ts), so the mock runs
 * them: `process(processor, record)` for record processors, `processBatch(sink, records)` for
 * stateful ones, and records the result. Checks the runtime makes are made here too, so a test
 * fails where the pipeline would dead-letter: an output to a topic the stage does not declare
 * (when `outputs` is given), a tombstone to a topic that is not compacted, a table the stage
 * does not declare, an LLM call from a stage without one. What it does not do: decode or
 * encode Avro (schemas are tested in test/serde), retry, or catch a thrown error — a processor
 * that throws makes `process` throw, which a test asserts with `assert.rejects`.
 */
import { SynthqError } from '../../errors.ts'
import type { StageLlm } from '../../llm/client.ts'
import { createLogger, type Logger } from '../../log.ts'
import { topicName, topicSpec, type TopicName } from '../../topics.ts'
import { buildLineage, type Lineage, type LineageOptions } from '../lineage.ts'
import type { InputRecord, OutputRecord, Processor, ProcessorContext, ProcessResult, TableView } from '../processor.ts'
import type { BatchResult, StatefulContext, StatefulProcessor } from '../stateful.ts'
import type { ScriptedLlm } from './scripted-llm.ts'

/**
 * An output the processor produced, with the input it was produced for (none: from flush or
 * punctuate). `value` is null for a tombstone: ask for `forwarded<V | null>()` where they occur.
 */
export interface CapturedOutput<V = unknown> extends Omit<OutputRecord<V>, 'value'> {
  readonly value: V
  readonly input: InputRecord | undefined
}

/** A record the processor refused: the runtime would dead-letter it with this reason. */
export interface CapturedRejection {
  readonly record: InputRecord
  readonly reason: string
  readonly errorClass: string
  readonly rawOutput?: string
}

export interface MockProcessorContextOptions {
  /** The stage name (lineage.stage, logs, the LLM settings it is answered under). Default `test-stage`. */
  stage?: string
  runId?: string
  /** Start of the clock, ms since the epoch (default 2025-01-01T00:00:00Z: fixed, so outputs repeat). */
  now?: number
  /** The stage's LLM; without one, `llm()` throws as the runtime does for a stage without an endpoint. */
  llm?: ScriptedLlm
  /** Outputs the stage declares: an output to any other topic fails the call (default: no check). */
  outputs?: readonly TopicName[]
  /** Tables the stage declares, with their rows (more can be added with `setTable`/`putRow`). */
  tables?: Partial<Record<TopicName, Record<string, unknown>>>
  /** Topic prefix for lineage's physical topic names (default `synthq`). */
  prefix?: string
  logger?: Logger
}

/** A table from a Map, as the runtime's TableView is from a compacted topic. */
class MapTable<V> implements TableView<V> {
  constructor (readonly rows: Map<string, V>) {}
  get (key: string): V | undefined { return this.rows.get(key) }
  get size (): number { return this.rows.size }
  keys (): IterableIterator<string> { return this.rows.keys() }
  values (): IterableIterator<V> { return this.rows.values() }
}

const DEFAULT_NOW = Date.UTC(2025, 0, 1)

export class MockProcessorContext implements ProcessorContext {
  readonly stage: string
  readonly runId: string
  readonly logger: Logger
  readonly #controller = new AbortController()
  readonly #llm: ScriptedLlm | undefined
  #stageLlm: StageLlm | undefined
  readonly #outputs: ReadonlySet<TopicName> | undefined
  readonly #tables = new Map<TopicName, Map<string, unknown>>()
  readonly #prefix: string
  #now: number
  #offset = 0
  #forwarded: Array<CapturedOutput<unknown>> = []
  #rejections: CapturedRejection[] = []

  constructor (o: MockProcessorContextOptions = {}) {
    this.stage = o.stage ?? 'test-stage'
    this.runId = o.runId ?? 'test-run'
    this.logger = o.logger ?? createLogger({ level: 'silent' })
    this.#llm = o.llm
    this.#outputs = o.outputs ? new Set(o.outputs) : undefined
    this.#prefix = o.prefix ?? 'synthq'
    this.#now = o.now ?? DEFAULT_NOW
    for (const [name, rows] of Object.entries(o.tables ?? {}) as Array<[TopicName, Record<string, unknown>]>) this.setTable(name, rows)
  }

  // ── ProcessorContext ────────────────────────────────────────────────────────────────────────

  get signal (): AbortSignal { return this.#controller.signal }

  now (): number { return this.#now }

  llm (): StageLlm {
    if (!this.#llm) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage} has no LLM in this test (give MockProcessorContext an llm: new ScriptedLlm())`)
    this.#stageLlm ??= this.#llm.stage(this.stage)
    return this.#stageLlm
  }

  table<V = unknown> (name: TopicName): TableView<V> {
    const rows = this.#tables.get(name)
    if (!rows) throw new SynthqError('SYNTHQ_CONFIG', `Stage ${this.stage} reads table ${name}, which this test does not declare (tables: { ${name}: {…} })`)
    return new MapTable(rows as Map<string, V>)
  }

  lineage (inputs: InputRecord | InputRecord[], opts: LineageOptions = {}): Lineage {
    return buildLineage(this.stage, this.runId, (r) => topicName(r.topic, this.#prefix), Array.isArray(inputs) ? inputs : [inputs], opts, this.#now)
  }

  // ── what the test sets ──────────────────────────────────────────────────────────────────────

  setTime (ms: number): this { this.#now = ms; return this }
  advanceTime (ms: number): this { this.#now += ms; return this }

  /** Declares `name` with exactly these rows. */
  setTable (name: TopicName, rows: Record<string, unknown> | ReadonlyMap<string, unknown>): this {
    if (topicSpec(name).cleanupPolicy !== 'compact') throw new SynthqError('SYNTHQ_CONFIG', `table ${name}: tables are compacted topics, and ${name} is not`)
    this.#tables.set(name, new Map(rows instanceof Map ? rows : Object.entries(rows)))
    return this
  }

  /** Upserts a row (null deletes it, as a tombstone does). */
  putRow (name: TopicName, key: string, value: unknown): this {
    if (!this.#tables.has(name)) this.setTable(name, {})
    const rows = this.#tables.get(name)!
    if (value === null) rows.delete(key)
    else rows.set(key, value)
    return this
  }

  /** Aborts the signal, as the runtime does when a record's work is abandoned. */
  abort (reason?: unknown): void { this.#controller.abort(reason) }

  /** An input record on `topic` at the next offset of partition 0, stamped with the clock. */
  input<V> (topic: TopicName, value: V, o: { key?: string | null, partition?: number, offset?: number, timestamp?: number } = {}): InputRecord<V> {
    const id = (value as { id?: unknown, instruction_id?: unknown } | null)
    const key = o.key !== undefined ? o.key : typeof id?.id === 'string' ? id.id : typeof id?.instruction_id === 'string' ? id.instruction_id : null
    const offset = o.offset ?? this.#offset++
    return { topic, key, value, partition: o.partition ?? 0, offset: String(offset), timestamp: o.timestamp ?? this.#now }
  }

  // ── running a processor ─────────────────────────────────────────────────────────────────────

  /** init(), as the runtime calls it before the first record (no signal: init is not per record). */
  async init (processor: Processor | StatefulProcessor): Promise<void> {
    await processor.init?.(this.statefulContext())
  }

  /** The context without `signal`, as `init` and stateful processors' hooks get it. */
  statefulContext (): StatefulContext {
    return { stage: this.stage, runId: this.runId, logger: this.logger, now: () => this.now(), llm: () => this.llm(), table: (n) => this.table(n), lineage: (i, o) => this.lineage(i, o) }
  }

  /** Runs one record through `processor` and records what it returned. */
  async process<In> (processor: Processor<In>, record: InputRecord<In>): Promise<ProcessResult> {
    const result = await processor.process(record, this)
    if (result.kind === 'rejected') {
      this.#rejections.push({ record, reason: result.reason, errorClass: result.errorClass ?? 'Rejected', ...(result.rawOutput !== undefined ? { rawOutput: result.rawOutput } : {}) })
    } else {
      for (const out of result.records) this.#capture(out, record, processor.name)
    }
    return result
  }

  /** Runs one batch through a stateful processor and records its outputs and rejections. */
  async processBatch<In> (processor: StatefulProcessor<In>, records: ReadonlyArray<InputRecord<In>>): Promise<BatchResult> {
    const result = await processor.processBatch(records, this)
    // A batch's outputs are not tied to one input: they are recorded against the batch's last.
    const last = records[records.length - 1]
    for (const out of result.outputs) this.#capture(out, last!, processor.name)
    for (const r of result.rejected) this.#rejections.push({ record: r.record, reason: r.reason, errorClass: r.errorClass ?? 'Rejected' })
    return result
  }

  /** Records outputs a stateful processor's flush() or punctuate() returned. */
  captureOutputs (outputs: readonly OutputRecord[], processorName = 'processor'): readonly OutputRecord[] {
    for (const out of outputs) this.#capture(out, undefined, processorName)
    return outputs
  }

  #capture (out: OutputRecord, input: InputRecord | undefined, processor: string): void {
    if (this.#outputs && !this.#outputs.has(out.topic)) {
      throw new SynthqError('SYNTHQ_CONFIG', `processor ${processor} wrote to ${out.topic}, which stage ${this.stage} does not declare as an output (outputs: ${[...this.#outputs].join(', ')})`)
    }
    if (out.value === null && topicSpec(out.topic).cleanupPolicy !== 'compact') {
      throw new SynthqError('SYNTHQ_CONFIG', `processor ${processor} wrote a tombstone to ${out.topic}, which is not a compacted topic`)
    }
    this.#forwarded.push({ ...out, input })
  }

  // ── what the test reads ─────────────────────────────────────────────────────────────────────

  /**
   * Outputs so far, oldest first; only those to `topic` when given. `V` is the value type the
   * test expects (outputs are not decoded against a schema here).
   */
  forwarded<V = Record<string, unknown>> (topic?: TopicName): Array<CapturedOutput<V>> {
    return this.#forwarded.filter((o) => topic === undefined || o.topic === topic) as Array<CapturedOutput<V>>
  }

  /** Rejections so far, oldest first. */
  rejections (): CapturedRejection[] {
    return [...this.#rejections]
  }

  /** Forgets what was recorded (not the clock, tables or LLM script). */
  reset (): void {
    this.#forwarded = []
    this.#rejections = []
  }
}
