/**
 * The transport seam on the embedded runner (see ../transport.ts): the operator tools' reads,
 * lag and replays straight from the SQLite log. Reads query the database and never read or
 * write a consumer position; `follow` and tails poll for what other processes append.
 *
 * Replays: the log has no record headers, so a replay is remembered in a `dlq_replays` table of
 * the same database, written in the same transaction as the appended record (so a replay is
 * recorded exactly when its record is in the log); reads show the entry as the header
 * `synthq-replay-of`.
 */
import type Database from 'better-sqlite3'
import { ConfigError } from '../../errors.ts'
import { AvroSerde } from '../../serde/avro-serde.ts'
import { SchemaCatalog } from '../../serde/schema-catalog.ts'
import { TOPICS, topicName } from '../../topics.ts'
import { offsetFor, REPLAY_HEADER, type LagFigures, type OnRecord, type ReadOptions, type ReplayItem, type ReplayResult, type StageInput, type Tail, type TailRecord, type TopicRecord, type Transport } from '../transport.ts'
import { EmbeddedLog } from './embedded-log.ts'
import { EmbeddedRegistry } from './embedded-registry.ts'

export interface EmbeddedTransportOptions {
  /** The database file. */
  db: string
  prefix: string
  /** Open it read-only (tap, dlq): it must exist; replays open it for writing for their duration. */
  readOnly?: boolean
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal?.aborted) return resolve()
  const t = setTimeout(() => { signal?.removeEventListener('abort', done); resolve() }, ms)
  const done = (): void => { clearTimeout(t); resolve() }
  signal?.addEventListener('abort', done, { once: true })
})

