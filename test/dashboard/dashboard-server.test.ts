/**
 * The dashboard server with a fake collector: the page and its assets with strict headers,
 * /api/status, /api/history's window, Server-Sent Events, one collect timer for all clients,
 * a failing collect reported (and the last figures kept), loopback Host checks.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import { pino } from 'pino'
import { createDashboardServer, type DashboardServer } from '../../src/dashboard/server.ts'
import type { StatusSnapshot } from '../../src/ops/status-model.ts'
import { FakeStatus, MALICIOUS_INSTRUCTION } from './fake-status.ts'
import { SseClient } from './sse.ts'

const logger = pino({ level: 'silent' })

async function withServer (o: { collect: () => Promise<StatusSnapshot>, intervalMs?: number, historyMs?: number }, fn: (s: DashboardServer) => Promise<void>): Promise<void> {
  const server = await createDashboardServer({ collect: o.collect, intervalMs: o.intervalMs ?? 60_000, host: '127.0.0.1', port: 0, logger, ...(o.historyMs ? { historyMs: o.historyMs } : {}) })
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

/** GET with a chosen Host header (fetch does not let a test set it). */
async function rawGet (url: string, host: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers: { Host: host } }, (res) => { res.resume(); resolve(res.statusCode!) })
    req.on('error', reject)
    req.end()
  })
}

