/**
 * What the serde needs from a schema registry. Two implementations: the Confluent-compatible
 * HTTP registry (registry-client.ts) and the embedded registry that keeps schemas in the
 * embedded runner's database (runtime/embedded/embedded-registry.ts) — so records on both
 * runners carry the same Confluent wire format.
 */
import type avro from 'avsc'

export interface RegisteredSchema {
  subject: string
  id: number
}

export interface SchemaRegistry {
  /** Where the registry is, for messages (never credentials). */
  readonly url: string
  /** Registers `schema` under `subject` (idempotent); throws SchemaIncompatibleError when it would break readers. */
  register (subject: string, schema: string): Promise<RegisteredSchema>
  /** The writer schema registered under `id`; DecodeError when unknown. */
  writerType (id: number): Promise<avro.Type>
  latestId (subject: string): Promise<number | undefined>
  isCompatible (subject: string, schema: string): Promise<{ compatible: boolean, messages: string[] }>
}
