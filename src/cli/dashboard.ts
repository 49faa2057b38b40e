/**
 * `synthq dashboard`: a live web page over a running (or stopped) pipeline — throughput, lag,
 * LLM latency and spend per stage, filter acceptance, the score histogram, the sample's topic
 * balance, the latest instructions with their lineage, health checks. One StatusCollector takes
 * a snapshot every --interval seconds; the page follows them as Server-Sent Events
 * (src/dashboard/server.ts, docs/dashboard.md).
 *
 *   synthq dashboard                              the database of npm start, http://127.0.0.1:7464/
 *   synthq dashboard --runner kafka --port 0      Kafka, any free port
 */
import { parseArgs } from 'node:util'
import { prefixOf, runnerOf } from '../config/defaults.ts'
import { ConfigError, UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { createDashboardServer, isLoopback } from '../dashboard/server.ts'
import { StatusCollector } from '../ops/status.ts'
import type { StatusSnapshot } from '../ops/status-model.ts'
import { DEFAULT_TOPIC_PREFIX } from '../topics.ts'

export const DEFAULT_DASHBOARD_PORT = 7464

export const DASHBOARD_HELP = `synthq dashboard — a live web dashboard of the pipeline

usage: synthq dashboard [options]

Serves a page with throughput, lag and LLM latency per stage, token spend, filter acceptance,
the score histogram, the sample's topic balance, the latest instructions with their lineage and
the health checks, refreshed every --interval seconds (docs/dashboard.md). It can start before
the pipeline: the page says what is missing until it is there. Ctrl-C stops it.

options:
  --host H           address to bind (default 127.0.0.1; the page has NO authentication:
                     bind elsewhere only on a trusted network)
  --port N           port (default ${DEFAULT_DASHBOARD_PORT}; 0 = any free port; the URL is printed)
  --runner R         embedded (default: the database of npm start) or kafka
  --db FILE          embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P         topic prefix (default ${DEFAULT_TOPIC_PREFIX})
  --metrics-url URL  a process's metrics endpoint, e.g. http://host:9464/metrics (repeatable;
                     processes on this machine are found in .synthq/run/ by themselves)
  --interval S       refresh period in seconds (default 2)
  -h, --help         this help

exit codes: 0 stopped with Ctrl-C · 1 could not serve (port in use) · 2 usage

examples:
  synthq dashboard                                   then open http://127.0.0.1:7464/
  synthq dashboard --port 0 --db /data/synthq.db
  synthq dashboard --runner kafka --metrics-url http://worker-1:9464/metrics --metrics-url http://worker-2:9464/metrics
  ssh -L 7464:127.0.0.1:7464 pipeline-host           (to see a remote one, keep it on loopback)
`


export async function runDashboard (argv: string[], defaults: { db: string }, logger: Logger): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' }, port: { type: 'string' }, runner: { type: 'string' }, db: { type: 'string' }, prefix: { type: 'string' },
      'metrics-url': { type: 'string', multiple: true }, interval: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(DASHBOARD_HELP)
    return 0
  }
  const host = values.host ?? '127.0.0.1'
  const port = values.port === undefined ? DEFAULT_DASHBOARD_PORT : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got "${values.port}"`)
  const intervalS = values.interval === undefined ? 2 : Number(values.interval)
  if (!(intervalS >= 0.2 && intervalS <= 3600)) throw new UsageError(`--interval must be a number of seconds from 0.2 to 3600, got "${values.interval}"`)
  const runner = runnerOf(values.runner)
  const metricsUrls = values['metrics-url'] ?? []
  for (const u of metricsUrls) {
    let ok = false
    try { ok = ['http:', 'https:'].includes(new URL(u).protocol) } catch { /* reported below */ }
    if (!ok) throw new UsageError(`--metrics-url must be an http(s) URL, got "${u}"`)
  }
  const prefix = prefixOf(values.prefix)
  const db = values.db ?? defaults.db

  // A collector whose first collect fails (no database yet, Kafka unreachable) tries afresh on the
  // next one: the dashboard may be started before the pipeline.
  const collector = new StatusCollector({ runner, ...(runner === 'embedded' || values.db ? { db } : {}), prefix, metricsUrls }, logger)
  const collect = async (): Promise<StatusSnapshot> => await collector.collect()
  let server
  try {
    server = await createDashboardServer({ collect, intervalMs: intervalS * 1000, host, port, logger })
  } catch (err) {
    await collector.close()
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') throw new ConfigError(`port ${port} on ${host} is in use: choose another with --port (0 = any free port)`)
    throw err
  }
  if (!isLoopback(host)) {
    process.stderr.write(`synthq dashboard: WARNING — listening on ${host}: the page has no authentication, anyone who can reach this address sees the pipeline's records and figures\n`)
  }
  process.stdout.write(`synthq dashboard: ${server.url}  (${runner}${runner === 'embedded' ? ` ${db}` : ''}, prefix ${prefix}, refresh every ${intervalS} s; Ctrl-C to stop)\n`)

  // Ctrl-C: close the event streams, the server and the collector, then exit 0; a second one exits at once.
  await new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (): void => {
      if (stopping) process.exit(130)
      stopping = true
      resolve()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  await server.close()
  await collector.close()
  process.stderr.write('synthq dashboard: stopped\n')
  return 0
}
