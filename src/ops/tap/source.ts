/**
 * A topic source for the tools that read the pipeline's topics (tap, dlq): the embedded database
 * (read-only) or Kafka + the schema registry, with connection settings from the environment as
 * every synthq command takes them (falling back to `npm run infra:up`'s local infrastructure).
 */
import type Database from 'better-sqlite3'
import type { Kafka } from 'kafkajs'
import { kafkaConnectionFromEnv, registryConnectionFromEnv } from '../../config/connection.ts'
import { localInfraAddresses } from '../../config/local-infra.ts'
import { ConfigError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { EmbeddedRegistry } from '../../runtime/embedded/embedded-registry.ts'
import { createKafka } from '../../runtime/kafka/client.ts'
import { AvroSerde } from '../../serde/avro-serde.ts'
import { RegistryClient } from '../../serde/registry-client.ts'
import { SchemaCatalog } from '../../serde/schema-catalog.ts'
import { TOPICS, topicName, type TopicName } from '../../topics.ts'
import { kafkaRanges, openEmbeddedReadOnly, readEmbedded, readKafka, type OnRecord, type ReadOptions } from './read.ts'

export type RunnerKind = 'embedded' | 'kafka'

export interface SourceOptions {
  runner: string
  /** Embedded database file. */
  db: string
  prefix: string
}

export interface TopicSource {
  readonly runner: RunnerKind
  readonly serde: AvroSerde
  /** Kafka only. */
  readonly kafka?: Kafka
  read (o: ReadOptions, onRecord: OnRecord): Promise<void>
  close (): void
}

export function runnerKind (runner: string | undefined): RunnerKind {
  const r = runner ?? 'embedded'
  if (r !== 'embedded' && r !== 'kafka') throw new ConfigError(`--runner must be embedded or kafka, got "${r}"`)
  return r
}

/** A logical name (scoredInstructions) or a topic name (synthq.instructions.scored) as the topic name. */
export function resolveTopic (name: string, prefix: string): string {
  const logical = TOPICS.find((t) => t.name === name)
  if (logical) return topicName(logical.name as TopicName, prefix)
  const physical = TOPICS.find((t) => topicName(t.name, prefix) === name)
  if (physical) return name
  throw new ConfigError(`unknown topic "${name}"; topics: ${TOPICS.map((t) => topicName(t.name, prefix)).join(', ')}`)
}

/** The Kafka client from the environment (SYNTHQ_KAFKA_*), else the local infrastructure. */
export function kafkaFromEnv (logger: Logger): Kafka {
  const local = localInfraAddresses()
  return createKafka(kafkaConnectionFromEnv(process.env, local.brokers ? { brokers: local.brokers } : {}), logger)
}

export function registryFromEnv (): RegistryClient {
  const local = localInfraAddresses()
  return new RegistryClient(registryConnectionFromEnv(process.env, local.url ? { url: local.url } : {}))
}

export function openSource (o: SourceOptions, logger: Logger): TopicSource {
  const runner = runnerKind(o.runner)
  if (runner === 'embedded') {
    const db: Database.Database = openEmbeddedReadOnly(o.db)
    const serde = new AvroSerde(new EmbeddedRegistry(db, o.db), SchemaCatalog.load(), { prefix: o.prefix })
    return {
      runner,
      serde,
      read: async (r, onRecord) => await readEmbedded(db, r, onRecord),
      close: () => { if (db.open) db.close() },
    }
  }
  const kafka = kafkaFromEnv(logger)
  const serde = new AvroSerde(registryFromEnv(), SchemaCatalog.load(), { prefix: o.prefix })
  return {
    runner,
    serde,
    kafka,
    read: async (r, onRecord) => await readKafka(kafka, r, await kafkaRanges(kafka, r), onRecord, logger),
    close: () => {},
  }
}
