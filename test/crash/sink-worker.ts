/**
 * The process the sink crash test kills: runs the sink alone (test/helpers/sink-topology.ts)
 * until killed or SIGTERM'd, printing "ready" once it runs (and, stopped on Kafka, how many
 * checkpoint transactions it aborted on purpose: SYNTHQ_TEST_ABORT_RATE).
 *
 *   tsx test/crash/sink-worker.ts kafka <prefix> <bootstrap> <registryUrl>
 *   tsx test/crash/sink-worker.ts embedded <dbPath>
 */
import { createLogger } from '../../src/log.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { sinkTopology } from '../helpers/sink-topology.ts'

const [kind, ...args] = process.argv.slice(2)
const logger = createLogger({ level: process.env.SYNTHQ_TEST_LOG_LEVEL ?? 'silent', name: 'sink-crash-worker' })
const topology = sinkTopology(Number(process.env.SYNTHQ_SINK_DELAY_MS ?? 15))
let runner: { start (): Promise<void>, stop (): Promise<void> }
if (kind === 'kafka') {
  const [prefix, bootstrap, registryUrl] = args as [string, string, string]
  const serde = new AvroSerde(new RegistryClient({ url: registryUrl }), SchemaCatalog.load(), { prefix })
  runner = new KafkaRunner(topology, {
    connection: { brokers: bootstrap.split(','), clientId: 'sink-crash-worker' }, serde, logger, prefix,
    topics: { partitions: 1 }, sessionTimeoutMs: 6_000,
    onFenced: () => { process.stdout.write('fenced\n') },
    // Random aborts of checkpoint transactions (SYNTHQ_TEST_ABORT_RATE, as `synthq run` reads it).
    ...(process.env.SYNTHQ_TEST_ABORT_RATE ? { abortRate: Number(process.env.SYNTHQ_TEST_ABORT_RATE) } : {}),
  })
} else {
  runner = new EmbeddedRunner(topology, { path: args[0]!, logger, pollMs: 20 })
}
await runner.start()
process.stdout.write('ready\n')
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void runner.stop().then(() => {
      // The Kafka runner keeps its figures after a stop (the embedded one has closed its database).
      if (runner instanceof KafkaRunner) process.stdout.write(`aborted ${(runner.stats().sink as { abortedCheckpoints?: number } | undefined)?.abortedCheckpoints ?? 0}\n`)
      process.stdout.write('stopped\n')
      process.exit(0)
    })
  })
}
