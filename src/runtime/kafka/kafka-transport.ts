/**
 * The transport seam on Kafka (see ../transport.ts): the operator tools' reads, lag and replays
 * through KafkaJS, schemas through the registry. Every consumer it starts is in a throwaway group
 * of its own that commits nothing; the pipeline's groups are only read.
 */
import { Partitioners, type Admin, type Kafka } from 'kafkajs'
import { kafkaConnectionFromEnv, registryConnectionFromEnv } from '../../config/connection.ts'
import { localInfraAddresses } from '../../config/local-infra.ts'
import type { Logger } from '../../log.ts'
import { SynthqError } from '../../errors.ts'
import { AvroSerde } from '../../serde/avro-serde.ts'
import { RegistryClient } from '../../serde/registry-client.ts'
import { SchemaCatalog } from '../../serde/schema-catalog.ts'
import { parseShadowTopic, TOPICS, topicName } from '../../topics.ts'
import { REPLAY_HEADER, type LagFigures, type LagOptions, type OnRecord, type ReadOptions, type ReplayItem, type ReplayResult, type StageInput, type Tail, type TailRecord, type TopicRecord, type Transport } from '../transport.ts'
import { createKafka } from './client.ts'
import { inputEnds, kafkaLag, RecordCensus, type PartitionEnds } from './kafka-lag.ts'
import { kafkaRanges, readKafka, type PartitionRange } from './kafka-read.ts'
import { readTopicToEnd } from './read-topic.ts'
import { TopicTail } from './topic-tail.ts'

export interface KafkaTransportOptions {
  kafka: Kafka
  serde: AvroSerde
  logger: Logger
  /** For messages; default "Kafka". */
  where?: string
  /** Offsets of each input partition a lag census reads back (default CENSUS_WINDOW). */
  censusWindow?: number
}

/** The Kafka client from the environment (SYNTHQ_KAFKA_*), else the local infrastructure. */
export function kafkaFromEnv (logger: Logger): { kafka: Kafka, brokers: string[] } {
  const local = localInfraAddresses()
  const connection = kafkaConnectionFromEnv(process.env, local.brokers ? { brokers: local.brokers } : {})
  return { kafka: createKafka(connection, logger), brokers: connection.brokers }
}

/** The schema registry from the environment (SYNTHQ_REGISTRY_*), else the local infrastructure. */
export function registryFromEnv (): RegistryClient {
  const local = localInfraAddresses()
  return new RegistryClient(registryConnectionFromEnv(process.env, local.url ? { url: local.url } : {}))
}

export class KafkaTransport implements Transport {
  readonly kind = 'kafka'
  readonly where: string
  readonly serde: AvroSerde
  readonly #kafka: Kafka
  readonly #logger: Logger
  readonly #censusWindow: number | undefined
  #admin: Promise<Admin> | undefined
  /** Which offsets of the input topics hold no record (markers), so lag and done count records. */
  #census: RecordCensus | undefined
  #censusReached = false

  constructor (o: KafkaTransportOptions) {
    this.#kafka = o.kafka
    this.serde = o.serde
    this.#logger = o.logger
    this.where = o.where ?? 'Kafka'
    this.#censusWindow = o.censusWindow
  }

  /** Clients from the environment, falling back to `npm run infra:up`'s local infrastructure. */
  static fromEnv (prefix: string, logger: Logger, o: { censusWindow?: number } = {}): KafkaTransport {
    const { kafka, brokers } = kafkaFromEnv(logger)
    const serde = new AvroSerde(registryFromEnv(), SchemaCatalog.load(), { prefix })
    return new KafkaTransport({ kafka, serde, logger, where: `Kafka ${brokers.join(',')}`, ...o })
  }

