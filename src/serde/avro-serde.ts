/**
 * Encodes and decodes topic values as registry Avro in Confluent's wire format.
 *
 * - encode: validates the value against the topic's schema (errors name the record and every
 *   offending field), registers the schema on first use, frames the Avro body with the id.
 * - decode: reads the writer's schema id from the frame, fetches that schema once, and resolves
 *   it to this version's reader schema, so records written with older (or newer, compatible)
 *   schemas decode into today's shape — new fields take their defaults.
 */
import type avro from 'avsc'
import { DecodeError, RecordInvalidError, SynthqError } from '../errors.ts'
import { parseShadowTopic, TOPICS, topicName, topicSpec, valueSubject, type TopicName } from '../topics.ts'
import type { SchemaRegistry } from './registry.ts'
import type { SchemaCatalog } from './schema-catalog.ts'
import { frame, unframe } from './wire-format.ts'

interface TopicBinding {
  topic: string
  subject: string
  type: avro.Type
  schema: string
  /** A compacted topic: a null value is a tombstone, which decodes to null. */
  compacted: boolean
  id?: Promise<number>
}

/** The identifying field of a record, for error messages. */
export function recordLabel (value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value)
  const v = value as Record<string, unknown>
  for (const k of ['id', 'instruction_id']) if (typeof v[k] === 'string') return `${k}=${v[k] as string}`
  return '(no id)'
}

function invalidPaths (type: avro.Type, value: unknown): string[] {
  const paths: string[] = []
  type.isValid(value, { errorHook: (path: string[]) => paths.push(path.join('.') || '(root)') })
  return paths
}

function invalidRecord (topic: string, type: avro.Type, value: unknown, paths: string[], cause?: unknown): RecordInvalidError {
  const where = paths.length ? `invalid field(s) ${paths.join(', ')}` : (cause as Error | undefined)?.message ?? 'invalid'
  return new RecordInvalidError(`Record ${recordLabel(value)} does not match the schema of ${topic} (${type.name}): ${where}`, paths, { context: { topic }, ...(cause ? { cause } : {}) })
}

export class AvroSerde {
  readonly #registry: SchemaRegistry
  readonly #bindings = new Map<string, TopicBinding>()
  /** Resolvers from a writer schema id to a topic's reader type. */
  readonly #resolvers = new Map<string, Promise<avro.Type | avro.Resolver>>()

  readonly #prefix: string | undefined

  constructor (registry: SchemaRegistry, catalog: SchemaCatalog, opts: { prefix?: string } = {}) {
    this.#registry = registry
    this.#prefix = opts.prefix
    for (const spec of TOPICS) {
      const entry = catalog.get(spec.recordName)
      const topic = topicName(spec.name, opts.prefix)
      this.#bindings.set(topic, { topic, subject: valueSubject(topic), type: entry.type, schema: entry.schema, compacted: spec.cleanupPolicy === 'compact' })
    }
  }

  /**
   * Binds another physical topic to a logical topic's schema (a shadow run's copy of it, see
   * TopicNamespace): its subject is `<topic>-value` like every other topic's.
   */
  bindTopic (topic: string, name: TopicName): void {
    if (this.#bindings.has(topic)) return
    const spec = topicSpec(name)
    const like = this.#bindings.get([...this.#bindings.values()].find((b) => b.type.name === spec.recordName)?.topic ?? '')
    if (!like) throw new SynthqError('SYNTHQ_UNKNOWN_TOPIC', `no schema bound for ${name}`)
    this.#bindings.set(topic, { topic, subject: valueSubject(topic), type: like.type, schema: like.schema, compacted: spec.cleanupPolicy === 'compact' })
  }

  /** Kafka topic name for a logical topic under this serde's prefix. */
  topics (): string[] {
    return [...this.#bindings.keys()]
  }

  #binding (topic: string): TopicBinding {
    // A shadow run's copy of a topic (synthq shadow) has the schema of the topic it copies.
    const shadow = this.#bindings.has(topic) ? undefined : parseShadowTopic(topic, this.#prefix)
    if (shadow) this.bindTopic(topic, shadow.name)
    const b = this.#bindings.get(topic)
    if (!b) throw new SynthqError('SYNTHQ_UNKNOWN_TOPIC', `Topic "${topic}" is not in synthq's topic map (known: ${this.topics().join(', ')})`)
    return b
  }

  /** Registers the schema of a topic (once per process) and returns its id. */
  schemaId (topic: string): Promise<number> {
    const b = this.#binding(topic)
    if (!b.id) {
      b.id = this.#registry.register(b.subject, b.schema).then((r) => r.id)
      b.id.catch(() => { b.id = undefined }) // a failed registration is retried on next use
    }
    return b.id
  }

  /** Registers every topic's schema; returns subject → id. */
  async registerAll (): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    for (const b of this.#bindings.values()) out.set(b.subject, await this.schemaId(b.topic))
    return out
  }

  /** Throws a RecordInvalidError naming the record and each invalid field path. */
  validate (topic: string, value: unknown): void {
    const b = this.#binding(topic)
    const paths = invalidPaths(b.type, value)
    if (paths.length) throw invalidRecord(topic, b.type, value, paths)
  }

  async encode (topic: string, value: unknown): Promise<Buffer> {
    const b = this.#binding(topic)
    // avsc checks every value as it writes it, so a valid record is written in one pass; only
    // a failed write pays for the second pass that finds every offending field.
    let body: Buffer
    try {
      body = b.type.toBuffer(value)
    } catch (err) {
      throw invalidRecord(topic, b.type, value, invalidPaths(b.type, value), err)
    }
    return frame(await this.schemaId(topic), body)
  }

  /** Decodes a value of `topic` into the current (reader) schema's shape. */
  async decode<T = unknown> (topic: string, buf: Buffer | null | undefined): Promise<T> {
    const b = this.#binding(topic)
    // A tombstone of a compacted topic (the sample's evictions, read by the response stage) is
    // a record too: it decodes to null. Anywhere else a missing value stays an error.
    if (buf === null && b.compacted) return null as T
    const { schemaId, body } = unframe(buf)
    const key = `${topic}\u0000${schemaId}`
    let resolver = this.#resolvers.get(key)
    if (!resolver) {
      resolver = this.#registry.writerType(schemaId).then((writer) => {
        if (writer.equals(b.type)) return b.type
        try {
          return b.type.createResolver(writer)
        } catch (err) {
          throw new DecodeError(`schema id ${schemaId} cannot be read as ${b.type.name} for ${topic}: ${(err as Error).message}`, { cause: err, context: { topic, schemaId } })
        }
      })
      resolver.catch(() => this.#resolvers.delete(key))
      this.#resolvers.set(key, resolver)
    }
    const r = await resolver
    try {
      return (r === b.type ? b.type.fromBuffer(body) : b.type.fromBuffer(body, r as avro.Resolver)) as T
    } catch (err) {
      throw new DecodeError(`Avro body does not match schema id ${schemaId} for ${topic}: ${(err as Error).message}`, { cause: err, context: { topic, schemaId } })
    }
  }

  /** Decodes with the writer's own schema, for tools (tap) that read any topic. */
  async decodeAny (buf: Buffer | null | undefined): Promise<{ schemaId: number, value: unknown }> {
    const { schemaId, body } = unframe(buf)
    const writer = await this.#registry.writerType(schemaId)
    try {
      return { schemaId, value: writer.fromBuffer(body) }
    } catch (err) {
      throw new DecodeError(`Avro body does not match schema id ${schemaId}: ${(err as Error).message}`, { cause: err, context: { schemaId } })
    }
  }
}
