/**
 * The two runners behind one interface, so the conformance and crash tests run unchanged
 * against both: the Kafka runner (real broker and registry) and the embedded runner (SQLite).
 */
import type { Kafka } from 'kafkajs'
import { join } from 'node:path'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import type { DeliveryMode } from '../../src/runtime/kafka/kafka-stage.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import type { LlmClient } from '../../src/llm/client.ts'
import type { Topology } from '../../src/topologies/topology.ts'
import { DEFAULT_TOPIC_PREFIX, topicName, type TopicName } from '../../src/topics.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { readTopicToEnd as readTopic } from '../../src/runtime/kafka/read-topic.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { testInfra, testTmpDir, unique } from './env.ts'
import { groupCaughtUp, testLogger } from './kafka.ts'

export interface Read { key: string | null, value: Buffer | null }

export interface Harness {
  readonly kind: 'kafka' | 'embedded'
  start (topology: Topology, opts?: { concurrency?: number, llm?: LlmClient }): Promise<void>
  produceRaw (name: TopicName, records: Array<{ key: string, value: Buffer }>): Promise<void>
  produce (name: TopicName, records: Array<{ key: string, value: unknown }>): Promise<void>
  /** Every record in the topic now (committed only). */
  readAll (name: TopicName): Promise<Read[]>
  decode<T> (name: TopicName, value: Buffer | null): Promise<T>
  /**
   * Resolves once every stage has committed every input record it can read now (Kafka: each
   * stage group's committed offset is past the last readable record of its input; embedded: the
   * runner is idle). Outputs are written with their commits, so what is read after this is final
   * for those inputs — no waiting "long enough" for a duplicate to show up.
   */
  settled (timeoutMs?: number): Promise<void>
  /** What the runner's stages say now (for a failure message). */
  describe (): string
  stop (): Promise<void>
}

export const RUNNERS: RunnerKind[] = ['kafka', 'embedded', 'kafka-at-least-once']

