/**
 * Start-up time and memory of the local infrastructure: Kafka (1 node) and the schema registry,
 * started from the download cache, measured from launch to the first successful client call,
 * then resident memory when idle and after a small load (50,000 records produced and read back,
 * every schema registered). Runs on its own ports and state folder, so it does not disturb a
 * running `npm run infra:up`.
 *
 *   npm run bench:infra            (BENCH_RUNS=3 by default)
 */
import { join } from 'node:path'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { down, rssMiB, up } from '../deploy/local/lib/cluster.ts'
import { ensureApicurio, ensureKafka } from '../deploy/local/lib/fetch.ts'
import { createKafka } from '../src/runtime/kafka/client.ts'
import { AvroSerde } from '../src/serde/avro-serde.ts'
import { RegistryClient } from '../src/serde/registry-client.ts'
import { SchemaCatalog } from '../src/serde/schema-catalog.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
process.env.SYNTHQ_INFRA_DIR = mkdtempSync(join(tmpdir(), 'synthq-bench-infra-'))
const kafkaPort = Number(process.env.BENCH_KAFKA_PORT ?? 29092)
const registryPort = Number(process.env.BENCH_REGISTRY_PORT ?? 28081)

ensureKafka()
ensureApicurio()

interface Sample { kafkaMs: number, registryMs: number, totalMs: number, kafkaIdle: number, regIdle: number, kafkaLoaded: number, regLoaded: number }
const samples: Sample[] = []
for (let r = 0; r < RUNS; r++) {
  const t0 = Date.now()
  const { state } = await up({ kafkaPort, registryPort })
  const totalMs = Date.now() - t0
  const kpid = state.kafka.nodes[0]!.pid
  const rpid = state.registry.pid
  const kafkaIdle = rssMiB(kpid) ?? NaN
  const regIdle = rssMiB(rpid) ?? NaN

  const kafka = createKafka({ brokers: state.kafka.bootstrap, clientId: 'bench' })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'bench', numPartitions: 3 }] })
  const producer = kafka.producer()
  await producer.connect()
  const value = Buffer.alloc(1024, 'x')
  for (let b = 0; b < 50; b++) await producer.send({ topic: 'bench', messages: Array.from({ length: 1000 }, (_, i) => ({ key: String(b * 1000 + i), value })) })
  const consumer = kafka.consumer({ groupId: 'bench' })
  await consumer.connect()
  await consumer.subscribe({ topic: 'bench', fromBeginning: true })
  let seen = 0
  await new Promise<void>((resolve) => { void consumer.run({ eachBatch: async ({ batch }) => { seen += batch.messages.length; if (seen >= 50_000) resolve() } }) })
  await new AvroSerde(new RegistryClient({ url: state.registry.url }), SchemaCatalog.load(), { prefix: 'bench' }).registerAll()
  await consumer.disconnect()
  await producer.disconnect()
  await admin.disconnect()

  samples.push({ kafkaMs: state.kafka.readyMs, registryMs: state.registry.readyMs, totalMs, kafkaIdle, regIdle, kafkaLoaded: rssMiB(kpid) ?? NaN, regLoaded: rssMiB(rpid) ?? NaN })
  await down()
}

const med = (k: keyof Sample): number => [...samples.map((s) => s[k])].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!
process.stdout.write(`local infrastructure, ${RUNS} cold starts from the download cache (median)\n\n`)
process.stdout.write(`Kafka broker   ready ${(med('kafkaMs') / 1000).toFixed(1)} s after launch   RSS idle ${med('kafkaIdle')} MiB, after 50k x 1 KiB records ${med('kafkaLoaded')} MiB  (-Xmx512m)\n`)
process.stdout.write(`registry       ready ${(med('registryMs') / 1000).toFixed(1)} s after launch   RSS idle ${med('regIdle')} MiB, after registering 9 schemas ${med('regLoaded')} MiB  (-Xmx512m)\n`)
process.stdout.write(`both (parallel start, up() end to end): ${(med('totalMs') / 1000).toFixed(1)} s\n`)
