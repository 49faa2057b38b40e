/**
 * The transport seam: what the tools around a pipeline (ops, ingest, metrics) need from where
 * its topics live, with one implementation per runner — `kafka/kafka-transport.ts` (KafkaJS and
 * the schema registry) and `embedded/embedded-transport.ts` (the SQLite log). Above this file
 * nothing knows which it is talking to, and nothing outside `src/runtime/kafka/` imports KafkaJS
 * (an ESLint rule keeps it so), so a move to another Kafka client touches one folder.
 *
 * This file holds types only: importing it loads neither KafkaJS nor SQLite.
 * `open-transport.ts` picks the implementation.
 */
import type { AvroSerde } from '../serde/avro-serde.ts'

export type RunnerKind = 'embedded' | 'kafka'

/** Where a read starts. */
export type StartPosition =
  | { kind: 'beginning' }
  | { kind: 'latest' }
  /** `all`: every partition not listed in `partitions`. */
  | { kind: 'offset', all?: number, partitions: Map<number, number> }
  | { kind: 'time', at: number }

/** The start offset of one partition for an offset position, or undefined to skip it. */
export function offsetFor (pos: StartPosition & { kind: 'offset' }, partition: number): number | undefined {
  return pos.partitions.get(partition) ?? pos.all
}

/** A raw record as read from a topic (value undecoded: Confluent wire format). */
export interface TapRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: string | null
  value: Buffer | null
  headers: Record<string, string>
}

export interface ReadOptions {
  topic: string
  start: StartPosition
  /** Keep reading new records until `signal` aborts; else stop at the end as of the start. */
  follow: boolean
  signal?: AbortSignal
  /** Embedded follow: how often to look for new records (default 200 ms). */
  pollMs?: number
  /** Called once the start offsets are fixed (records written from then on will be read). */
  onStart?: (starts: ReadonlyArray<{ partition: number, offset: number }>) => void
}

/** Called for each record in offset order per partition; returning 'stop' ends the read. */
export type OnRecord = (r: TapRecord) => Promise<void | 'stop'> | void | 'stop'

/** A record of a topic read to its end (readToEnd). */
export interface TopicRecord {
  partition: number
  offset: number
  key: string | null
  value: Buffer | null
}

export interface TailRecord { partition: number, offset: number, key: string | null, value: Buffer | null, timestamp: number }

/** A topic followed in the background: records reach the callback as they are written. */
export interface Tail {
  /** Delivers what was written since the last call (a no-op where delivery is pushed, as on Kafka). */
  poll (): Promise<void>
  /** Resolves once every record written before the tail started was delivered. */
  waitCaughtUp (timeoutMs?: number): Promise<void>
  close (): Promise<void>
}

/** A stage's input as lag is counted: its input topic and its consumer group (embedded: consumer). */
export interface StageInput {
  input: string
  group: string
}

export interface LagFigures {
  lag: number
  committed: number
  /** Kafka: members of the stage's group right now. */
  consumers?: number
  /** Kafka: partitions of the input topic. */
  partitions?: number
  /** Kafka: whether lag counts records exactly (a census read every offset it spans); else offsets, markers included. */
  exact?: boolean
}

export interface LagOptions {
  /**
   * Count records, not offsets: on Kafka a census reads the input topics and leaves out the
   * offsets that hold no record (transaction markers, aborted records). It stays open between
   * calls (close() ends it). The embedded log has no such offsets.
   */
  census?: boolean
}

/** Consumer lag per stage. */
export interface LagReader {
  lag<S extends StageInput> (stages: readonly S[], o?: LagOptions): Promise<Array<S & LagFigures>>
  close (): Promise<void>
}

/** The header (Kafka) or ledger entry (embedded) naming the dead letter a record replays. */
export const REPLAY_HEADER = 'synthq-replay-of'

/** One record to write back to the topic it came from, marked as a replay of `id`. */
export interface ReplayItem {
  /** What the replay is of (a dead letter's id): the mark by which an earlier replay is found. */
  id: string
  /** The stage the record is replayed to (the embedded ledger notes it). */
  stage: string
  topic: string
  /** The partition the record was read from, when known. */
  partition: number | null
  /** Its offset there: earlier replays are looked for after it. */
  offset: number | null
  key: Buffer | null
  value: Buffer
  headers: Record<string, string>
}

export interface ReplayResult {
  id: string
  status: 'replayed' | 'would-replay' | 'replayed-before' | 'no-topic'
  topic: string
  partition?: number
  offset?: number
  /** replayed-before: where the earlier replay is, in words ("<topic> partition P offset N"). */
  where?: string
}

/** Consumer-group positions and plain writes: what `synthq shadow` and `synthq shadow promote` need. */
export interface GroupPositions {
  /** A group's committed offsets on a topic, per partition (empty: it has none). */
  committedOffsets (group: string, topic: string): Promise<Map<number, number>>
  /** The offset each partition of a topic will write next (empty for a topic that does not exist). */
  endOffsets (topic: string): Promise<Map<number, number>>
  /**
   * Sets a group's committed offsets on a topic (forward or back). On Kafka the group must have
   * no member running (the broker refuses otherwise); on the embedded log no process may be
   * running the stage, which the log cannot check.
   */
  seekGroup (group: string, topic: string, offsets: ReadonlyMap<number, number>): Promise<void>
  /** Appends encoded records, acknowledged by every in-sync replica on Kafka. */
  write (records: ReadonlyArray<{ topic: string, key: string, value: Buffer | null }>): Promise<void>
}

/** Everything the operator tools need of one pipeline's topics (tap, dlq, status). */
export interface Transport extends LagReader, GroupPositions {
  readonly kind: RunnerKind
  /** Where the topics live, for messages (never credentials). */
  readonly where: string
  /** Decodes and encodes with the schemas this transport's registry holds. */
  readonly serde: AvroSerde
  /** Records in each of the prefix's topics that exist (markers and aborted records left out where known). */
  topicSizes (prefix: string): Promise<Array<{ topic: string, records: number }>>
  /** Reads a topic raw, without joining or moving any of the pipeline's consumer groups. */
  read (o: ReadOptions, onRecord: OnRecord): Promise<void>
  /** Every committed record of a topic up to its end as of the call; a missing topic reads as empty. */
  readToEnd (topic: string): Promise<TopicRecord[]>
  /** Follows a topic from its beginning, or from the last `fromEnd` records of each partition. */
  tail (topic: string, onRecord: (r: TailRecord) => void, o?: { fromEnd?: number }): Promise<Tail>
  /**
   * Writes records back to their topics marked as replays, each at most once unless `force`:
   * an earlier replay of the same id is found and reported instead. `dryRun` writes nothing.
   */
  replay (items: readonly ReplayItem[], o: { force: boolean, dryRun: boolean }): Promise<ReplayResult[]>
}

/** A record to ingest: its key and its value, encoded by the target. */
export interface KeyedValue {
  key: string
  value: unknown
}

export interface BatchResult {
  written: number
  /** Keys already in the topic (or earlier in this run) and therefore not written. */
  duplicates: string[]
}

/**
 * Where ingested records go. Every target writes in batches and reports, per batch, which keys
 * it did not write because the topic already holds them — so deduplication is decided where
 * the data is (the database, the topic), not by a local file that another machine cannot see.
 */
export interface IngestTarget {
  /** The Kafka (or embedded) topic name. */
  readonly topic: string
  /** Where the topic lives, for the summary (never credentials). */
  readonly where: string
  /** What dedup means on this target, for the summary. */
  readonly dedupNote: string
  write (records: readonly KeyedValue[]): Promise<BatchResult>
  close (): Promise<void>
}
