/**
 * `synthq topics` (the topic map, no servers needed), `synthq topics create` (the pipeline's
 * topics on the configured Kafka) and `synthq describe <topology>` (its stages, with the topics
 * and tables each reads and writes).
 */
import { UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'

export interface TopicOptions { prefix: string, partitions: number, replication: number }

export async function printTopicMap (opts: TopicOptions): Promise<number> {
  const { topicPlan } = await import('../runtime/kafka/topic-admin.ts')
  const { SchemaCatalog } = await import('../serde/schema-catalog.ts')
  const rows = topicPlan({ prefix: opts.prefix }).map((p) => [p.topic, p.spec.key, p.spec.recordName, p.spec.cleanupPolicy, `${p.spec.writtenBy} → ${p.spec.readBy.join(', ')}`])
  const header = ['topic', 'key', 'value schema', 'cleanup', 'written by → read by']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ')
  process.stdout.write([line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n')
  SchemaCatalog.load() // parses every contract: a broken .avsc fails here, before any server is involved
  process.stdout.write(`\n${rows.length} topics; value subjects are <topic>-value; all ${rows.length} Avro contracts in schemas/ parse.\n`)
  return 0
}

export async function createTopics (opts: TopicOptions, logger: Logger): Promise<number> {
  const { kafkaConnectionFromEnv } = await import('../config/connection.ts')
  const { localInfraAddresses } = await import('../config/local-infra.ts')
  const { createKafka } = await import('../runtime/kafka/client.ts')
  const { ensureTopics } = await import('../runtime/kafka/topic-admin.ts')
  const conn = kafkaConnectionFromEnv(process.env, localInfraAddresses())
  const admin = createKafka(conn, logger).admin()
  await admin.connect()
  try {
    const created = await ensureTopics(admin, { prefix: opts.prefix, partitions: opts.partitions, replicationFactor: opts.replication })
    process.stdout.write(created.length ? `created ${created.join(', ')}\n` : 'all topics already exist\n')
  } finally {
    await admin.disconnect()
  }
  return 0
}

/** Prints a topology's description (test/fixtures/describe/ holds each shipped one's). */
export async function describeTopology (name: string | undefined): Promise<number> {
  const { TOPOLOGIES, topologyNames } = await import('../topologies/registry.ts')
  const { DEFAULT_PIPELINE_OPTIONS } = await import('../topologies/options.ts')
  const { describe } = await import('../topologies/topology.ts')
  const make = name ? TOPOLOGIES[name] : undefined
  if (!make) throw new UsageError(`synthq describe needs a topology name (known: ${topologyNames().join(', ')})`)
  // Building a topology opens nothing (the runner makes its processors), so no index is read.
  process.stdout.write(`${describe(make({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: 'unused.db', env: {} }))}\n`)
  return 0
}
