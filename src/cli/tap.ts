/**
 * `synthq tap <topic>`: prints the records of any topic as JSON lines, decoded from Avro with
 * the schema their bytes name — from the embedded database or from Kafka. Reading never
 * disturbs the pipeline: the embedded log is read directly, and on Kafka a consumer without a
 * group reads partitions from their start and commits nothing.
 *
 *   synthq tap synthq.instructions.scored --limit 3
 *   synthq tap scoredInstructions --runner kafka
 */
import { parseArgs } from 'node:util'
import { kafkaConnectionFromEnv, registryConnectionFromEnv } from '../config/connection.ts'
import { localInfraAddresses } from '../config/local-infra.ts'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { EmbeddedLog } from '../runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../runtime/embedded/embedded-registry.ts'
import { createKafka } from '../runtime/kafka/client.ts'
import { AvroSerde } from '../serde/avro-serde.ts'
import { RegistryClient } from '../serde/registry-client.ts'
import { SchemaCatalog } from '../serde/schema-catalog.ts'
import { DEFAULT_TOPIC_PREFIX, TOPICS, topicName, type TopicName } from '../topics.ts'

export const TAP_HELP = `synthq tap <topic> — print a topic's records as JSON lines (decoded Avro)

<topic> is a Kafka topic name (synthq.instructions.scored) or a logical name (scoredInstructions).

options:
  --runner R     embedded (default: the database of npm start) or kafka
  --db FILE      embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --limit N      at most N records (default: all)
  --from N       embedded: start at offset N (default 0)
  --prefix P     topic prefix for logical names (default synthq)
`

function resolveTopic (name: string, prefix: string): string {
  const logical = TOPICS.find((t) => t.name === name)
  if (logical) return topicName(logical.name as TopicName, prefix)
  const physical = TOPICS.find((t) => topicName(t.name, prefix) === name)
  if (physical) return name
  throw new ConfigError(`unknown topic "${name}"; topics: ${TOPICS.map((t) => topicName(t.name, prefix)).join(', ')}`)
}

const bigSafe = (_k: string, v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString('base64') : typeof v === 'bigint' ? v.toString() : v)

export async function runTap (argv: string[], defaults: { db: string }, logger: Logger): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { runner: { type: 'string' }, db: { type: 'string' }, limit: { type: 'string' }, from: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help || positionals.length === 0) {
    process.stdout.write(TAP_HELP)
    return values.help ? 0 : 2
  }
  const prefix = values.prefix ?? DEFAULT_TOPIC_PREFIX
  const topic = resolveTopic(positionals[0]!, prefix)
  const limit = values.limit === undefined ? Infinity : Number(values.limit)
  if (!(limit >= 0)) throw new ConfigError(`--limit must be a number ≥ 0, got "${values.limit}"`)
  const write = (offset: string | number, partition: number, key: string | null, value: unknown): void => {
    process.stdout.write(JSON.stringify({ topic, partition, offset: Number(offset), key, value }, bigSafe) + '\n')
  }
  if ((values.runner ?? 'embedded') === 'embedded') {
    const log = new EmbeddedLog(values.db ?? defaults.db)
    try {
      const serde = new AvroSerde(new EmbeddedRegistry(log.db, values.db ?? defaults.db), SchemaCatalog.load(), { prefix })
      let from = Number(values.from ?? 0)
      let printed = 0
      while (printed < limit) {
        const rows = log.read(topic, from, Math.min(500, limit - printed))
        if (rows.length === 0) break
        for (const r of rows) {
          write(r.offset, 0, r.key, r.value === null ? null : (await serde.decodeAny(r.value)).value) // null: a tombstone
          printed++
        }
        from = Number(rows[rows.length - 1]!.offset) + 1
      }
    } finally {
      log.close()
    }
    return 0
  }
  const local = localInfraAddresses()
  const kafka = createKafka(kafkaConnectionFromEnv(process.env, local.brokers ? { brokers: local.brokers } : {}), logger)
  const serde = new AvroSerde(new RegistryClient(registryConnectionFromEnv(process.env, local.url ? { url: local.url } : {})), SchemaCatalog.load(), { prefix })
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect())
  const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]))
  if (remaining.size === 0) return 0
  // A throwaway group that never commits: the pipeline's groups and offsets are untouched.
  const consumer = kafka.consumer({ groupId: `synthq-tap-${process.pid}-${Date.now()}`, readUncommitted: false })
  await consumer.connect()
  let printed = 0
  await new Promise<void>((resolve, reject) => {
    consumer.subscribe({ topic, fromBeginning: true }).then(async () => consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const high = remaining.get(partition)
        if (high === undefined || printed >= limit) return
        if (Number(message.offset) < high) {
          write(message.offset, partition, message.key?.toString() ?? null, message.value === null ? null : (await serde.decodeAny(message.value)).value)
          printed++
        }
        if (Number(message.offset) >= high - 1) remaining.delete(partition)
        if (remaining.size === 0 || printed >= limit) resolve()
      },
    })).catch(reject)
  })
  await consumer.disconnect()
  return 0
}
