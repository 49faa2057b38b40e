/**
 * Produces to a Kafka topic, exactly once per key across runs:
 *
 * 1. A transactional producer with a fixed id per topic (`<prefix>.ingest.<topic suffix>`) is
 *    initialised first. That fences any other `synthq ingest` into the same topic (its next
 *    commit fails and it stops) and waits for its open transaction to finish, so what the topic
 *    holds is settled before step 2.
 * 2. The topic's keys are read once (topic-keys.ts).
 * 3. Each batch is one transaction (idempotent producer, acks=all); keys already in the topic
 *    or earlier in the run are skipped. A run that dies mid-way leaves whole batches; running it
 *    again reads their keys and adds the rest.
 *
 * There is no local ledger: the topic itself is the record of what was ingested, so any machine
 * sees the same truth. The price is step 2 — reading the topic once per run — which grows with
 * the topic; `--no-dedup` skips it (and then duplicates are only caught within the run).
 * Records keyed by id go to the partition of their key (KafkaJS's default, murmur2 as Java's).
 */
import type { Kafka, Producer } from 'kafkajs'
import type { KafkaConnection } from '../../config/connection.ts'
import { ConfigError, SynthqError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import type { AvroSerde } from '../../serde/avro-serde.ts'
import type { TopicName } from '../../topics.ts'
import type { BatchResult, IngestTarget, KeyedValue } from '../transport.ts'
import { connectFencing, createKafka } from './client.ts'
import { createTopicsAndWait, topicPlan } from './topic-admin.ts'
import { readTopicKeys } from './topic-keys.ts'

export interface KafkaTargetOptions {
  connection: KafkaConnection
  serde: AvroSerde
  logger: Logger
  prefix: string
  name: TopicName
  topic: string
  dedup: boolean
  partitions: number
  replicationFactor: number
  /** Called while the existing keys are read (they can take a while on a big topic). */
  onKeys?: (n: number) => void
}

export class KafkaTarget implements IngestTarget {
  readonly topic: string
  readonly where: string
  readonly dedupNote: string
  readonly #serde: AvroSerde
  #producer: Producer | undefined
  #keys = new Set<string>()
  existing = 0

  private constructor (o: KafkaTargetOptions) {
    this.topic = o.topic
    this.where = `Kafka ${o.connection.brokers.join(',')}`
    this.#serde = o.serde
    this.dedupNote = o.dedup ? 'keys checked against the topic (its keys are read once at the start of each run)' : '--no-dedup: the topic is not read; duplicates caught within this run only'
  }

  static async open (o: KafkaTargetOptions): Promise<KafkaTarget> {
    const t = new KafkaTarget(o)
    const kafka: Kafka = createKafka(o.connection, o.logger)
    // The first contact with few retries: a broker that is down should say so in seconds, not
    // minutes. (The producer keeps KafkaJS's default retries, which idempotence needs.)
    const admin = createKafka(o.connection, o.logger, { retry: { retries: 3, initialRetryTime: 300 }, connectionTimeout: 5000 }).admin()
    try {
      await admin.connect()
      const plan = topicPlan({ prefix: o.prefix, partitions: o.partitions, replicationFactor: o.replicationFactor }).find((p) => p.topic === o.topic)!
      if (!(await admin.listTopics()).includes(o.topic)) {
        await createTopicsAndWait(admin, [{ topic: plan.topic, numPartitions: plan.partitions, replicationFactor: plan.replicationFactor, configEntries: Object.entries(plan.configs).map(([name, value]) => ({ name, value })) }])
      }
    } catch (err) {
      throw new ConfigError(`cannot reach Kafka at ${o.connection.brokers.join(',')} (${(err as Error).message}): start it (npm run infra:up) or point SYNTHQ_KAFKA_BROKERS at your cluster`, { cause: err })
    } finally {
      await admin.disconnect().catch(() => {})
    }
    const transactionalId = `${o.prefix}.ingest.${o.topic.startsWith(`${o.prefix}.`) ? o.topic.slice(o.prefix.length + 1) : o.topic}`
    t.#producer = await connectFencing(kafka, transactionalId)
    if (o.dedup) {
      try {
        t.#keys = await readTopicKeys(kafka, o.topic, o.onKeys)
      } catch (err) {
        // Nothing is returned to close: the producer would keep the process alive.
        await t.close()
        throw err
      }
      t.existing = t.#keys.size
    }
    return t
  }

  async write (records: readonly KeyedValue[]): Promise<BatchResult> {
    const duplicates: string[] = []
    const messages = []
    for (const r of records) {
      if (this.#keys.has(r.key)) { duplicates.push(r.key); continue }
      this.#keys.add(r.key)
      messages.push({ key: r.key, value: await this.#serde.encode(this.topic, r.value) })
    }
    if (messages.length === 0) return { written: 0, duplicates }
    const tx = await this.#producer!.transaction()
    try {
      await tx.send({ topic: this.topic, messages, acks: -1 })
      await tx.commit()
    } catch (err) {
      await tx.abort().catch(() => {})
      for (const m of messages) this.#keys.delete(m.key)
      const fenced = /fenced|ProducerFenced|INVALID_PRODUCER_EPOCH/i.test(`${(err as Error).name} ${(err as Error).message}`)
      throw new SynthqError(fenced ? 'SYNTHQ_STATE_FENCED' : 'SYNTHQ_CONFIG', fenced
        ? `another synthq ingest into ${this.topic} started and took over (its producer fenced this one); the batches committed so far stay — run this ingest again after it, it adds only what is missing`
        : `writing to ${this.topic} failed: ${(err as Error).message}; the batches committed so far stay — run the same command again, it adds only what is missing`, { cause: err })
    }
    return { written: messages.length, duplicates }
  }

  async close (): Promise<void> {
    await this.#producer?.disconnect().catch(() => {})
  }
}
