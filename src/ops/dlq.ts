/**
 * Dead letters (`synthq.dlq`, written by the stage engine's deadLetterOf): reading them from
 * either runner, selecting, summarising, and replaying them — the original key and value bytes
 * written back to the topic the stage reads, so the stage processes the record again once the
 * cause (a model, a prompt, an endpoint) is fixed.
 *
 * A dead letter is replayed once unless forced. Where that is remembered:
 *
 * - Embedded: a `dlq_replays` table in the same SQLite database, written in the same
 *   transaction as the appended record (topic, offset, dead-letter id). The embedded log has no
 *   record headers; `synthq tap` shows the ledger's entry as the header `synthq-replay-of`.
 * - Kafka: the replayed record itself carries the header `synthq-replay-of: <dead-letter id>`,
 *   and before replaying, the partitions the letters came from are scanned from the earliest
 *   letter's source offset for that header. Nothing else is stored, so every machine sees the
 *   same answer. Limits: a replayed record the topic's retention has deleted is no longer seen;
 *   two replays started at the same instant can both write (the scan and the writes are not one
 *   transaction).
 */
import type { Kafka } from 'kafkajs'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { EmbeddedLog } from '../runtime/embedded/embedded-log.ts'
import type { AvroSerde } from '../serde/avro-serde.ts'
import { TOPICS, topicName } from '../topics.ts'
import { readKafka, type PartitionRange } from './tap/read.ts'
import type { TopicSource } from './tap/source.ts'

/** The header (Kafka) or ledger entry (embedded) naming the dead letter a record replays. */
export const REPLAY_HEADER = 'synthq-replay-of'

/** A synthq.DeadLetter as decoded (schemas/dead-letter.avsc). */
export interface DeadLetter {
  id: string
  stage: string
  source_topic: string
  source_partition: number | null
  source_offset: number | null
  key: Buffer | null
  value: Buffer | null
  schema_id: number | null
  headers: Record<string, string>
  error_class: string
  error_code: string | null
  message: string
  attempts: number
  raw_output: string | null
  run_id: string | null
  failed_at: number
}

/** A dead letter and where it is in the dead-letter topic. */
export interface StoredLetter {
  letter: DeadLetter
  partition: number
  offset: number
}

export interface DlqSelector {
  ids?: readonly string[]
  stage?: string
  errorClass?: string
  /** Case-insensitive substring of the message. */
  grep?: string
  /** failed_at at or after (ms). */
  since?: number
}

export function hasSelector (s: DlqSelector): boolean {
  return Boolean(s.ids?.length || s.stage !== undefined || s.errorClass !== undefined || s.grep !== undefined || s.since !== undefined)
}

export interface Undecodable { partition: number, offset: number, reason: string }

/** Every dead letter of the prefix's dead-letter topic (from `since` on, when given), in failure order. */
export async function readDeadLetters (source: TopicSource, prefix: string, o: { since?: number } = {}): Promise<{ letters: StoredLetter[], undecodable: Undecodable[] }> {
  const topic = topicName('deadLetters', prefix)
  const letters: StoredLetter[] = []
  const undecodable: Undecodable[] = []
  await source.read({ topic, start: o.since === undefined ? { kind: 'beginning' } : { kind: 'time', at: o.since }, follow: false }, async (r) => {
    if (r.value === null) return
    try {
      letters.push({ letter: await source.serde.decode<DeadLetter>(topic, r.value), partition: r.partition, offset: r.offset })
    } catch (err) {
      undecodable.push({ partition: r.partition, offset: r.offset, reason: (err as Error).message })
    }
  }).catch((err: unknown) => {
    // No dead-letter topic yet on Kafka: no dead letters.
    if (err instanceof ConfigError && /does not exist/.test(err.message)) return
    throw err
  })
  letters.sort((a, b) => a.letter.failed_at - b.letter.failed_at || a.partition - b.partition || a.offset - b.offset)
  return { letters, undecodable }
}

export function selectLetters (letters: readonly StoredLetter[], s: DlqSelector): StoredLetter[] {
  const grep = s.grep?.toLowerCase()
  return letters.filter(({ letter: l }) =>
    (!s.ids?.length || s.ids.includes(l.id)) &&
    (s.stage === undefined || l.stage === s.stage) &&
    (s.errorClass === undefined || l.error_class === s.errorClass) &&
    (grep === undefined || l.message.toLowerCase().includes(grep)) &&
    (s.since === undefined || l.failed_at >= s.since))
}

