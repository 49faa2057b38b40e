/**
 * Per-record concurrency on one partition, exactly-once on.
 *
 * A stage whose processor waits L ms (an LLM call, simulated) reads a one-partition topic with
 * a backlog. With N records in flight the bound is N / L records per second; a plain KafkaJS
 * `eachMessage` consumer handles one record at a time per partition, so its bound is 1 / L.
 * Both run here, one after the other, against the same broker.
 *
 *   npm run infra:up && npm run bench:concurrency
 *   BENCH_N=64 BENCH_LATENCY_MS=500 BENCH_RECORDS=2000 npm run bench:concurrency
 *
 * The last line is `ratio=<achieved/bound>` for the synthq stage.
 */
import { benchInfra } from './_infra.ts'
import { createLogger } from '../src/log.ts'
import { emit, type Processor } from '../src/processors/processor.ts'
import { createKafka } from '../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../src/runtime/kafka/kafka-runner.ts'
import { ensureTopics } from '../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../src/serde/avro-serde.ts'
import { RegistryClient } from '../src/serde/registry-client.ts'
import { SchemaCatalog } from '../src/serde/schema-catalog.ts'
import { TopologyBuilder } from '../src/topologies/topology.ts'
import { topicName } from '../src/topics.ts'
import { doc } from '../test/helpers/test-topology.ts'

const { brokers, registryUrl } = benchInfra()
const N = Number(process.env.BENCH_N ?? 64)
const L = Number(process.env.BENCH_LATENCY_MS ?? 500)
const RECORDS = Number(process.env.BENCH_RECORDS ?? 2000)
const PLAIN_RECORDS = Number(process.env.BENCH_PLAIN_RECORDS ?? 20)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const logger = createLogger({ level: process.env.SYNTHQ_LOG_LEVEL ?? 'silent' })
const kafka = createKafka({ brokers, clientId: 'bench' }, logger)

async function backlog (prefix: string, count: number): Promise<AvroSerde> {
  const serde = new AvroSerde(new RegistryClient({ url: registryUrl }), SchemaCatalog.load(), { prefix })
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: 1 })
  await admin.disconnect()
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const topic = topicName('documents', prefix)
  for (let i = 0; i < count; i += 500) {
    const messages = []
    for (let j = i; j < Math.min(count, i + 500); j++) messages.push({ key: `b${j}`, value: await serde.encode(topic, doc(`b${j}`)) })
    await producer.send({ topic, messages })
  }
  await producer.disconnect()
  return serde
}

/** synthq's Kafka runner: N in flight, exactly-once. Measured from the first record's start. */
async function synthqStage (): Promise<number> {
  const prefix = `bench-conc-${Date.now().toString(36)}`
  const serde = await backlog(prefix, RECORDS)
  let first = 0
  const waiting: Processor = {
    name: 'simulated-llm-wait',
    async process (record, ctx) {
      first ||= Date.now()
      await sleep(L)
      const d = record.value as { id: string, url: string | null, title: string | null, corpus: string, text: string }
      return emit({ topic: 'situations', key: `sit-${d.id}`, value: { id: `sit-${d.id}`, document: { id: d.id, url: d.url, title: d.title, corpus: d.corpus }, document_text: d.text, thought: 't', scene: 's', query_compositions: { ability: 'a', knowledge: 'k', extra_information: 'e', output: 'o' }, lineage: ctx.lineage(record, { simulated: true }) } })
    },
  }
  const topology = new TopologyBuilder('bench').stage({ name: 'wait', input: 'documents', outputs: ['situations'], processor: () => waiting, concurrency: N }).build()
  const runner = new KafkaRunner(topology, { connection: { brokers: brokers, clientId: 'bench' }, serde, logger, prefix, mode: 'exactly-once', topics: { partitions: 1 } })
  await runner.start()
  for (;;) {
    const s = runner.stats().wait!
    if (s.processed + s.deadLettered >= RECORDS && s.inFlight === 0) break
    await sleep(20)
  }
  const seconds = (Date.now() - first) / 1000
  const s = runner.stats().wait!
  await runner.stop()
  if (s.deadLettered) throw new Error(`${s.deadLettered} records were dead-lettered`)
  return RECORDS / seconds
}

/** A plain KafkaJS consumer: eachMessage, one record at a time, autocommit. */
async function plainConsumer (): Promise<number> {
  const prefix = `bench-plain-${Date.now().toString(36)}`
  await backlog(prefix, PLAIN_RECORDS)
  const consumer = kafka.consumer({ groupId: `${prefix}.plain` })
  await consumer.connect()
  await consumer.subscribe({ topic: topicName('documents', prefix), fromBeginning: true })
  let first = 0
  let done = 0
  await consumer.run({ eachMessage: async () => { first ||= Date.now(); await sleep(L); done++ } })
  while (done < PLAIN_RECORDS) await sleep(20)
  const seconds = (Date.now() - first) / 1000
  await consumer.disconnect()
  return PLAIN_RECORDS / seconds
}

const bound = N * 1000 / L
const ours = await synthqStage()
const plain = await plainConsumer()
const plainBound = 1000 / L
process.stdout.write(`concurrency bench: one partition, processor latency ${L} ms, exactly-once\n\n`)
process.stdout.write(`synthq stage, N=${N} in flight      ${ours.toFixed(1).padStart(8)} records/s   bound N/L = ${bound.toFixed(1)}   achieved/bound = ${(ours / bound).toFixed(3)}   (${RECORDS} records)\n`)
process.stdout.write(`plain KafkaJS eachMessage consumer  ${plain.toFixed(2).padStart(8)} records/s   bound 1/L = ${plainBound.toFixed(1)}   achieved/bound = ${(plain / plainBound).toFixed(3)}   (${PLAIN_RECORDS} records)\n`)
process.stdout.write(`synthq / plain: ${(ours / plain).toFixed(1)}x\n`)
process.stdout.write(`ratio=${(ours / bound).toFixed(3)}\n`)
