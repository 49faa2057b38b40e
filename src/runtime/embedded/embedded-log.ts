/**
 * The embedded runner's durable log: topics, consumer positions and schemas in one SQLite
 * database (better-sqlite3), so a single machine runs a topology with nothing to install.
 *
 * Each topic is one ordered log (one partition) of records with offsets from 0, stored exactly
 * as on Kafka: UTF-8 key, Confluent wire-format value. A consumer's position is a committed
 * offset plus the offsets completed beyond it ("consumed marks"); a record's outputs and its
 * consumed mark are written in one database transaction, so a crash at any instant leaves
 * either both or neither.
 *
 * Compacted topics are compacted as they are written: a new value for a key deletes the record
 * that held the key before (a tombstone too is kept until the key is written again), so the
 * sample and the sink's checkpoints stay the size of their latest values, as Kafka's log
 * cleaner would leave them. Offsets of a compacted topic therefore have gaps, as on Kafka.
 *
 * WAL journal, synchronous=NORMAL: a committed transaction survives the process being killed
 * (SIGKILL); only an operating-system crash or power loss can take back the last moments
 * (`durability: 'full'` closes that too, at a cost per record).
 */
import Database from 'better-sqlite3'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { ConfigError } from '../../errors.ts'
import type { EncodedRecord } from '../stage-engine.ts'

export interface LogRecord {
  offset: number
  key: string | null
  value: Buffer | null
  timestamp: number
}

export interface EmbeddedLogOptions {
  durability?: 'normal' | 'full'
  /** Topics compacted on write (see above). */
  compacted?: (topic: string) => boolean
  /**
   * Open an existing database read-only (tap, dlq): nothing is created or written, and a file
   * that is not a synthq database with topics is refused with a ConfigError.
   */
  readOnly?: boolean
}

/** Tables a database must have to be read as a synthq embedded log. */
const LOG_TABLES = ['records', 'topics', 'schemas', 'subject_versions']

export class EmbeddedLog {
  readonly path: string
  readonly db: Database.Database
  readonly #listeners = new Set<(topic: string) => void>()
  readonly #stmts
  readonly #compacted: (topic: string) => boolean