export interface SummaryRow { stage: string, errorClass: string, count: number, example: string, first: number, last: number }

/** Counts by stage × error class, most first, with one example reason (the latest) each. */
export function summarize (letters: readonly StoredLetter[]): SummaryRow[] {
  const rows = new Map<string, SummaryRow>()
  for (const { letter: l } of letters) {
    const k = `${l.stage}\u0000${l.error_class}`
    const r = rows.get(k)
    if (!r) rows.set(k, { stage: l.stage, errorClass: l.error_class, count: 1, example: l.message, first: l.failed_at, last: l.failed_at })
    else {
      r.count++
      r.first = Math.min(r.first, l.failed_at)
      if (l.failed_at >= r.last) { r.last = l.failed_at; r.example = l.message }
    }
  }
  return [...rows.values()].sort((a, b) => b.count - a.count || a.stage.localeCompare(b.stage) || a.errorClass.localeCompare(b.errorClass))
}

/** The original value decoded with the schema its bytes name, or why it does not decode. */
export async function decodeOriginal (serde: AvroSerde, l: DeadLetter): Promise<{ value: unknown } | { error: string }> {
  if (l.value === null) return { error: 'no value (a tombstone)' }
  try {
    return { value: (await serde.decodeAny(l.value)).value }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

export type ReplayStatus = 'replayed' | 'would-replay' | 'replayed-before' | 'not-replayable'

export interface ReplayOutcome {
  id: string
  stage: string
  topic: string
  status: ReplayStatus
  /** Where it was written (replayed), or where an earlier replay is (replayed-before). */
  partition?: number
  offset?: number
  reason?: string
}

export interface ReplayOptions {
  prefix: string
  force: boolean
  dryRun: boolean
}

/** Why a letter cannot be replayed at all, or undefined. */
function unreplayable (l: DeadLetter, prefix: string): string | undefined {
  if (l.value === null) return 'its value is null (a tombstone): there is nothing to replay'
  const spec = TOPICS.find((t) => topicName(t.name, prefix) === l.source_topic)
  if (!spec) return `its source topic ${l.source_topic} is not a pipeline topic under the prefix "${prefix}"`
  if (spec.name === 'deadLetters') return 'its source topic is the dead-letter topic'
  return undefined
}

function compactedOf (prefix: string): (topic: string) => boolean {
  const compacted = new Set(TOPICS.filter((t) => t.cleanupPolicy === 'compact').map((t) => topicName(t.name, prefix)))
  return (t) => compacted.has(t)
}

const LEDGER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS dlq_replays (topic TEXT NOT NULL, offset INTEGER NOT NULL, dead_letter_id TEXT NOT NULL,
    stage TEXT NOT NULL, replayed_at INTEGER NOT NULL, PRIMARY KEY (topic, offset)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS dlq_replays_by_letter ON dlq_replays (dead_letter_id);
`

/**
 * Replays on the embedded runner: each letter's key and value appended to its source topic and
 * recorded in `dlq_replays`, in one transaction (so a letter is recorded exactly when its record
 * is in the log).
 */
export function replayEmbedded (dbPath: string, letters: readonly StoredLetter[], o: ReplayOptions): ReplayOutcome[] {
  const log = new EmbeddedLog(dbPath, { compacted: compactedOf(o.prefix) })
  try {
    log.db.exec(LEDGER_SCHEMA)
    const previous = log.db.prepare<[string], { topic: string, offset: number }>('SELECT topic, offset FROM dlq_replays WHERE dead_letter_id = ? ORDER BY replayed_at DESC LIMIT 1')
    const record = log.db.prepare('INSERT INTO dlq_replays (topic, offset, dead_letter_id, stage, replayed_at) VALUES (?, ?, ?, ?, ?)')
    const out: ReplayOutcome[] = []
    for (const { letter: l } of letters) {
      const base = { id: l.id, stage: l.stage, topic: l.source_topic }
      const why = unreplayable(l, o.prefix)
      if (why) { out.push({ ...base, status: 'not-replayable', reason: why }); continue }
      out.push(log.db.transaction((): ReplayOutcome => {
        const before = o.force ? undefined : previous.get(l.id)
        if (before) return { ...base, status: 'replayed-before', partition: 0, offset: before.offset, reason: `replayed before to ${before.topic} offset ${before.offset}` }
        const offset = log.head(l.source_topic)
        if (o.dryRun) return { ...base, status: 'would-replay', partition: 0 }
        log.append([{ topic: l.source_topic, key: l.key === null ? (null as unknown as string) : l.key.toString('utf8'), value: l.value }])
        record.run(l.source_topic, offset, l.id, l.stage, Date.now())
        return { ...base, status: 'replayed', partition: 0, offset }
      }).immediate())
    }
    return out
  } finally {
    log.close()
  }
}

/**
 * Replays on Kafka: each letter's key, value and original headers, plus `synthq-replay-of`,
 * written to the partition it was read from. Letters already replayed (found by scanning the
 * source partitions for the header) are refused unless forced.
 */
export async function replayKafka (kafka: Kafka, letters: readonly StoredLetter[], o: ReplayOptions, logger: Logger): Promise<ReplayOutcome[]> {
  const out: ReplayOutcome[] = []
  const todo: DeadLetter[] = []
  const admin = kafka.admin()
  const partitions = new Map<string, Array<{ partition: number, low: number, high: number }>>()
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    for (const { letter: l } of letters) {
      const base = { id: l.id, stage: l.stage, topic: l.source_topic }
      const why = unreplayable(l, o.prefix) ?? (existing.has(l.source_topic) ? undefined : `its source topic ${l.source_topic} does not exist on this cluster`)
      if (why) { out.push({ ...base, status: 'not-replayable', reason: why }); continue }
      if (!partitions.has(l.source_topic)) partitions.set(l.source_topic, (await admin.fetchTopicOffsets(l.source_topic)).map((x) => ({ partition: x.partition, low: Number(x.low), high: Number(x.high) })))
      todo.push(l)
    }
  } finally {
    await admin.disconnect()
  }
  const partitionOf = (l: DeadLetter): number | undefined => {
    const p = l.source_partition
    return p !== null && partitions.get(l.source_topic)!.some((x) => x.partition === p) ? p : undefined
  }
  // Earlier replays: scan each source partition from the earliest letter's offset for the header.
  const replayedAt = new Map<string, { partition: number, offset: number }>()
  if (!o.force) {
    for (const [topic, parts] of partitions) {
      const mine = todo.filter((l) => l.source_topic === topic)
      const ranges: PartitionRange[] = parts.map((x) => {
        const froms = mine.filter((l) => partitionOf(l) === x.partition || partitionOf(l) === undefined).map((l) => (partitionOf(l) === undefined || l.source_offset === null ? x.low : l.source_offset + 1))
        return { partition: x.partition, start: froms.length ? Math.max(x.low, Math.min(...froms)) : Infinity, end: x.high }
      })
      await readKafka(kafka, { topic, start: { kind: 'beginning' }, follow: false }, ranges, (r) => {
        const of = r.headers[REPLAY_HEADER]
        if (of !== undefined) replayedAt.set(of, { partition: r.partition, offset: r.offset })
      }, logger)
    }
  }
  const send: DeadLetter[] = []
  for (const l of todo) {
    const base = { id: l.id, stage: l.stage, topic: l.source_topic }
    const before = replayedAt.get(l.id)
    if (before) out.push({ ...base, status: 'replayed-before', ...before, reason: `replayed before to ${l.source_topic} partition ${before.partition} offset ${before.offset}` })
    else if (o.dryRun) out.push({ ...base, status: 'would-replay', ...(partitionOf(l) !== undefined ? { partition: partitionOf(l)! } : {}) })
    else send.push(l)
  }
  if (send.length === 0) return out
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await producer.connect()
  try {
    for (const l of send) {
      const partition = partitionOf(l)
      const [meta] = await producer.send({
        topic: l.source_topic,
        acks: -1,
        messages: [{ key: l.key, value: l.value, ...(partition !== undefined ? { partition } : {}), headers: { ...l.headers, [REPLAY_HEADER]: l.id } }],
      })
      out.push({ id: l.id, stage: l.stage, topic: l.source_topic, status: 'replayed', partition: meta!.partition, offset: Number(meta!.baseOffset) })
    }
  } finally {
    await producer.disconnect()
  }
  return out
}
