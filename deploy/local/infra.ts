/**
 * synthq's local infrastructure: a real Apache Kafka (KRaft) and a Confluent-compatible schema
 * registry (Apicurio Registry), fetched from Maven Central and run on loopback without Docker.
 *
 *   npm run infra:up [-- --brokers 3]   start (or reuse) and wait until both answer
 *   npm run infra:status [-- --json]    addresses, PIDs, memory; exit 1 when either is down
 *   npm run infra:down                  stop by PID and remove all state
 *   npm run infra -- purge              also delete the downloads cache
 */
import { parseArgs } from 'node:util'
import { rmSync } from 'node:fs'
import { down, health, readState, rssMiB, up } from './lib/cluster.ts'
import { cacheDir } from './lib/paths.ts'

const HELP = `usage: infra <up|down|status|purge> [options]

  up       fetch (first time only) and start Kafka + schema registry; reuse them if healthy
  down     stop every process by its PID and remove the state (topics, schemas)
  status   print addresses; exit code 1 when the broker or the registry is down
  purge    down, then delete the download cache (${cacheDir()})

options:
  --brokers N   up: 1 (default) or 3 Kafka nodes in one KRaft cluster
  --json        status: machine-readable output

environment:
  SYNTHQ_KAFKA_PORT (19092)  SYNTHQ_REGISTRY_PORT (18081)  SYNTHQ_CACHE_DIR  SYNTHQ_INFRA_DIR
  SYNTHQ_JAVA_HOME           a JDK 21+ for the registry when none is found under /usr/lib/jvm
`

async function main (): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { brokers: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  })
  const cmd = positionals[0]
  if (values.help || !cmd) {
    process.stdout.write(HELP)
    return cmd || values.help ? 0 : 2
  }
  const log = (m: string): void => { process.stderr.write(`infra: ${m}\n`) }
  switch (cmd) {
    case 'up': {
      const t = Date.now()
      const { state, reused } = await up({ ...(values.brokers ? { brokers: Number(values.brokers) } : {}), log })
      if (reused) log('already running and healthy; reusing it')
      else log(`ready in ${((Date.now() - t) / 1000).toFixed(1)} s (kafka ${state.kafka.readyMs} ms, registry ${state.registry.readyMs} ms after launch)`)
      process.stdout.write(`kafka     ${state.kafka.bootstrap.join(',')}\nregistry  ${state.registry.url}\n`)
      return 0
    }
    case 'down': {
      if (!(await down({ log }))) log('nothing running')
      return 0
    }
    case 'purge': {
      await down({ log })
      rmSync(cacheDir(), { recursive: true, force: true })
      log(`removed ${cacheDir()}`)
      return 0
    }
    case 'status': {
      const state = readState()
      const h = await health(state)
      if (!state || !h) {
        if (values.json) process.stdout.write(JSON.stringify({ kafka: { up: false }, registry: { up: false } }) + '\n')
        else process.stdout.write('kafka     down (not started: npm run infra:up)\nregistry  down (not started: npm run infra:up)\n')
        return 1
      }
      if (values.json) {
        process.stdout.write(JSON.stringify({ ...h, kafka: { ...h.kafka, version: state.kafka.version }, registry: { ...h.registry, version: state.registry.version } }, null, 2) + '\n')
      } else {
        const mem = (pid: number): string => { const m = rssMiB(pid); return m === undefined ? '' : `, ${m} MiB` }
        const nodes = state.kafka.nodes.map((n) => `pid ${n.pid}${mem(n.pid)}`).join('; ')
        process.stdout.write(`kafka     ${h.kafka.bootstrap}  ${h.kafka.up ? 'up' : 'DOWN'}  (Apache Kafka ${state.kafka.version}, ${h.kafka.brokers}/${h.kafka.expected} brokers; ${nodes})${h.kafka.detail ? `  ${h.kafka.detail}` : ''}\n`)
        process.stdout.write(`registry  ${h.registry.url}  ${h.registry.up ? 'up' : 'DOWN'}  (Apicurio Registry ${state.registry.version}; pid ${state.registry.pid}${mem(state.registry.pid)})${h.registry.detail ? `  ${h.registry.detail}` : ''}\n`)
      }
      return h.kafka.up && h.registry.up ? 0 : 1
    }
    default:
      process.stderr.write(`infra: unknown command "${cmd}"\n\n${HELP}`)
      return 2
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`infra: ${(err as Error).message}\n`)
  process.exitCode = 1
})
