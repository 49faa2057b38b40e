/**
 * The processor contract: a small typed unit that turns one decoded input record into zero or
 * more output records, or a rejection with a reason. A processor never sees Kafka, Avro or
 * SQLite, and a record's offset is for lineage and logs, never for logic — the runtime decodes
 * its input, validates and encodes its outputs, retries it, dead-letters what fails and commits
 * what succeeds. The same processor runs unchanged on the Kafka runner and the embedded runner.
 *
 * Modelled on Kafka Streams' Processor API (init / process / close, a context as the only way
 * out), with the result returned instead of forwarded so the runtime can commit a record's
 * outputs atomically.
 */
import type { StageLlm } from '../llm/client.ts'
import type { Logger } from '../log.ts'
import type { TopicName } from '../topics.ts'
import type { Lineage, LineageOptions } from './lineage.ts'

/** One input record, decoded into the input topic's current schema. */
export interface InputRecord<V = unknown> {
  /** Logical topic (e.g. `documents`); the physical name carries the deployment's prefix. */
  readonly topic: TopicName
  readonly key: string | null
  readonly value: V
  /** Where the record sits in its topic: for lineage and logs, not for logic. */
  readonly partition: number
  readonly offset: string
  /** Record timestamp, ms since the epoch. */
  readonly timestamp: number
}

export interface OutputRecord<V = unknown> {
  topic: TopicName
  key: string
  /** null writes a tombstone: the key is deleted from a compacted topic and the tables reading it. */
  value: V | null
}

export type ProcessResult =
  | { readonly kind: 'outputs', readonly records: readonly OutputRecord[] }
  | { readonly kind: 'rejected', readonly reason: string, readonly errorClass?: string, readonly rawOutput?: string }

/** The outputs of one input record (none is fine: a filter). */
export function emit (...records: OutputRecord[]): ProcessResult {
  return { kind: 'outputs', records }
}

/** Sends the input to the dead-letter topic with `reason`; the stage moves on. */
export function reject (reason: string, opts: { errorClass?: string, rawOutput?: string } = {}): ProcessResult {
  return { kind: 'rejected', reason, ...opts }
}

/** A table (compacted topic) read fully into memory and kept up to date while the stage runs. */
export interface TableView<V = unknown> {
  get (key: string): V | undefined
  readonly size: number
  keys (): IterableIterator<string>
  values (): IterableIterator<V>
}

export interface ProcessorContext {
  readonly stage: string
  readonly runId: string
  readonly logger: Logger
  /** The clock; tests replace it. */
  now (): number
  /** Aborted when the record's work is abandoned (shutdown past its deadline, partition lost). */
  readonly signal: AbortSignal
  /**
   * This stage's LLM (its endpoint, model and parameters from the LLM settings), for stages
   * declared with `llm: true`. Retries, rate limits, the response cache and token accounting
   * happen inside; what comes back is validated JSON or an error the runtime dead-letters.
   */
  llm (): StageLlm
  /** A table this stage declared in its topology. */
  table<V = unknown> (name: TopicName): TableView<V>
  /** Lineage for an output derived from `inputs` (upstream ids, topics, times, simulated flag). */
  lineage (inputs: InputRecord | InputRecord[], opts?: LineageOptions): Lineage
}

export interface Processor<In = unknown> {
  readonly name: string
  init? (ctx: Omit<ProcessorContext, 'signal'>): void | Promise<void>
  process (record: InputRecord<In>, ctx: ProcessorContext): ProcessResult | Promise<ProcessResult>
  close? (): void | Promise<void>
  /** Figures the processor keeps (counts, shares), shown by the runner's progress and `status`. */
  metrics? (): Record<string, number>
}
