/**
 * Dead letters (`synthq.dlq`, written by the stage engine's deadLetterOf): reading them from
 * either runner, selecting, summarising, and replaying them — the original key and value bytes
 * written back to the topic the stage reads, so the stage processes the record again once the
 * cause (a model, a prompt, an endpoint) is fixed.
 *
 * A dead letter is replayed once unless forced. Where that is remembered (each runner's
 * transport does it: src/runtime/embedded/embedded-transport.ts, src/runtime/kafka/kafka-transport.ts):
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
import { ConfigError } from '../errors.ts'
import { REPLAY_HEADER, type ReplayItem, type Transport } from '../runtime/transport.ts'
import type { AvroSerde } from '../serde/avro-serde.ts'
import { TOPICS, topicName } from '../topics.ts'
import type { TopicSource } from './tap/source.ts'

export { REPLAY_HEADER }

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

/**
 * Writes each letter's key and value back to the topic its stage reads, through the transport:
 * at most once per letter unless forced (see the top of this file), nothing at all on a dry run.
 */
export async function replay (transport: Transport, letters: readonly StoredLetter[], o: ReplayOptions): Promise<ReplayOutcome[]> {
  const out: ReplayOutcome[] = []
  const items: ReplayItem[] = []
  const stageOf = new Map<string, string>()
  for (const { letter: l } of letters) {
    const why = unreplayable(l, o.prefix)
    if (why) { out.push({ id: l.id, stage: l.stage, topic: l.source_topic, status: 'not-replayable', reason: why }); continue }
    stageOf.set(l.id, l.stage)
    items.push({ id: l.id, stage: l.stage, topic: l.source_topic, partition: l.source_partition, offset: l.source_offset, key: l.key, value: l.value!, headers: l.headers })
  }
  for (const r of await transport.replay(items, { force: o.force, dryRun: o.dryRun })) {
    const base = { id: r.id, stage: stageOf.get(r.id)!, topic: r.topic }
    const at = { ...(r.partition !== undefined ? { partition: r.partition } : {}), ...(r.offset !== undefined ? { offset: r.offset } : {}) }
    if (r.status === 'no-topic') out.push({ ...base, status: 'not-replayable', reason: `its source topic ${r.topic} does not exist on this cluster` })
    else if (r.status === 'replayed-before') out.push({ ...base, status: 'replayed-before', ...at, reason: `replayed before to ${r.where ?? r.topic}` })
    else out.push({ ...base, status: r.status, ...at })
  }
  return out
}
