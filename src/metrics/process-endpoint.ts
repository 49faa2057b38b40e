/**
 * One place where a `synthq run` / `synthq start` process sets up its observability: the
 * metrics registry its runners and LLM client report to, the debug logs of the diagnostics
 * channels (src/diagnostics/), the /metrics endpoint, the lag
 * figures (read from where the runner keeps positions) and the announcement in the run
 * directory that `synthq status` and `synthq dashboard` read.
 */
import { logDiagnostics } from '../diagnostics/log-subscriber.ts'
import type { Logger } from '../log.ts'
import { announce } from '../ops/discovery.ts'
import { pipelineStages } from '../ops/lag.ts'
import type { Runner } from '../runtime/runner.ts'
import { ConfigError } from '../errors.ts'
import { startMetricsServer } from './metrics-server.ts'
import { PipelineMetrics } from './pipeline-metrics.ts'

export interface MetricsSettings {
  /** false: no endpoint (--no-metrics). */
  enabled: boolean
  host: string
  /** 0: any free port (announced in the run directory). */
  port: number
}

/** --metrics-host/--metrics-port over SYNTHQ_METRICS_HOST/SYNTHQ_METRICS_PORT over 127.0.0.1:0. */
export function metricsSettings (flags: { host?: string | undefined, port?: string | undefined, disabled?: boolean | undefined }, env: NodeJS.ProcessEnv = process.env): MetricsSettings {
  const rawPort = flags.port ?? env.SYNTHQ_METRICS_PORT ?? '0'
  const port = Number(rawPort)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--metrics-port (or SYNTHQ_METRICS_PORT) must be a port number 0–65535, got "${rawPort}"`)
  return { enabled: !flags.disabled && env.SYNTHQ_METRICS !== 'off', host: flags.host ?? env.SYNTHQ_METRICS_HOST ?? '127.0.0.1', port }
}

export interface ProcessEndpoint {
  metrics: PipelineMetrics
  /** Where the endpoint listens (after start). */
  url: string | undefined
  /** Lag comes from where `runner` keeps its positions; the announcement names where its topics are. */
  start (o: { topologies: string[], prefix: string, runner: Runner }): Promise<void>
  close (): Promise<void>
}

export function processEndpoint (settings: MetricsSettings, labels: Record<string, string>, logger: Logger, info?: Record<string, string>): ProcessEndpoint {
  const metrics = new PipelineMetrics({ labels, logger, ...(info ? { info } : {}) })
  // The process's debug logs of records, commits and Kafka client events (nothing at info level).
  const unlog = logDiagnostics(logger)
  let close: (() => Promise<void>) | undefined
  const endpoint: ProcessEndpoint = {
    metrics,
    url: undefined,
    async start (o) {
      const stages = pipelineStages(o.prefix, o.topologies.filter((t) => t !== 'demo'))
      const lag = o.runner.lagReader()
      metrics.setLagSource(async () => (await lag.lag(stages)).map((l) => ({ stage: l.stage, topic: l.input, lag: l.lag })))
      close = async () => { await lag.close().catch(() => {}) }
      if (!settings.enabled) return
      const server = await startMetricsServer(metrics, { host: settings.host, port: settings.port, logger })
      endpoint.url = server.url
      const unannounce = announce({
        pid: process.pid, metricsUrl: server.url, topology: o.topologies.join('+'), runner: o.runner.kind, prefix: o.prefix, startedAt: Date.now(),
        ...o.runner.location,
      })
      const closeLag = close
      close = async () => { unannounce(); await server.close(); await closeLag() }
    },
    async close () {
      metrics.close()
      unlog()
      await close?.()
    },
  }
  return endpoint
}
