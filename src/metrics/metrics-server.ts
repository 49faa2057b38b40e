/**
 * The Prometheus endpoint of a process: `GET /metrics` in the text exposition format, on
 * 127.0.0.1 by default (metrics name stages, models and topics; expose them further on purpose
 * with --metrics-host). Port 0 picks a free port, announced through the run directory
 * (src/ops/discovery.ts) so `synthq status` and `synthq dashboard` find it.
 *
 * Given a {@link Health}, it also answers Kubernetes' probes: `GET /healthz` (liveness) and
 * `GET /readyz` (readiness), 200 or 503 with a small JSON body (docs/metrics.md).
 */
import { createServer, type ServerResponse, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../log.ts'
import type { Health } from './health.ts'
import type { PipelineMetrics } from './pipeline-metrics.ts'

export interface MetricsServer {
  /** e.g. http://127.0.0.1:40123/metrics */
  url: string
  close (): Promise<void>
}

/** A probe's answer: never cached, JSON. */
function probe (res: ServerResponse, ok: boolean, body: unknown): void {
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`)
}

export async function startMetricsServer (metrics: PipelineMetrics, o: { host?: string, port?: number, logger?: Logger, health?: Health } = {}): Promise<MetricsServer> {
  const host = o.host ?? '127.0.0.1'
  const { health } = o
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && health && path === '/healthz') {
      const l = health.liveness()
      probe(res, l.live, l)
      return
    }
    if (req.method === 'GET' && health && path === '/readyz') {
      const r = health.readiness()
      probe(res, r.ready, r)
      return
    }
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`synthq serves GET /metrics${health ? ', /healthz and /readyz' : ''}\n`)
      return
    }
    metrics.text().then((body) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body)
    }, (err: unknown) => {
      o.logger?.warn({ err }, 'metrics: collecting failed')
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${(err as Error).message}\n`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port ?? 0, host, () => { server.off('error', reject); resolve() })
  })
  server.unref() // never what keeps a process alive
  const { port } = server.address() as AddressInfo
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host
  return {
    url: `http://${shown}:${port}/metrics`,
    close: async () => { await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) },
  }
}