  /** One admin client for the transport's life, connected on first use. */
  async #adminClient (): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin()
      await admin.connect()
      return admin
    })()
    try {
      return await this.#admin
    } catch (err) {
      this.#admin = undefined // the next call tries again
      throw err
    }
  }

  async lag<S extends StageInput> (stages: readonly S[], o: LagOptions = {}): Promise<Array<S & LagFigures>> {
    const admin = await this.#adminClient()
    if (!o.census) return await kafkaLag(admin, stages)
    const ends = await inputEnds(admin, stages.map((s) => s.input))
    const census = await this.#censusFor(ends)
    // The first read takes the census's group join and its window; later ones only what is new.
    if (await census.reach(ends, this.#censusReached ? 5_000 : 60_000)) this.#censusReached = true
    return await kafkaLag(admin, stages, census, { ends })
  }

  /** The census of the input topics, started again when an input topic appeared since. */
  async #censusFor (ends: Map<string, PartitionEnds[]>): Promise<RecordCensus> {
    if (this.#census && [...ends.keys()].every((t) => this.#census!.topics.has(t))) return this.#census
    await this.#census?.close()
    const census = this.#census = new RecordCensus(this.#kafka, this.#censusWindow === undefined ? {} : { window: this.#censusWindow })
    this.#censusReached = false
    await census.start(ends)
    return census
  }

  async topicSizes (prefix: string): Promise<Array<{ topic: string, records: number }>> {
    const admin = await this.#adminClient()
    const existing = new Set(await admin.listTopics())
    const out: Array<{ topic: string, records: number }> = []
    // The pipeline's topics, then the copies shadow runs made of them (synthq shadow).
    const topics = [...TOPICS.map((t) => topicName(t.name, prefix)), ...[...existing].filter((t) => parseShadowTopic(t, prefix)).sort()]
    for (const topic of topics) {
      if (!existing.has(topic)) continue
      const offsets = await admin.fetchTopicOffsets(topic)
      // Transaction markers the census has seen are not records.
      out.push({ topic, records: offsets.reduce((n, p) => n + Number(p.high) - Number(p.low) - (this.#census?.nonRecords(topic, p.partition, Number(p.low), Number(p.high)) ?? 0), 0) })
    }
    return out
  }

  async read (o: ReadOptions, onRecord: OnRecord): Promise<void> {
    await readKafka(this.#kafka, o, await kafkaRanges(this.#kafka, o), onRecord, this.#logger)
  }

  async readToEnd (topic: string): Promise<TopicRecord[]> {
    return await readTopicToEnd(this.#kafka, topic)
  }

  async tail (topic: string, onRecord: (r: TailRecord) => void, o: { fromEnd?: number } = {}): Promise<Tail> {
    const tail = new TopicTail(this.#kafka, topic, onRecord, o.fromEnd === undefined ? {} : { fromEnd: o.fromEnd })
    await tail.start()
    return {
      poll: async () => {}, // the consumer delivers as records arrive
      waitCaughtUp: async (timeoutMs) => await tail.waitCaughtUp(timeoutMs),
      close: async () => await tail.close(),
    }
  }

  /**
   * Each record's key, value and original headers, plus `synthq-replay-of`, written to the
   * partition it was read from. Earlier replays are found by scanning the source partitions for
   * the header, from the earliest item's offset on.
   */
  async replay (items: readonly ReplayItem[], o: { force: boolean, dryRun: boolean }): Promise<ReplayResult[]> {
    const out: ReplayResult[] = []
    const todo: ReplayItem[] = []
    const partitions = new Map<string, Array<{ partition: number, low: number, high: number }>>()
    const admin = await this.#adminClient()
    const existing = new Set(await admin.listTopics())
    for (const it of items) {
      if (!existing.has(it.topic)) { out.push({ id: it.id, topic: it.topic, status: 'no-topic' }); continue }
      if (!partitions.has(it.topic)) partitions.set(it.topic, (await admin.fetchTopicOffsets(it.topic)).map((x) => ({ partition: x.partition, low: Number(x.low), high: Number(x.high) })))
      todo.push(it)
    }
    const partitionOf = (it: ReplayItem): number | undefined => {
      const p = it.partition
      return p !== null && partitions.get(it.topic)!.some((x) => x.partition === p) ? p : undefined
    }
    // Earlier replays: scan each source partition from the earliest item's offset for the header.
    const replayedAt = new Map<string, { partition: number, offset: number }>()
    if (!o.force) {
      for (const [topic, parts] of partitions) {
        const mine = todo.filter((it) => it.topic === topic)
        const ranges: PartitionRange[] = parts.map((x) => {
          const froms = mine.filter((it) => partitionOf(it) === x.partition || partitionOf(it) === undefined).map((it) => (partitionOf(it) === undefined || it.offset === null ? x.low : it.offset + 1))
          return { partition: x.partition, start: froms.length ? Math.max(x.low, Math.min(...froms)) : Infinity, end: x.high }
        })
        await readKafka(this.#kafka, { topic, start: { kind: 'beginning' }, follow: false }, ranges, (r) => {
          const of = r.headers[REPLAY_HEADER]
          if (of !== undefined) replayedAt.set(of, { partition: r.partition, offset: r.offset })
        }, this.#logger)
      }
    }
    const send: ReplayItem[] = []
    for (const it of todo) {
      const before = replayedAt.get(it.id)
      if (before) out.push({ id: it.id, topic: it.topic, status: 'replayed-before', ...before, where: `${it.topic} partition ${before.partition} offset ${before.offset}` })
      else if (o.dryRun) out.push({ id: it.id, topic: it.topic, status: 'would-replay', ...(partitionOf(it) !== undefined ? { partition: partitionOf(it)! } : {}) })
      else send.push(it)
    }
    if (send.length === 0) return out
    const producer = this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
    await producer.connect()
    try {
      for (const it of send) {
        const partition = partitionOf(it)
        const [meta] = await producer.send({
          topic: it.topic,
          acks: -1,
          messages: [{ key: it.key, value: it.value, ...(partition !== undefined ? { partition } : {}), headers: { ...it.headers, [REPLAY_HEADER]: it.id } }],
        })
        out.push({ id: it.id, topic: it.topic, status: 'replayed', partition: meta!.partition, offset: Number(meta!.baseOffset) })
      }
    } finally {
      await producer.disconnect()
    }
    return out
  }

  async committedOffsets (group: string, topic: string): Promise<Map<number, number>> {
    const admin = await this.#adminClient()
    const [found] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    // -1: no offset committed for the partition.
    return new Map((found?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, Number(p.offset)]))
  }

  async endOffsets (topic: string): Promise<Map<number, number>> {
    const admin = await this.#adminClient()
    if (!(await admin.listTopics()).includes(topic)) return new Map()
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]))
  }

  async seekGroup (group: string, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    const admin = await this.#adminClient()
    const described = await admin.describeGroups([group])
    const members = described.groups[0]?.members.length ?? 0
    if (members > 0) throw new SynthqError('SYNTHQ_GROUP_ACTIVE', `consumer group ${group} has ${members} member(s) running: stop the processes running its stage, then try again (Kafka moves a group's offsets only while it is empty)`, { context: { group } })
    await admin.setOffsets({ groupId: group, topic, partitions: [...offsets].map(([partition, offset]) => ({ partition, offset: String(offset) })) })
  }

  async write (records: ReadonlyArray<{ topic: string, key: string, value: Buffer | null }>): Promise<void> {
    // Keys go where Java clients put them (murmur2): a promotion's key is its stage.
    const producer = this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    try {
      const byTopic = new Map<string, Array<{ key: string, value: Buffer | null }>>()
      for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), { key: r.key, value: r.value }])
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) })
    } finally {
      await producer.disconnect()
    }
  }

  async close (): Promise<void> {
    await this.#census?.close()
    this.#census = undefined
    const admin = this.#admin
    this.#admin = undefined
    if (admin) await admin.then(async (a) => await a.disconnect()).catch(() => {})
  }
}