/** Reads a Kafka topic from the start to its current end (read_committed). */
export async function readTopicToEnd (kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<Read[]> {
  return (await readTopic(kafka, topic, timeoutMs)).map((r) => ({ key: r.key, value: r.value }))
}

/** Follows a topic from its start, keeping every committed record (one consumer per topic). */
class TopicTail {
  readonly records: Read[] = []
  readonly #consumer
  readonly ready: Promise<void>
  constructor (kafka: Kafka, topic: string) {
    this.#consumer = kafka.consumer({ groupId: unique('tail'), readUncommitted: false })
    const c = this.#consumer
    this.ready = (async () => {
      await c.connect()
      await c.subscribe({ topic, fromBeginning: true })
      await c.run({ eachMessage: async ({ message }) => { this.records.push({ key: message.key?.toString() ?? null, value: message.value }) } })
    })()
  }

  async stop (): Promise<void> {
    await this.ready.catch(() => {})
    await this.#consumer.disconnect()
  }
}

export function kafkaHarness (opts: { partitions?: number, mode?: DeliveryMode } = {}): Harness {
  const infra = testInfra()
  const prefix = unique('conf')
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'harness' }, testLogger())
  const producer = kafka.producer({ idempotent: true })
  const tails = new Map<string, TopicTail>()
  let runner: KafkaRunner | undefined
  let ready: Promise<void> | undefined
  // Topics exist before anything is produced (the runner would create them too, but a test may
  // write a table before starting it).
  const prepare = (): Promise<void> => ready ??= (async () => {
    const admin = kafka.admin()
    await admin.connect()
    try { await ensureTopics(admin, { prefix, partitions: opts.partitions ?? 3 }) } finally { await admin.disconnect() }
    await producer.connect()
  })()
  const tail = async (name: TopicName): Promise<TopicTail> => {
    await prepare()
    const topic = topicName(name, prefix)
    let t = tails.get(topic)
    if (!t) tails.set(topic, t = new TopicTail(kafka, topic))
    await t.ready
    return t
  }
  return {
    kind: 'kafka',
    async start (topology, o = {}) {
      await prepare()
      runner = new KafkaRunner(topology, {
        connection: { brokers: infra.bootstrap, clientId: 'conformance' }, serde, logger: testLogger(), prefix,
        topics: { partitions: opts.partitions ?? 3 }, commitIntervalMs: 20, ...(o.concurrency ? { concurrency: o.concurrency } : {}), ...(o.llm ? { llm: o.llm } : {}),
        ...(opts.mode ? { mode: opts.mode } : {}),
      })
      await runner.start()
    },
    async produceRaw (name, records) {
      await prepare()
      await producer.send({ topic: topicName(name, prefix), messages: records })
    },
    async produce (name, records) {
      await prepare()
      const topic = topicName(name, prefix)
      const messages = []
      for (const r of records) messages.push({ key: r.key, value: await serde.encode(topic, r.value) })
      await producer.send({ topic, messages })
    },
    readAll: async (name) => [...(await tail(name)).records],
    decode: (name, value) => serde.decode(topicName(name, prefix), value),
    async settled (timeoutMs = 60_000) {
      if (!runner) throw new Error('start the harness first')
      const started = Date.now()
      for (const stage of runner.topology.stages) {
        const input = topicName(stage.input, prefix)
        for (;;) {
          if (await groupCaughtUp(kafka, `${prefix}.${stage.name}`, input)) break
          if (Date.now() - started > timeoutMs) throw new Error(`kafka: stage ${stage.name} has not committed all of ${input} after ${timeoutMs} ms`)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    },
    describe: () => JSON.stringify(runner?.stats() ?? 'not started'),
    async stop () {
      await runner?.stop()
      await Promise.all([...tails.values()].map((t) => t.stop()))
      if (ready) await producer.disconnect()
    },
  }
}

export function embeddedHarness (): Harness {
  const path = join(testTmpDir('embedded'), 'synthq.db')
  let runner: EmbeddedRunner | undefined
  const need = (): EmbeddedRunner => { if (!runner) throw new Error('start the harness first'); return runner }
  return {
    kind: 'embedded',
    async start (topology, o = {}) {
      runner = new EmbeddedRunner(topology, { path, logger: testLogger(), pollMs: 20, ...(o.concurrency ? { concurrency: o.concurrency } : {}), ...(o.llm ? { llm: o.llm } : {}) })
      await runner.start()
    },
    async produceRaw (name, records) {
      need().log.append(records.map((r) => ({ topic: topicName(name, need().prefix), key: r.key, value: r.value })))
    },
    async produce (name, records) {
      if (runner) return runner.produce(name, records)
      // Before start (e.g. a table's first rows): write through a short-lived log of our own.
      const log = new EmbeddedLog(path)
      const serde = new AvroSerde(new EmbeddedRegistry(log.db, path), SchemaCatalog.load(), { prefix: DEFAULT_TOPIC_PREFIX })
      try {
        const topic = topicName(name)
        const encoded = []
        for (const r of records) encoded.push({ topic, key: r.key, value: await serde.encode(topic, r.value) })
        log.append(encoded)
      } finally {
        log.close()
      }
    },
    async readAll (name) {
      return need().log.read(topicName(name, need().prefix), 0, 1e9).map((r) => ({ key: r.key, value: r.value }))
    },
    decode: (name, value) => need().serde.decode(topicName(name, need().prefix), value),
    async settled (timeoutMs = 60_000) {
      const started = Date.now()
      while (!need().idle()) {
        if (Date.now() - started > timeoutMs) throw new Error(`embedded: the runner is not idle after ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    describe: () => JSON.stringify(runner?.stats() ?? 'not started'),
    async stop () { await runner?.stop() },
  }
}

export type RunnerKind = 'kafka' | 'kafka-at-least-once' | 'embedded'

export function harness (kind: RunnerKind, opts: { partitions?: number } = {}): Harness {
  if (kind === 'embedded') return embeddedHarness()
  return kafkaHarness({ ...opts, mode: kind === 'kafka' ? 'exactly-once' : 'at-least-once' })
}

/** Polls `read` until it returns at least `count` records. */
export async function waitForCount (h: Harness, name: TopicName, count: number, timeoutMs = 60_000): Promise<Read[]> {
  const started = Date.now()
  for (;;) {
    const rows = await h.readAll(name)
    if (rows.length >= count) return rows
    if (Date.now() - started > timeoutMs) {
      const message = `${h.kind}: ${rows.length} of ${count} records in ${name} after ${timeoutMs} ms; the stages: ${h.describe()}`
      // Said at once too: a harness whose stop then hangs lets a suite timeout cancel the test,
      // and a cancelled test's error is never printed.
      process.stderr.write(`waitForCount: ${message}\n`)
      throw new Error(message)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
