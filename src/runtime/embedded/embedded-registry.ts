/**
 * A schema registry inside the embedded database: subjects, versions and ids as in Confluent's
 * registry (same text under a subject → same id), BACKWARD compatibility checked by avsc's
 * schema resolution (a new version must read what the latest one wrote). Records on the embedded
 * runner thus carry the same Confluent wire format as on Kafka.
 */
import avro from 'avsc'
import type Database from 'better-sqlite3'
import { DecodeError, SchemaIncompatibleError } from '../../errors.ts'
import type { RegisteredSchema, SchemaRegistry } from '../../serde/registry.ts'

export class EmbeddedRegistry implements SchemaRegistry {
  readonly url: string
  readonly #db: Database.Database
  readonly #types = new Map<number, avro.Type>()

  constructor (db: Database.Database, label: string) {
    this.#db = db
    this.url = `embedded:${label}`
    db.exec(`
      CREATE TABLE IF NOT EXISTS schemas (id INTEGER PRIMARY KEY, schema TEXT NOT NULL UNIQUE);
      CREATE TABLE IF NOT EXISTS subject_versions (subject TEXT NOT NULL, version INTEGER NOT NULL, id INTEGER NOT NULL,
        PRIMARY KEY (subject, version)) WITHOUT ROWID;
    `)
  }

  async register (subject: string, schema: string): Promise<RegisteredSchema> {
    const type = avro.Type.forSchema(JSON.parse(schema) as avro.Schema)
    return this.#db.transaction(() => {
      const existing = this.#db.prepare<[string, string], { id: number }>('SELECT v.id FROM subject_versions v JOIN schemas s ON s.id = v.id WHERE v.subject = ? AND s.schema = ?').get(subject, schema)
      if (existing) return { subject, id: existing.id }
      const verdict = this.#check(subject, type)
      if (!verdict.compatible) {
        throw new SchemaIncompatibleError(`The embedded registry rejected the new schema for subject "${subject}" as incompatible with the registered one (BACKWARD): ${verdict.messages.join('; ')}. Add new fields with a default, never remove or retype fields without one, or register under a new topic.`, { context: { subject } })
      }
      this.#db.prepare('INSERT OR IGNORE INTO schemas (schema) VALUES (?)').run(schema)
      const id = this.#db.prepare<[string], { id: number }>('SELECT id FROM schemas WHERE schema = ?').get(schema)!.id
      const version = (this.#db.prepare<[string], { v: number | null }>('SELECT MAX(version) AS v FROM subject_versions WHERE subject = ?').get(subject)?.v ?? 0) + 1
      this.#db.prepare('INSERT INTO subject_versions (subject, version, id) VALUES (?, ?, ?)').run(subject, version, id)
      return { subject, id }
    }).immediate()
  }

  async writerType (id: number): Promise<avro.Type> {
    let t = this.#types.get(id)
    if (!t) {
      const row = this.#db.prepare<[number], { schema: string }>('SELECT schema FROM schemas WHERE id = ?').get(id)
      if (!row) throw new DecodeError(`schema id ${id} is not known to the embedded registry (${this.url})`, { context: { schemaId: id } })
      t = avro.Type.forSchema(JSON.parse(row.schema) as avro.Schema)
      this.#types.set(id, t)
    }
    return t
  }

  async latestId (subject: string): Promise<number | undefined> {
    return this.#db.prepare<[string], { id: number }>('SELECT id FROM subject_versions WHERE subject = ? ORDER BY version DESC LIMIT 1').get(subject)?.id
  }

  async isCompatible (subject: string, schema: string): Promise<{ compatible: boolean, messages: string[] }> {
    return this.#check(subject, avro.Type.forSchema(JSON.parse(schema) as avro.Schema))
  }

  #check (subject: string, reader: avro.Type): { compatible: boolean, messages: string[] } {
    const latest = this.#db.prepare<[string], { schema: string }>('SELECT s.schema FROM subject_versions v JOIN schemas s ON s.id = v.id WHERE v.subject = ? ORDER BY v.version DESC LIMIT 1').get(subject)
    if (!latest) return { compatible: true, messages: ['subject has no versions yet'] }
    try {
      reader.createResolver(avro.Type.forSchema(JSON.parse(latest.schema) as avro.Schema))
      return { compatible: true, messages: [] }
    } catch (err) {
      return { compatible: false, messages: [(err as Error).message] }
    }
  }
}
