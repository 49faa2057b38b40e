/**
 * Avro serde throughput: synthq's AvroSerde against @kafkajs/confluent-schema-registry's own
 * encode/decode, on the same records, side by side in one run.
 *
 *   npm run infra:up && npm run bench:serde
 *
 * Decoding into a reader schema is what a consumer of an evolving topic does. The library's
 * decode({ readerSchema }) parses the reader schema on every call; synthq's serde builds one
 * resolver per (topic, writer schema id) and reuses it. Rounds alternate between the contenders
 * so that machine noise hits both alike; the ratio is the median over rounds.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import type { RawAvroSchema } from '@kafkajs/confluent-schema-registry/dist/@types.js'
import { localInfraAddresses } from '../src/config/local-infra.ts'
import { AvroSerde } from '../src/serde/avro-serde.ts'
import { RegistryClient } from '../src/serde/registry-client.ts'
import { SchemaCatalog } from '../src/serde/schema-catalog.ts'
import { topicName } from '../src/topics.ts'
import { SAMPLES } from '../test/fixtures/records.ts'

const url = process.env.SYNTHQ_REGISTRY_URL || localInfraAddresses().url
if (!url) {
  process.stderr.write('bench: no schema registry: run `npm run infra:up` first (or set SYNTHQ_REGISTRY_URL)\n')
  process.exit(2)
}
const N = Number(process.env.BENCH_N ?? 20_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

const prefix = `bench-${Date.now().toString(36)}`
const catalog = SchemaCatalog.load()
const serde = new AvroSerde(new RegistryClient({ url }), catalog, { prefix })
const lib = new SchemaRegistry({ host: url })
const topic = topicName('scoredInstructions', prefix)
const value = SAMPLES.scoredInstructions
const readerSchema = JSON.parse(catalog.get('synthq.ScoredInstruction').schema) as RawAvroSchema

const id = await serde.schemaId(topic)
const { id: libId } = await lib.register({ type: SchemaType.AVRO, schema: catalog.get('synthq.ScoredInstruction').schema }, { subject: `${topic}-value` })
const encoded = await serde.encode(topic, value)
await lib.decode(encoded) // warm the library's id cache too

type Case = { name: string, run: () => Promise<unknown> }
const cases: Case[] = [
  { name: 'encode  synthq AvroSerde.encode', run: () => serde.encode(topic, value) },
  { name: 'encode  library encode(id)', run: () => lib.encode(libId, value) },
  { name: 'decode  synthq AvroSerde.decode (reader schema)', run: () => serde.decode(topic, encoded) },
  { name: 'decode  library decode({ readerSchema })', run: () => lib.decode(encoded, { [SchemaType.AVRO]: { readerSchema } }) },
  { name: 'decode  library decode (writer schema only)', run: () => lib.decode(encoded) },
]

const rates = new Map<string, number[]>(cases.map((c) => [c.name, []]))
for (let r = 0; r < ROUNDS; r++) {
  for (const c of (r % 2 ? [...cases].reverse() : cases)) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < N; i++) await c.run()
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    rates.get(c.name)!.push(N / s)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

process.stdout.write(`serde bench: ScoredInstruction, ${encoded.length} bytes encoded, ${N} ops x ${ROUNDS} rounds, schema id ${id}\n\n`)
for (const [name, rs] of rates) process.stdout.write(`${name.padEnd(50)} ${Math.round(median(rs)).toLocaleString('en').padStart(10)} records/s  (${(median(rs) * encoded.length / 1e6).toFixed(1)} MB/s)\n`)
const ratio = (a: string, b: string): string => (median(rates.get(a)!) / median(rates.get(b)!)).toFixed(2)
process.stdout.write(`\nratio encode synthq / library:                       ${ratio(cases[0]!.name, cases[1]!.name)}x\n`)
process.stdout.write(`ratio decode-with-reader synthq / library:            ${ratio(cases[2]!.name, cases[3]!.name)}x\n`)
process.stdout.write(`ratio decode synthq (reader) / library (writer only):  ${ratio(cases[2]!.name, cases[4]!.name)}x\n`)
