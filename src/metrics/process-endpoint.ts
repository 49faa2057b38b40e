/**
 * One place where a `synthq run` / `synthq start` process sets up its observability: the
 * metrics registry its runners and LLM client report to, the debug logs of the diagnostics
 * channels (src/diagnostics/), the /metrics endpoint with the /healthz and /readyz probes
 * (health.ts), the lag
 * figures (read from where the runner keeps positions) and the announcement in the run
 * directory that `synthq status` and `synthq dashboard` read.
 */
import { logDiagnostics } from '../diagnostics/log-subscriber.ts'
import type { Logger } from '../log.ts'
import { announce } from '../ops/discovery.ts'
import { pipelineStages, type PipelineStage } from '../ops/lag.ts'
import type { Runner } from '../runtime/runner.ts'
import { ConfigError } from '../errors.ts'
import { Health } from './health.ts'
import { startMetricsServer, type MetricsServer } from './metrics-server.ts'
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
  /**
   * Liveness and readiness (/healthz, /readyz), following the runners on the diagnostics
   * channels from the moment the endpoint is made; undefined with --no-metrics.
   */
  health: Health | undefined
  /** Where the endpoint listens (after listen or start). */
  url: string | undefined
  /**
   * Starts serving /metrics, /healthz and /readyz — before the runner starts, so that the probes
   * answer while it connects or waits out an outage. Idempotent; `start` calls it too.
   */
  listen (): Promise<void>
  /** Lag comes from where `runner` keeps its positions; the announcement names where its topics are. */
  /** `stages`: whose lag to report (default: every stage of the topologies under the prefix; a shadow run gives its own). */
  start (o: { topologies: string[], prefix: string, runner: Runner, stages?: PipelineStage[] }): Promise<void>
  close (): Promise<void>
}

export function processEndpoint (settings: MetricsSettings, labels: Record<string, string>, logger: Logger, info?: Record<string, string>): ProcessEndpoint {
  const metrics = new PipelineMetrics({ labels, logger, ...(info ? { info } : {}) })
  // The process's debug logs of records, commits and Kafka client events (nothing at info level).
  const unlog = logDiagnostics(logger)
  // Subscribed now, before any runner starts: readiness follows each runner from its start.
  const health = settings.enabled ? new Health() : undefined
  let server: MetricsServer | undefined
  let listening: Promise<void> | undefined
  let unannounce: (() => void) | undefined
  let closeLag: (() => Promise<void>) | undefined
  const endpoint: ProcessEndpoint = {
    metrics,
    health,
    url: undefined,
    listen () {
      if (!settings.enabled) return Promise.resolve()
      listening ??= startMetricsServer(metrics, { host: settings.host, port: settings.port, logger, ...(health ? { health } : {}) }).then((s) => {
        server = s
        endpoint.url = s.url
      })
      return listening
    },
    async start (o) {
      const stages = o.stages ?? pipelineStages(o.prefix, o.topologies.filter((t) => t !== 'demo'))
      const lag = o.runner.lagReader()
      metrics.setLagSource(async () => (await lag.lag(stages)).map((l) => ({ stage: l.stage, topic: l.input, lag: l.lag })))
      closeLag = async () => { await lag.close().catch(() => {}) }
      if (!settings.enabled) return
      await endpoint.listen()
      unannounce = announce({
        pid: process.pid, metricsUrl: server!.url, topology: o.topologies.join('+'), runner: o.runner.kind, prefix: o.prefix, startedAt: Date.now(),
        ...o.runner.location,
      })
    },
    async close () {
      metrics.close()
      unlog()
      health?.close()
      unannounce?.()
      await listening?.catch(() => {})
      await server?.close()
      await closeLag?.()
    },
  }
  return endpoint
}
