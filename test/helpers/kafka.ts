/**
 * Clients for integration tests, each closed when the test ends (t.after), on the
 * infrastructure `npm test` started.
 */
import type { TestContext } from 'node:test'
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { readTopicToEnd } from '../../src/runtime/kafka/read-topic.ts'
import { createLogger, type Logger } from '../../src/log.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { testInfra, unique } from './env.ts'

export interface Clients {
  kafka: Kafka
  admin: Admin
  registry: RegistryClient
  serde: AvroSerde
  prefix: string
}

/** Quiet unless SYNTHQ_TEST_LOG_LEVEL asks (KafkaJS logs retried coordinator loads as errors). */
export function testLogger (): Logger {
  return createLogger({ level: process.env.SYNTHQ_TEST_LOG_LEVEL ?? 'silent', name: 'synthq-test' })
}

/** A Kafka client, a connected admin and a serde under a fresh topic prefix. */
export async function clients (t: TestContext, opts: { catalog?: SchemaCatalog, prefix?: string } = {}): Promise<Clients> {
  const infra = testInfra()
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'synthq-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())
  const registry = new RegistryClient({ url: infra.registryUrl })
  const prefix = opts.prefix ?? unique('t')
  const serde = new AvroSerde(registry, opts.catalog ?? SchemaCatalog.load(), { prefix })
  return { kafka, admin, registry, serde, prefix }
}

export async function producer (t: TestContext, kafka: Kafka, opts: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
  const p = kafka.producer(opts)
  await p.connect()
  t.after(() => p.disconnect())
  return p
}

/** Reads `count` messages from the start of `topic` (any partition), then disconnects. */
export async function readMessages (kafka: Kafka, topic: string, count: number, timeoutMs = 30_000): Promise<Array<{ key: string | null, value: Buffer | null, partition: number, offset: string }>> {
  const consumer: Consumer = kafka.consumer({ groupId: unique('g'), readUncommitted: false })
  const out: Array<{ key: string | null, value: Buffer | null, partition: number, offset: string }> = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${count} messages from ${topic} in ${timeoutMs} ms`)), timeoutMs)
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          out.push({ key: message.key?.toString() ?? null, value: message.value, partition, offset: message.offset })
          if (out.length >= count) { clearTimeout(timer); resolve() }
        },
      })
    })
  } finally {
    // A consumer stuck joining its group can make disconnect wait forever; a test must not.
    await Promise.race([consumer.disconnect(), new Promise((r) => setTimeout(r, 10_000).unref())])
  }
  return out
}

/** The offsets `group` has committed on `topic`, by partition. */
export async function committedOffsets (kafka: Kafka, group: string, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    return new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  } finally {
    await admin.disconnect()
  }
}

/**
 * Every record of `topic` readable now (read_committed) is behind `group`'s committed offset.
 * Offsets are compared with the last *record* of each partition, not the partition's end: a
 * transactional topic ends with commit markers, which no consumer ever commits past.
 */
export async function groupCaughtUp (kafka: Kafka, group: string, topic: string): Promise<boolean> {
  const last = new Map<number, number>()
  for (const r of await readTopicToEnd(kafka, topic)) last.set(r.partition, Math.max(last.get(r.partition) ?? -1, r.offset))
  const committed = await committedOffsets(kafka, group, topic)
  return [...last].every(([p, offset]) => (committed.get(p) ?? -1) > offset)
}
