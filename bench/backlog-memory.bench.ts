/**
 * Memory with a large backlog: a stage reads a topic holding BENCH_BACKLOG records (default one
 * million) through a slow processor, so nearly all of the backlog stays unread. Memory must stay
 * flat — fetching pauses partitions whose queues are full and resumes them as they drain —
 * rather than grow with the backlog. Resident set and heap are sampled every second, and the
 * same run is repeated with a backlog 10x smaller, side by side, for the ratio.
 *
 *   npm run infra:up && npm run bench:backlog
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
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 1_000_000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)
const logger = createLogger({ level: process.env.SYNTHQ_LOG_LEVEL ?? 'silent' })
const kafka = createKafka({ brokers, clientId: 'bench-backlog' }, logger)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const mib = (b: number): number => Math.round(b / 1024 / 1024)

async function fill (prefix: string, count: number, serde: AvroSerde): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: 6 })
  await admin.disconnect()
  const topic = topicName('documents', prefix)
  // One encoded document, sent many times: the backlog's size is what matters, not variety.
  const value = await serde.encode(topic, doc('backlog'))
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const batch = 10_000
  const inFlight: Array<Promise<unknown>> = []
  for (let i = 0; i < count; i += batch) {
    inFlight.push(producer.send({ topic, messages: Array.from({ length: Math.min(batch, count - i) }, (_, j) => ({ key: `k${i + j}`, value })) }))
    if (inFlight.length >= 4) await inFlight.shift()
  }
  await Promise.all(inFlight)
  await producer.disconnect()
}

async function run (count: number): Promise<{ startRss: number, endRss: number, maxRss: number, endHeap: number, processed: number, queued: number }> {
  const prefix = `bench-backlog-${count}-${Date.now().toString(36)}`
  const serde = new AvroSerde(new RegistryClient({ url: registryUrl }), SchemaCatalog.load(), { prefix })
  const t0 = Date.now()
  await fill(prefix, count, serde)
  process.stderr.write(`backlog of ${count.toLocaleString('en')} records written in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  const slow: Processor = {
    name: 'slow',
    async process () { await sleep(50); return emit() },
  }
  const topology = new TopologyBuilder('backlog').stage({ name: 'slow', input: 'documents', outputs: ['situations'], processor: () => slow, concurrency: 64 }).build()
  const runner = new KafkaRunner(topology, { connection: { brokers: brokers, clientId: 'bench-backlog' }, serde, logger, prefix, topics: { partitions: 6 } })
  global.gc?.()
  const startRss = process.memoryUsage().rss
  await runner.start()
  let maxRss = startRss
  for (let s = 0; s < SECONDS; s++) {
    await sleep(1000)
    maxRss = Math.max(maxRss, process.memoryUsage().rss)
  }
  global.gc?.()
  const m = process.memoryUsage()
  const st = runner.stats().slow!
  await runner.stop()
  return { startRss, endRss: m.rss, maxRss, endHeap: m.heapUsed, processed: st.processed, queued: st.queued }
}

const small = await run(Math.floor(BACKLOG / 10))
const large = await run(BACKLOG)
const line = (name: string, r: typeof small): string =>
  `${name.padEnd(24)} RSS ${mib(r.startRss)} → ${mib(r.endRss)} MiB (max ${mib(r.maxRss)}), heap ${mib(r.endHeap)} MiB, ${r.processed.toLocaleString('en')} processed, ${r.queued} queued in memory after ${SECONDS} s`
process.stdout.write(`backlog memory bench: one stage, 64 in flight, 50 ms per record, 6 partitions, exactly-once\n\n`)
process.stdout.write(`${line(`backlog ${(BACKLOG / 10).toLocaleString('en')}`, small)}\n${line(`backlog ${BACKLOG.toLocaleString('en')}`, large)}\n`)
process.stdout.write(`\nmax RSS ratio, backlog x10: ${(large.maxRss / small.maxRss).toFixed(2)}\n`)
