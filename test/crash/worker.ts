/**
 * The process the crash test kills: runs the test topology on one runner until killed (or
 * SIGTERM'd), printing "ready" once it runs and "idle" when (embedded) nothing is left to do.
 *
 *   tsx test/crash/worker.ts kafka <prefix> <bootstrap> <registryUrl> [abortRate]
 *   tsx test/crash/worker.ts embedded <dbPath>
 */
import { createLogger } from '../../src/log.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { newProbe, testTopology } from '../helpers/test-topology.ts'

const [kind, ...args] = process.argv.slice(2)
const logFile = process.env.SYNTHQ_CRASH_LOG
const logger = logFile
  ? createLogger({ level: 'info', name: `crash-worker-${process.pid}` }, (await import('pino')).pino.destination({ dest: logFile, append: true, sync: true }))
  : createLogger({ level: process.env.SYNTHQ_TEST_LOG_LEVEL ?? 'silent', name: 'crash-worker' })
// Few records in flight, so that a run lasts long enough to be killed at many points.
const topology = testTopology(newProbe(), { concurrency: 8 })
const retry = { retries: 2, minTimeoutMs: 5, maxTimeoutMs: 20, factor: 2 }

let runner: { start (): Promise<void>, stop (): Promise<void> }
let idle: () => boolean = () => false
if (kind === 'kafka') {
  const [prefix, bootstrap, registryUrl, abortRate] = args as [string, string, string, string | undefined]
  const serde = new AvroSerde(new RegistryClient({ url: registryUrl }), SchemaCatalog.load(), { prefix })
  runner = new KafkaRunner(topology, {
    connection: { brokers: bootstrap.split(','), clientId: 'crash-worker' }, serde, logger, prefix, retry,
    topics: { partitions: 3 }, commitIntervalMs: 20, drainTimeoutMs: 5_000, sessionTimeoutMs: 6_000, ...(abortRate ? { abortRate: Number(abortRate) } : {}),
  })
} else {
  const r = new EmbeddedRunner(topology, { path: args[0]!, logger, retry, pollMs: 20, drainTimeoutMs: 5_000 })
  runner = r
  idle = () => r.idle()
}

await runner.start()
process.stdout.write('ready\n')
const timer = setInterval(() => { if (idle()) process.stdout.write('idle\n') }, 100)
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    clearInterval(timer)
    void runner.stop().then(() => { process.stdout.write('stopped\n'); process.exit(0) })
  })
}
