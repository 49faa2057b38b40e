/**
 * The Prometheus endpoint of a process: `GET /metrics` in the text exposition format, on
 * 127.0.0.1 by default (metrics name stages, models and topics; expose them further on purpose
 * with --metrics-host). Port 0 picks a free port, announced through the run directory
 * (src/ops/discovery.ts) so `synthq status` and `synthq dashboard` find it.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../log.ts'
import type { PipelineMetrics } from './pipeline-metrics.ts'

export interface MetricsServer {
  /** e.g. http://127.0.0.1:40123/metrics */
  url: string
  close (): Promise<void>
}

export async function startMetricsServer (metrics: PipelineMetrics, o: { host?: string, port?: number, logger?: Logger } = {}): Promise<MetricsServer> {
  const host = o.host ?? '127.0.0.1'
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('synthq serves GET /metrics\n')
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
