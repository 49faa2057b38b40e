/**
 * The live dashboard's web server (`synthq dashboard`): one page, its scripts, and a small JSON
 * API over the status snapshots of a pipeline.
 *
 *   GET /               the page (src/dashboard/static/index.html)
 *   GET /static/...     the page's own files, and uPlot's dist files from node_modules/uplot
 *   GET /api/status     the latest snapshot (503 until the first collect succeeded)
 *   GET /api/history    the snapshots of the last `historyMs` (default 15 min), oldest first,
 *                       without their latest-instruction lists, so a new page has curves at once
 *   GET /api/events     Server-Sent Events: `snapshot` with each new snapshot, `collect-error`
 *                       when a collect fails (the page shows a banner with the reason)
 *   GET /healthz        this server's own state: the last collect and its error, if any
 *
 * Snapshots are collected on ONE timer shared by every client, never per client: ten open tabs
 * cost the pipeline what one does. Collects never overlap: a slow collect delays the next tick.
 *
 * Security: the page has no authentication — bind to loopback (the default) unless the network
 * is trusted. On loopback, requests whose Host header is not a loopback name are refused, so a
 * web page elsewhere cannot read the pipeline's data through DNS rebinding. Every response
 * carries a strict Content-Security-Policy (the page runs only its own scripts, connects only to
 * this server); the page writes record text with textContent, never as HTML.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { packagePath, packageRequire } from '../package-root.ts'
import type { Logger } from '../log.ts'
import type { StatusSnapshot } from '../ops/status-model.ts'

export interface DashboardServerOptions {
  /** Takes one snapshot of the pipeline (e.g. StatusCollector.collect). */
  collect: () => Promise<StatusSnapshot>
  /** Refresh period: one collect per period for all clients. */
  intervalMs: number
  host: string
  /** 0: any free port (see DashboardServer.url). */
  port: number
  logger: Logger
  /** How much history /api/history keeps (default 15 minutes). */
  historyMs?: number
}

export interface CollectError {
  at: number
  message: string
}

export interface DashboardServer {
  /** http://host:port/ with the port actually bound. */
  readonly url: string
  readonly port: number
  /** Collects now (outside the timer's rhythm) and pushes the result; for tests. */
  refresh: () => Promise<void>
  /** Stops the timer, ends every event stream and closes the server. */
  close: () => Promise<void>
}

export const DEFAULT_HISTORY_MS = 15 * 60_000

// Served from src/ also when the server runs from the bundle (dist/ holds no copy of them).
const STATIC_DIR = packagePath('src', 'dashboard', 'static')

/** uPlot's dist folder, found the way Node finds the package (no CDN: the page works offline). */
function uplotDist (): string {
  return join(dirname(packageRequire.resolve('uplot/package.json')), 'dist')
}

interface Asset { body: Buffer, type: string, cache: string }

/** Every file the server will ever send, read once at start: no path from a request reaches the file system. */
function loadAssets (): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  const types: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' }
  const add = (route: string, file: string, cache: string): void => {
    assets.set(route, { body: readFileSync(file), type: types[file.slice(file.lastIndexOf('.') + 1)] ?? 'application/octet-stream', cache })
  }
  // The page's own files change with the checkout: revalidate. uPlot's are fixed by its version.
  add('/', join(STATIC_DIR, 'index.html'), 'no-cache')
  for (const f of ['app.js', 'charts.js', 'render.js', 'style.css', 'favicon.svg']) add(`/static/${f}`, join(STATIC_DIR, f), 'no-cache')
  const dist = uplotDist()
  for (const f of ['uPlot.esm.js', 'uPlot.min.css']) add(`/static/vendor/${f}`, join(dist, f), 'public, max-age=86400')
  return assets
}

/** The page loads only its own scripts, styles and data. `style-src 'self'` still lets scripts set element.style (CSSOM), which uPlot does. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])

export function isLoopback (host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** The host part of a Host header: `[::1]:7464` → `[::1]`, `localhost:7464` → `localhost`. */
function hostOf (header: string | undefined): string {
  if (!header) return ''
  const h = header.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1)
  const colon = h.lastIndexOf(':')
  return colon === -1 ? h : h.slice(0, colon)
}

/** A snapshot as kept in history: the curves need every figure but the latest instructions. */
function forHistory (s: StatusSnapshot): StatusSnapshot {
  return { ...s, latest: [] }
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err)) || 'collect failed'