const LEDGER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS dlq_replays (topic TEXT NOT NULL, offset INTEGER NOT NULL, dead_letter_id TEXT NOT NULL,
    stage TEXT NOT NULL, replayed_at INTEGER NOT NULL, PRIMARY KEY (topic, offset)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS dlq_replays_by_letter ON dlq_replays (dead_letter_id);
`

/** The pipeline's compacted topics under a prefix (the log compacts them as they are written). */
function compactedOf (prefix: string): (topic: string) => boolean {
  const compacted = new Set(TOPICS.filter((t) => t.cleanupPolicy === 'compact').map((t) => topicName(t.name, prefix)))
  return (t) => compacted.has(t)
}

/** Consumer lag from the log's positions: the topic's head less what the consumer completed. */
export function embeddedLag<S extends StageInput> (log: EmbeddedLog, stages: readonly S[]): Array<S & LagFigures> {
  return stages.map((s) => {
    const head = log.head(s.input)
    const p = log.position(s.group, s.input)
    const done = p.committed + p.completedBeyond.length
    return { ...s, lag: Math.max(0, head - done), committed: done }
  })
}

/** The replays `synthq dlq replay` recorded (the log has no record headers). */
function replayLookup (db: Database.Database): (topic: string, offset: number) => string | undefined {
  const exists = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'dlq_replays'").get()!.n > 0
  if (!exists) return () => undefined
  const stmt = db.prepare<[string, number], { dead_letter_id: string }>('SELECT dead_letter_id FROM dlq_replays WHERE topic = ? AND offset = ?')
  return (topic, offset) => stmt.get(topic, offset)?.dead_letter_id
}

/** Reads `o.topic` from the log (one partition, 0). */
export async function readEmbedded (log: EmbeddedLog, o: ReadOptions, onRecord: OnRecord): Promise<void> {
  const replayOf = replayLookup(log.db)
  let from: number
  switch (o.start.kind) {
    case 'beginning': from = 0; break
    case 'latest': from = log.head(o.topic); break
    case 'offset': {
      for (const p of o.start.partitions.keys()) if (p !== 0) throw new ConfigError(`--offset ${p}:N: the embedded log has one partition, 0`)
      from = offsetFor(o.start, 0) ?? 0
      break
    }
    case 'time': {
      const row = log.db.prepare<[string, number], { offset: number | null }>('SELECT MIN(offset) AS offset FROM records WHERE topic = ? AND timestamp >= ?').get(o.topic, o.start.at)
      from = row?.offset ?? log.head(o.topic)
      break
    }
  }
  const end = o.follow ? Infinity : log.head(o.topic)
  o.onStart?.([{ partition: 0, offset: from }])
  while (!o.signal?.aborted) {
    const rows = from < end ? log.read(o.topic, from, Math.min(500, end - from)) : []
    for (const r of rows) {
      if (r.offset >= end) return
      from = r.offset + 1
      const replay = replayOf(o.topic, r.offset)
      if (await onRecord({ topic: o.topic, partition: 0, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: replay ? { [REPLAY_HEADER]: replay } : {} }) === 'stop') return
      if (o.signal?.aborted) return
    }
    if (rows.length === 0) {
      if (!o.follow) return
      // Compacted topics have gaps: skip to the head when nothing is left below it.
      await sleep(o.pollMs ?? 200, o.signal)
    }
  }
}

export class EmbeddedTransport implements Transport {
  readonly kind = 'embedded'
  readonly where: string
  readonly serde: AvroSerde
  readonly log: EmbeddedLog
  readonly #o: EmbeddedTransportOptions

  constructor (o: EmbeddedTransportOptions) {
    this.#o = o
    this.where = `embedded database ${o.db}`
    this.log = new EmbeddedLog(o.db, o.readOnly ? { readOnly: true } : { compacted: compactedOf(o.prefix) })
    this.serde = new AvroSerde(new EmbeddedRegistry(this.log.db, o.db), SchemaCatalog.load(), { prefix: o.prefix })
  }

  async lag<S extends StageInput> (stages: readonly S[]): Promise<Array<S & LagFigures>> {
    return embeddedLag(this.log, stages)
  }

  async topicSizes (prefix: string): Promise<Array<{ topic: string, records: number }>> {
    return this.log.topics().filter((t) => t.topic.startsWith(`${prefix}.`))
  }

  async read (o: ReadOptions, onRecord: OnRecord): Promise<void> {
    await readEmbedded(this.log, o, onRecord)
  }

  async readToEnd (topic: string): Promise<TopicRecord[]> {
    return [...this.log.scan(topic)].map((r) => ({ partition: 0, offset: r.offset, key: r.key, value: r.value }))
  }

  /** Delivers on poll(): the log is read where the caller wants the news, not in the background. */
  async tail (topic: string, onRecord: (r: TailRecord) => void, o: { fromEnd?: number } = {}): Promise<Tail> {
    const log = this.log
    let cursor = o.fromEnd === undefined ? 0 : Math.max(0, log.head(topic) - o.fromEnd)
    const poll = async (): Promise<void> => {
      for (;;) {
        const rows = log.read(topic, cursor, 1000)
        if (rows.length === 0) return
        for (const r of rows) onRecord({ partition: 0, offset: r.offset, key: r.key, value: r.value, timestamp: r.timestamp })
        cursor = rows[rows.length - 1]!.offset + 1
      }
    }
    return { poll, waitCaughtUp: poll, close: async () => {} }
  }

  /** Each record appended to its topic and recorded in `dlq_replays`, one transaction per record. */
  async replay (items: readonly ReplayItem[], o: { force: boolean, dryRun: boolean }): Promise<ReplayResult[]> {
    // A read-only transport writes through a connection of its own, for the replay only.
    const log = this.#o.readOnly ? new EmbeddedLog(this.#o.db, { compacted: compactedOf(this.#o.prefix) }) : this.log
    try {
      log.db.exec(LEDGER_SCHEMA)
      const previous = log.db.prepare<[string], { topic: string, offset: number }>('SELECT topic, offset FROM dlq_replays WHERE dead_letter_id = ? ORDER BY replayed_at DESC LIMIT 1')
      const record = log.db.prepare('INSERT INTO dlq_replays (topic, offset, dead_letter_id, stage, replayed_at) VALUES (?, ?, ?, ?, ?)')
      return items.map((it) => log.db.transaction((): ReplayResult => {
        const base = { id: it.id, topic: it.topic, partition: 0 }
        const before = o.force ? undefined : previous.get(it.id)
        if (before) return { ...base, status: 'replayed-before', offset: before.offset, where: `${before.topic} offset ${before.offset}` }
        const offset = log.head(it.topic)
        if (o.dryRun) return { ...base, status: 'would-replay' }
        log.append([{ topic: it.topic, key: it.key === null ? (null as unknown as string) : it.key.toString('utf8'), value: it.value }])
        record.run(it.topic, offset, it.id, it.stage, Date.now())
        return { ...base, status: 'replayed', offset }
      }).immediate())
    } finally {
      if (log !== this.log) log.close()
    }
  }

  async committedOffsets (group: string, topic: string): Promise<Map<number, number>> {
    const known = this.log.db.prepare<[string, string], { committed: number }>('SELECT committed FROM positions WHERE consumer = ? AND topic = ?').get(group, topic)
    return known ? new Map([[0, known.committed]]) : new Map()
  }

  async endOffsets (topic: string): Promise<Map<number, number>> {
    return new Map([[0, this.log.head(topic)]])
  }

  async seekGroup (group: string, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    this.#writable((log) => log.seek(group, topic, offsets.get(0) ?? 0))
  }

  async write (records: ReadonlyArray<{ topic: string, key: string, value: Buffer | null }>): Promise<void> {
    this.#writable((log) => log.append(records.map((r) => ({ topic: r.topic, key: r.key, value: r.value as Buffer }))))
  }

  /** A read-only transport writes through a connection of its own. */
  #writable (fn: (log: EmbeddedLog) => void): void {
    const log = this.#o.readOnly ? new EmbeddedLog(this.#o.db, { compacted: compactedOf(this.#o.prefix) }) : this.log
    try { fn(log) } finally { if (log !== this.log) log.close() }
  }

  async close (): Promise<void> {
    this.log.close()
  }
}
