/**
 * Appends to a topic of the embedded runner's database. The topic is a plain log, so "is this
 * key already there?" is answered by an index kept in the same database:
 *
 *   ingested_keys (topic, key)        every key the topic holds
 *   ingested_keys_through (topic, n)  the index covers the topic's offsets below n
 *
 * Each batch is one SQLite transaction (BEGIN IMMEDIATE, so concurrent ingests take turns): it
 * first indexes whatever other writers appended since the last ingest (`npm start`, another
 * tool), then inserts each new key — a key that is already there is a duplicate and its record
 * is not appended — then appends the new records and moves the mark. Index and log therefore
 * never disagree, even if the process is killed mid-run: a re-run adds only what is missing.
 *
 * Records are Avro in Confluent's wire format with schemas in the database's registry, exactly
 * as the pipeline writes them, so a `synthq run` process on the same database (which polls the
 * log) picks them up without a restart.
 */
import { AvroSerde } from '../../serde/avro-serde.ts'
import { SchemaCatalog } from '../../serde/schema-catalog.ts'
import type { BatchResult, IngestTarget, KeyedValue } from '../transport.ts'
import { EmbeddedLog } from './embedded-log.ts'
import { EmbeddedRegistry } from './embedded-registry.ts'

export interface EmbeddedTargetOptions {
  db: string
  topic: string
  prefix: string
  /** --no-dedup: append every record; keys are still indexed for later runs. */
  dedup: boolean
}

export class EmbeddedTarget implements IngestTarget {
  readonly topic: string
  readonly where: string
  readonly dedupNote: string
  readonly #log: EmbeddedLog
  readonly #serde: AvroSerde
  readonly #dedup: boolean
  readonly #stmts

  constructor (o: EmbeddedTargetOptions) {
    this.topic = o.topic
    this.where = `embedded database ${o.db}`
    this.#dedup = o.dedup
    this.dedupNote = o.dedup ? 'keys checked against the topic (index ingested_keys in the database, updated in the same transaction as each append)' : '--no-dedup: every record appended, duplicates not checked'
    this.#log = new EmbeddedLog(o.db)
    this.#serde = new AvroSerde(new EmbeddedRegistry(this.#log.db, o.db), SchemaCatalog.load(), { prefix: o.prefix })
    this.#log.db.exec(`
      CREATE TABLE IF NOT EXISTS ingested_keys (topic TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (topic, key)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS ingested_keys_through (topic TEXT PRIMARY KEY, next_offset INTEGER NOT NULL) WITHOUT ROWID;
    `)
    const db = this.#log.db
    this.#stmts = {
      through: db.prepare<[string], { next_offset: number }>('SELECT next_offset FROM ingested_keys_through WHERE topic = ?'),
      setThrough: db.prepare('INSERT INTO ingested_keys_through (topic, next_offset) VALUES (?, ?) ON CONFLICT(topic) DO UPDATE SET next_offset = excluded.next_offset'),
      catchUp: db.prepare('INSERT OR IGNORE INTO ingested_keys (topic, key) SELECT topic, key FROM records WHERE topic = ? AND offset >= ? AND key IS NOT NULL'),
      addKey: db.prepare('INSERT OR IGNORE INTO ingested_keys (topic, key) VALUES (?, ?)'),
    }
  }

  async write (records: readonly KeyedValue[]): Promise<BatchResult> {
    // Encode first (async: the registry); the transaction below is synchronous and short.
    const encoded: Array<{ topic: string, key: string, value: Buffer }> = []
    for (const r of records) encoded.push({ topic: this.topic, key: r.key, value: await this.#serde.encode(this.topic, r.value) })
    const duplicates: string[] = []
    let written = 0
    this.#log.db.transaction(() => {
      const through = this.#stmts.through.get(this.topic)?.next_offset ?? 0
      if (this.#log.head(this.topic) > through) this.#stmts.catchUp.run(this.topic, through)
      const fresh = encoded.filter((e) => {
        const isNew = this.#stmts.addKey.run(this.topic, e.key).changes > 0
        if (!isNew && this.#dedup) duplicates.push(e.key)
        return isNew || !this.#dedup
      })
      this.#log.append(fresh) // nested: a savepoint inside this transaction
      written = fresh.length
      this.#stmts.setThrough.run(this.topic, this.#log.head(this.topic))
    }).immediate()
    return { written, duplicates }
  }

  /** Records in the topic now (for tests and the summary). */
  head (): number {
    return this.#log.head(this.topic)
  }

  async close (): Promise<void> {
    this.#log.close()
  }
}