async function until (cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

test('serves the page and its assets (uPlot from node_modules) with a strict CSP, and nothing else', async () => {
  const fake = new FakeStatus()
  await withServer({ collect: async () => fake.snapshot() }, async (s) => {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    const page = await fetch(s.url)
    assert.equal(page.status, 200)
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8')
    const csp = page.headers.get('content-security-policy')!
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/)
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff')
    const html = await page.text()
    assert.match(html, /data-testid="throughput-chart"/)
    assert.doesNotMatch(html, /<script>|style="|https?:\/\/(?!www\.w3\.org)/, 'no inline script or style, no remote asset')
    for (const [path, type] of [['/static/app.js', 'text/javascript'], ['/static/charts.js', 'text/javascript'], ['/static/render.js', 'text/javascript'], ['/static/style.css', 'text/css'], ['/static/vendor/uPlot.esm.js', 'text/javascript'], ['/static/vendor/uPlot.min.css', 'text/css']] as const) {
      const r = await fetch(new URL(path, s.url))
      assert.equal(r.status, 200, path)
      assert.ok(r.headers.get('content-type')!.startsWith(type), `${path}: ${r.headers.get('content-type')}`)
      assert.ok((await r.text()).length > 100, path)
    }
    const uplot = await (await fetch(new URL('/static/vendor/uPlot.esm.js', s.url))).text()
    assert.match(uplot, /export \{ uPlot as default \}|export default uPlot/)
    for (const path of ['/static/../server.ts', '/static/%2e%2e/server.ts', '/static/vendor/uPlot.d.ts', '/etc/passwd', '/api/nothing']) {
      assert.equal((await fetch(new URL(path, s.url))).status, 404, path)
    }
    assert.equal((await fetch(s.url, { method: 'POST' })).status, 405)
    // DNS rebinding: a page on another origin that resolves to 127.0.0.1 sends its own Host.
    assert.equal(await rawGet(new URL('/api/status', s.url).href, 'evil.example:7464'), 421)
    assert.equal(await rawGet(new URL('/api/status', s.url).href, `localhost:${s.port}`), 200)
  })
})

test('/api/status is the latest snapshot; /api/history keeps a window of them without their latest lists', async () => {
  const fake = new FakeStatus({ poison: true, start: 1_700_000_000_000, stepMs: 1000 })
  await withServer({ collect: async () => fake.snapshot(), historyMs: 3000 }, async (s) => {
    await until(() => fake.n >= 1)
    for (let i = 0; i < 5; i++) await s.refresh()
    const status = await fetch(new URL('/api/status', s.url))
    assert.equal(status.status, 200)
    assert.equal(status.headers.get('cache-control'), 'no-store')
    const snap = await status.json() as StatusSnapshot
    assert.equal(snap.at, 1_700_000_000_000 + 5000)
    assert.equal(snap.latest.length, 5)
    assert.equal(snap.latest[0]!.instruction, MALICIOUS_INSTRUCTION, 'the API carries the text as it is; the page escapes it')
    const history = await (await fetch(new URL('/api/history', s.url))).json() as { historyMs: number, snapshots: StatusSnapshot[], error: unknown }
    assert.equal(history.historyMs, 3000)
    assert.deepEqual(history.snapshots.map((x) => x.at - 1_700_000_000_000), [2000, 3000, 4000, 5000], 'the last 3 s, oldest first')
    assert.ok(history.snapshots.every((x) => x.latest.length === 0 && x.stages.length === 8))
    assert.equal(history.error, null)
    const health = await (await fetch(new URL('/healthz', s.url))).json() as { ok: boolean, lastSnapshotAt: number }
    assert.equal(health.ok, true)
    assert.equal(health.lastSnapshotAt, snap.at)
  })
})

test('Server-Sent Events: the current snapshot at once, then each new one; one collect timer for all clients', async () => {
  const fake = new FakeStatus()
  let calls = 0
  await withServer({ collect: async () => { calls++; return fake.snapshot() }, intervalMs: 100 }, async (s) => {
    await until(() => calls >= 1)
    const clients = [new SseClient(new URL('/api/events', s.url).href), new SseClient(new URL('/api/events', s.url).href), new SseClient(new URL('/api/events', s.url).href)]
    try {
      await Promise.all(clients.map((c) => c.ready))
      assert.equal(clients[0]!.status, 200)
      assert.equal(clients[0]!.headers!.get('content-type'), 'text/event-stream; charset=utf-8')
      const firsts = await Promise.all(clients.map(async (c) => JSON.parse((await c.next('snapshot')).data) as StatusSnapshot))
      const seconds = await Promise.all(clients.map(async (c) => JSON.parse((await c.next('snapshot')).data) as StatusSnapshot))
      for (let i = 0; i < 3; i++) assert.ok(seconds[i]!.at > firsts[i]!.at, 'a newer snapshot follows')
      assert.equal(new Set(seconds.map((x) => x.at)).size, 1, 'every client gets the same snapshot')
      const before = calls
      await new Promise((r) => setTimeout(r, 1000))
      const perSecond = calls - before
      assert.ok(perSecond >= 5 && perSecond <= 11, `one timer at 100 ms for 3 clients: ${perSecond} collects in 1 s`)
    } finally {
      for (const c of clients) c.close()
    }
  })
})

test('a failing collect is reported with its reason; the last snapshot stays served; recovery clears it', async () => {
  const fake = new FakeStatus()
  let fail = false
  await withServer({ collect: async () => { if (fail) throw new Error('database is locked: /tmp/x.db'); return fake.snapshot() } }, async (s) => {
    await s.refresh()
    const sse = new SseClient(new URL('/api/events', s.url).href)
    try {
      await sse.ready
      const first = JSON.parse((await sse.next('snapshot')).data) as StatusSnapshot
      fail = true
      await s.refresh()
      const err = JSON.parse((await sse.next('collect-error')).data) as { at: number, message: string }
      assert.equal(err.message, 'database is locked: /tmp/x.db')
      const status = await fetch(new URL('/api/status', s.url))
      assert.equal(status.status, 200)
      assert.equal(decodeURIComponent(status.headers.get('x-synthq-collect-error')!), 'database is locked: /tmp/x.db')
      assert.equal(((await status.json()) as StatusSnapshot).at, first.at)
      const history = await (await fetch(new URL('/api/history', s.url))).json() as { error: { message: string } }
      assert.equal(history.error.message, 'database is locked: /tmp/x.db')
      fail = false
      await s.refresh()
      assert.ok((JSON.parse((await sse.next('snapshot')).data) as StatusSnapshot).at > first.at)
      assert.equal((await (await fetch(new URL('/healthz', s.url))).json() as { error: unknown }).error, null)
    } finally {
      sse.close()
    }
  })
})

test('before any collect succeeded /api/status answers 503 with the reason', async () => {
  await withServer({ collect: async () => { throw new Error('no such database') } }, async (s) => {
    await s.refresh()
    const r = await fetch(new URL('/api/status', s.url))
    assert.equal(r.status, 503)
    assert.deepEqual(((await r.json()) as { error: { message: string } }).error.message, 'no such database')
  })
})

test('close() ends open event streams and frees the port', async () => {
  const fake = new FakeStatus()
  const server = await createDashboardServer({ collect: async () => fake.snapshot(), intervalMs: 50, host: '127.0.0.1', port: 0, logger })
  const sse = new SseClient(new URL('/api/events', server.url).href)
  await sse.ready
  await sse.next('snapshot')
  const t0 = Date.now()
  await server.close()
  assert.ok(Date.now() - t0 < 2000, 'close does not wait for the event stream')
  sse.close()
  const again = await createDashboardServer({ collect: async () => fake.snapshot(), intervalMs: 50, host: '127.0.0.1', port: server.port, logger })
  await again.close()
})