  constructor (path: string, opts: EmbeddedLogOptions = {}) {
    this.path = path
    this.db = opts.readOnly ? openReadOnly(path) : openWritable(path, opts)
    if (!opts.readOnly) this.db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        topic TEXT NOT NULL, offset INTEGER NOT NULL, key TEXT, value BLOB, timestamp INTEGER NOT NULL,
        PRIMARY KEY (topic, offset)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS topics (topic TEXT PRIMARY KEY, next_offset INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS positions (consumer TEXT NOT NULL, topic TEXT NOT NULL, committed INTEGER NOT NULL,
        PRIMARY KEY (consumer, topic)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS compacted_keys (topic TEXT NOT NULL, key TEXT NOT NULL, offset INTEGER NOT NULL,
        PRIMARY KEY (topic, key)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS consumed (consumer TEXT NOT NULL, topic TEXT NOT NULL, offset INTEGER NOT NULL,
        PRIMARY KEY (consumer, topic, offset)) WITHOUT ROWID;
    `)
    this.#compacted = opts.compacted ?? (() => false)
    this.#stmts = {
      keyOffset: this.db.prepare<[string, string], { offset: number }>('SELECT offset FROM compacted_keys WHERE topic = ? AND key = ?'),
      setKeyOffset: this.db.prepare('INSERT INTO compacted_keys (topic, key, offset) VALUES (?, ?, ?) ON CONFLICT(topic, key) DO UPDATE SET offset = excluded.offset'),
      deleteRecord: this.db.prepare('DELETE FROM records WHERE topic = ? AND offset = ?'),
      head: this.db.prepare<[string], { next_offset: number }>('SELECT next_offset FROM topics WHERE topic = ?'),
      setHead: this.db.prepare('INSERT INTO topics (topic, next_offset) VALUES (?, ?) ON CONFLICT(topic) DO UPDATE SET next_offset = excluded.next_offset'),
      insert: this.db.prepare('INSERT INTO records (topic, offset, key, value, timestamp) VALUES (?, ?, ?, ?, ?)'),
      read: this.db.prepare<[string, number, number], LogRecord>('SELECT offset, key, value, timestamp FROM records WHERE topic = ? AND offset >= ? ORDER BY offset LIMIT ?'),
      position: this.db.prepare<[string, string], { committed: number }>('SELECT committed FROM positions WHERE consumer = ? AND topic = ?'),
      setPosition: this.db.prepare('INSERT INTO positions (consumer, topic, committed) VALUES (?, ?, ?) ON CONFLICT(consumer, topic) DO UPDATE SET committed = excluded.committed'),
      marks: this.db.prepare<[string, string, number], { offset: number }>('SELECT offset FROM consumed WHERE consumer = ? AND topic = ? AND offset >= ? ORDER BY offset'),
      mark: this.db.prepare('INSERT OR IGNORE INTO consumed (consumer, topic, offset) VALUES (?, ?, ?)'),
      unmark: this.db.prepare('DELETE FROM consumed WHERE consumer = ? AND topic = ? AND offset < ?'),
    }
  }

  /** Called (in this process) after records are appended to a topic. */
  onAppend (listener: (topic: string) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #notify (topics: Iterable<string>): void {
    for (const t of new Set(topics)) for (const l of this.#listeners) l(t)
  }

  head (topic: string): number {
    return this.#stmts.head.get(topic)?.next_offset ?? 0
  }

  #appendNoTx (records: ReadonlyArray<Pick<EncodedRecord, 'topic' | 'key' | 'value'>>, now: number): void {
    const heads = new Map<string, number>()
    for (const r of records) {
      const next = heads.get(r.topic) ?? this.head(r.topic)
      if (r.key !== null && this.#compacted(r.topic)) {
        const previous = this.#stmts.keyOffset.get(r.topic, r.key)
        if (previous) this.#stmts.deleteRecord.run(r.topic, previous.offset)
        this.#stmts.setKeyOffset.run(r.topic, r.key, next)
      }
      this.#stmts.insert.run(r.topic, next, r.key, r.value, now)
      heads.set(r.topic, next + 1)
    }
    for (const [topic, next] of heads) this.#stmts.setHead.run(topic, next)
  }

  /** Appends records (any topics) in one transaction. */
  append (records: ReadonlyArray<Pick<EncodedRecord, 'topic' | 'key' | 'value'>>, now = Date.now()): void {
    if (records.length === 0) return
    this.db.transaction(() => this.#appendNoTx(records, now)).immediate()
    this.#notify(records.map((r) => r.topic))
  }

  read (topic: string, from: number, limit: number): LogRecord[] {
    return this.#stmts.read.all(topic, from, limit)
  }

  /** A consumer's committed offset and the offsets it completed beyond it. */
  position (consumer: string, topic: string): { committed: number, completedBeyond: number[] } {
    const committed = this.#stmts.position.get(consumer, topic)?.committed ?? 0
    return { committed, completedBeyond: this.#stmts.marks.all(consumer, topic, committed).map((r) => r.offset) }
  }

  /** One record done: its outputs and its consumed mark, atomically. */
  complete (consumer: string, topic: string, offset: number, outputs: readonly EncodedRecord[], now = Date.now()): void {
    this.db.transaction(() => {
      this.#appendNoTx(outputs, now)
      this.#stmts.mark.run(consumer, topic, offset)
    }).immediate()
    if (outputs.length) this.#notify(outputs.map((r) => r.topic))
  }

  /**
   * A stateful stage's checkpoint: its records (outputs and state) and its new position, in one
   * transaction.
   */
  checkpoint (consumer: string, topic: string, position: number, records: readonly EncodedRecord[], now = Date.now()): void {
    this.db.transaction(() => {
      this.#appendNoTx(records, now)
      this.#stmts.setPosition.run(consumer, topic, position)
    }).immediate()
    if (records.length) this.#notify(records.map((r) => r.topic))
  }

  /** Every record of a topic, in offset order (a compacted topic: its latest values). */
  *scan (topic: string, batch = 1000): Generator<LogRecord> {
    let from = 0
    for (;;) {
      const rows = this.read(topic, from, batch)
      yield * rows
      if (rows.length < batch) return
      from = rows[rows.length - 1]!.offset + 1
    }
  }

  /** Moves the committed offset over a completed prefix and forgets the marks below it. */
  advance (consumer: string, topic: string, committed: number): void {
    this.db.transaction(() => {
      this.#stmts.setPosition.run(consumer, topic, committed)
      this.#stmts.unmark.run(consumer, topic, committed)
    }).immediate()
  }

  /** Sets a consumer's committed offset, forward or back, forgetting its marks (a rewound consumer redoes what follows). */
  seek (consumer: string, topic: string, committed: number): void {
    this.db.transaction(() => {
      this.#stmts.setPosition.run(consumer, topic, committed)
      this.#stmts.unmark.run(consumer, topic, Number.MAX_SAFE_INTEGER)
    }).immediate()
  }

  topics (): Array<{ topic: string, records: number }> {
    return this.db.prepare<[], { topic: string, next_offset: number }>('SELECT topic, next_offset FROM topics ORDER BY topic').all().map((r) => ({ topic: r.topic, records: r.next_offset }))
  }

  close (): void {
    if (this.db.open) this.db.close()
  }
}

function openWritable (path: string, opts: EmbeddedLogOptions): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`)
  db.pragma('busy_timeout = 10000')
  return db
}

function openReadOnly (path: string): Database.Database {
  if (path !== ':memory:' && !existsSync(path)) throw new ConfigError(`no embedded database at ${path} (run npm start or synthq run first, or pass --db)`)
  const db = new Database(path, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 10000')
  const tables = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name))
  const missing = LOG_TABLES.filter((t) => !tables.has(t))
  if (missing.length) {
    db.close()
    throw new ConfigError(`${path} is not a synthq embedded database with topics (no ${missing.join(', ')} table): run npm start or synthq run first, or pass --db`)
  }
  return db
}