export async function createDashboardServer (o: DashboardServerOptions): Promise<DashboardServer> {
  if (!(o.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${o.intervalMs}`)
  const historyMs = o.historyMs ?? DEFAULT_HISTORY_MS
  const assets = loadAssets()
  const loopbackOnly = isLoopback(o.host)

  let latest: StatusSnapshot | null = null
  let lastError: CollectError | null = null
  let lastCollectAt: number | null = null
  const history: StatusSnapshot[] = []
  const clients = new Set<ServerResponse>()

  const send = (res: ServerResponse, event: string, data: unknown): void => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }
  const broadcast = (event: string, data: unknown): void => {
    for (const res of clients) send(res, event, data)
  }

  // One collect at a time; the timer is re-armed after each so slow collects never pile up.
  let inFlight: Promise<void> | null = null
  let closed = false
  const collectOnce = async (): Promise<void> => {
    try {
      const snap = await o.collect()
      latest = snap
      lastError = null
      lastCollectAt = Date.now()
      history.push(forHistory(snap))
      // Keep the window by the snapshots' own clocks, with a hard cap on points (a clock jump or
      // extra refreshes cannot grow it without bound).
      const cap = Math.max(64, 2 * Math.ceil(historyMs / o.intervalMs) + 1)
      while (history.length > 0 && (history.length > cap || history[0]!.at < snap.at - historyMs)) history.shift()
      broadcast('snapshot', snap)
    } catch (err) {
      lastError = { at: Date.now(), message: errorMessage(err) }
      lastCollectAt = lastError.at
      o.logger.warn({ err: lastError.message }, 'dashboard: collecting the status failed')
      broadcast('collect-error', lastError)
    }
  }
  const refresh = async (): Promise<void> => {
    inFlight ??= collectOnce().finally(() => { inFlight = null })
    await inFlight
  }
  let timer: NodeJS.Timeout | undefined
  const tick = (): void => {
    timer = setTimeout(() => { void refresh().finally(() => { if (!closed) tick() }) }, o.intervalMs)
  }

  const json = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void => {
    const text = JSON.stringify(body)
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text), ...extra })
    res.end(text)
  }
  const plain = (res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...extra })
    res.end(text + '\n')
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (loopbackOnly && !isLoopback(hostOf(req.headers.host))) return plain(res, 421, 'this dashboard answers only to loopback host names (localhost, 127.0.0.1, [::1])')
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed', { Allow: 'GET, HEAD' })
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname
    const asset = assets.get(path === '/index.html' ? '/' : path)
    if (asset) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Cache-Control': asset.cache, 'Content-Length': asset.body.length })
      res.end(req.method === 'HEAD' ? undefined : asset.body)
      return
    }
    switch (path) {
      case '/api/status':
        if (!latest) return json(res, 503, { error: lastError ?? { at: Date.now(), message: 'no snapshot collected yet' } })
        return json(res, 200, latest, lastError ? { 'X-Synthq-Collect-Error': encodeURIComponent(lastError.message) } : {})
      case '/api/history':
        return json(res, 200, { intervalMs: o.intervalMs, historyMs, snapshots: history, error: lastError })
      case '/healthz':
        return json(res, 200, { ok: true, lastCollectAt, lastSnapshotAt: latest?.at ?? null, error: lastError })
      case '/api/events': {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' })
        res.write(`retry: ${Math.max(1000, Math.min(o.intervalMs, 10_000))}\n\n`)
        // What the page would otherwise wait one period for: the state as it is now.
        if (latest) send(res, 'snapshot', latest)
        if (lastError) send(res, 'collect-error', lastError)
        clients.add(res)
        req.socket.setTimeout(0)
        const drop = (): void => { clients.delete(res) }
        req.on('close', drop)
        res.on('error', drop)
        return
      }
      default:
        return plain(res, 404, 'not found')
    }
  }

  const server: Server = createServer((req, res) => {
    try {
      handle(req, res)
    } catch (err) {
      o.logger.error({ err }, 'dashboard: request failed')
      if (!res.headersSent) plain(res, 500, 'internal error')
      else res.destroy()
    }
  })
  // Proxies close idle event streams: a comment line every 15 s keeps them open.
  const heartbeat = setInterval(() => { for (const res of clients) res.write(': keep-alive\n\n') }, 15_000)
  heartbeat.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve() })
  })
  const port = (server.address() as AddressInfo).port
  const shownHost = o.host.includes(':') ? `[${o.host}]` : o.host === '0.0.0.0' ? '127.0.0.1' : o.host
  const url = `http://${shownHost}:${port}/`

  void refresh().finally(() => { if (!closed) tick() })

  return {
    url,
    port,
    refresh,
    close: async () => {
      closed = true
      clearTimeout(timer)
      clearInterval(heartbeat)
      for (const res of clients) res.end()
      clients.clear()
      await inFlight?.catch(() => {})
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}
