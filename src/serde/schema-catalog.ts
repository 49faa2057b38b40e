/**
 * Loads the Avro contracts in `schemas/`. Shared named types (Lineage, DocumentRef,
 * QueryCompositions) live in `schemas/common/` and are referred to by name from the topic
 * schemas; the catalog expands them so that every schema registered is self-contained and any
 * Confluent-format client can read it without schema references.
 */
import avro from 'avsc'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SynthqError } from '../errors.ts'
import { TOPICS } from '../topics.ts'
import { packagePath } from '../package-root.ts'

export const SCHEMAS_DIR = packagePath('schemas')

export interface CatalogEntry {
  recordName: string
  file: string
  /** Parsed type: validates, encodes and decodes values. */
  type: avro.Type
  /** The self-contained schema text registered with the registry. */
  schema: string
}

function parseFile (file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new SynthqError('SYNTHQ_SCHEMA_INVALID', `Schema file ${file} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
}

export class SchemaCatalog {
  readonly #entries = new Map<string, CatalogEntry>()

  private constructor () {}

  /** Reads every topic schema named in the topic map, with the shared types in `common/`. */
  static load (dir = SCHEMAS_DIR): SchemaCatalog {
    const catalog = new SchemaCatalog()
    const commonDir = join(dir, 'common')
    const common = readdirSync(commonDir).filter((f) => f.endsWith('.avsc')).sort().map((f) => join(commonDir, f))
    const commonRegistry: Record<string, avro.Type> = {}
    for (const f of common) {
      try {
        avro.Type.forSchema(parseFile(f) as avro.Schema, { registry: commonRegistry })
      } catch (err) {
        throw new SynthqError('SYNTHQ_SCHEMA_INVALID', `Shared schema ${f} is not a valid Avro schema: ${(err as Error).message}`, { cause: err })
      }
    }
    for (const topic of TOPICS) catalog.add(join(dir, topic.schemaFile), { ...commonRegistry })
    return catalog
  }

  /** Parses one schema file against a registry of already known named types. */
  add (file: string, registry: Record<string, avro.Type> = {}): CatalogEntry {
    let type: avro.Type
    try {
      type = avro.Type.forSchema(parseFile(file) as avro.Schema, { registry })
    } catch (err) {
      throw new SynthqError('SYNTHQ_SCHEMA_INVALID', `${file} is not a valid Avro schema: ${(err as Error).message}`, { cause: err })
    }
    if (!type.name) throw new SynthqError('SYNTHQ_SCHEMA_INVALID', `${file} must define a named record`)
    const entry: CatalogEntry = { recordName: type.name, file, type, schema: JSON.stringify(type.schema({ exportAttrs: true })) }
    this.#entries.set(type.name, entry)
    return entry
  }

  get (recordName: string): CatalogEntry {
    const e = this.#entries.get(recordName)
    if (!e) throw new SynthqError('SYNTHQ_SCHEMA_NOT_FOUND', `No schema for record ${recordName} in ${SCHEMAS_DIR}`)
    return e
  }

  entries (): CatalogEntry[] {
    return [...this.#entries.values()]
  }
}
