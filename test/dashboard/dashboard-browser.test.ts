/**
 * The dashboard in headless Chromium (Debian's package, driven by playwright-core).
 *
 * 1. Against a fake collector: untrusted instruction text is shown as text (no element, no
 *    script runs), a javascript: URL is not a link, a failing collect shows a banner with its
 *    reason while the last figures stay, and the banner goes when collecting recovers.
 * 2. Against a REAL running pipeline: `synthq start` (attribution + synthesis on the shipped
 *    data, embedded runner, simulator) in one process, `synthq dashboard --port 0` on the same
 *    database in another; the page must draw live throughput while the pipeline works, and —
 *    once it is done — a score histogram equal to /api/status, latest instructions equal to the
 *    records of the scored topic, and the sample's topics. A full-page screenshot is saved to
 *    test-artifacts/dashboard.png.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { Page } from 'playwright-core'
import { pino } from 'pino'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { createDashboardServer } from '../../src/dashboard/server.ts'
import type { StatusSnapshot } from '../../src/ops/status-model.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { launchChromium } from './browser.ts'
import { FakeStatus, MALICIOUS_INSTRUCTION } from './fake-status.ts'

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts')

/** Page errors and CSP violations: the page must run clean under its own policy. */
function watchPage (page: Page): string[] {
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource.*(503|favicon)/.test(m.text())) problems.push(`console error: ${m.text()}`) })
  return problems
}

async function poll<T> (what: string, fn: () => Promise<T | undefined | null | false>, ms: number, extra: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}${extra()}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

test('the page shows untrusted text as text, and a failing collect as a banner with its reason', async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const fake = new FakeStatus({ poison: true })
  let failing = false
  const server = await createDashboardServer({ collect: async () => { if (failing) throw new Error('database is locked (SQLITE_BUSY)'); return fake.snapshot() }, intervalMs: 200, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) })
  try {
    const page = await browser.newPage()
    const problems = watchPage(page)
    await page.goto(server.url)
    const first = page.getByTestId('latest-instruction').first()
    await first.waitFor()
    assert.equal(await first.textContent(), MALICIOUS_INSTRUCTION, 'the instruction is shown verbatim, as text')
    assert.equal(await page.locator('[data-testid="latest-table"] img, [data-testid="latest-table"] script').count(), 0, 'no element was made from record text')
    assert.equal(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned), undefined, 'no script from record text ran')
    // Only http(s) document URLs become links.
    const second = page.getByTestId('latest-row').nth(1)
    assert.match((await second.getByTestId('latest-document').textContent())!, /^c4:web-/)
    assert.equal(await second.locator('a').count(), 0, 'javascript: URL rendered as text')
    assert.ok(await page.getByTestId('latest-row').first().locator('a[href^="https://example.org/"]').count() === 1)
    assert.equal(await page.getByTestId('simulated-badge').count(), 4, 'SIMULATED on the rows whose lineage says so')
    // Figures as text and numbers.
    const scoring = page.getByTestId('stage-row-scoring')
    await poll('the scoring row', async () => Number(await scoring.getByTestId('throughput').getAttribute('data-value')) > 0, 10_000)
    assert.equal(await page.locator('[data-testid="throughput-chart"] canvas').count(), 1)
    assert.equal(await page.getByTestId('health-dead_letters').count(), 1)

    failing = true
    const banner = page.getByTestId('error-banner')
    await banner.waitFor({ state: 'visible', timeout: 10_000 })
    assert.match((await banner.textContent())!, /Collecting the status failed at .*: database is locked \(SQLITE_BUSY\) — showing the last figures collected/)
    assert.equal(await scoring.count(), 1, 'the last figures stay on the page')
    failing = false
    await banner.waitFor({ state: 'hidden', timeout: 10_000 })
    assert.deepEqual(problems, [])
  } finally {
    await browser.close()
    await server.close()
  }
})

const noServers = { SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '' }

function spawnLogged (args: string[], env: NodeJS.ProcessEnv): ChildProcess & { out: () => string, err: () => string } {
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  return Object.assign(child, { out: () => out, err: () => err })
}

async function exitOf (child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${ms} ms`)), ms)
    child.once('exit', (code) => { clearTimeout(timer); resolve(code) })
  })
}

test('on a real running pipeline the dashboard draws live figures that match the pipeline\'s records', { timeout: 420_000 }, async (t) => {
  const browser = await launchChromium(t)
  if (!browser) return
  const dir = testTmpDir('dashboard')
  const db = join(dir, 'synthq.db')
  const env = { ...process.env, ...noServers, SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'), SYNTHQ_RUN_DIR: join(dir, 'run'), SYNTHQ_LOG_LEVEL: '' }
  // The whole method on the shipped data; without --until-idle it stays running when done.
  const pipeline = spawnLogged([join(REPO_ROOT, 'bin/synthq.js'), 'start', '--db', db, '--out', join(dir, 'dataset')], env)
  let dashboard: ReturnType<typeof spawnLogged> | undefined
  const logs = (): string => `\n--- synthq start stderr ---\n${pipeline.err().slice(-3000)}\n--- dashboard ---\n${dashboard?.out() ?? ''}${dashboard?.err().slice(-3000) ?? ''}`
  try {
    await poll('the pipeline database', async () => existsSync(db), 120_000, logs)
    dashboard = spawnLogged([join(REPO_ROOT, 'bin/synthq.js'), 'dashboard', '--port', '0', '--db', db, '--interval', '0.5'], env)
    const url = await poll('the dashboard URL', async () => /synthq dashboard: (http:\/\/\S+)/.exec(dashboard!.out())?.[1], 60_000, logs)
    const status = async (): Promise<StatusSnapshot> => {
      const r = await fetch(new URL('/api/status', url))
      if (!r.ok) throw new Error(`/api/status ${r.status}`)
      return await r.json() as StatusSnapshot
    }

    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
    const problems = watchPage(page)
    await page.goto(url)

    // While the pipeline works: some stage row shows a live throughput above zero.
    const live = await poll('a stage row with throughput > 0', async () => {
      for (const row of await page.locator('[data-testid^="stage-row-"]').all()) {
        const v = Number(await row.getByTestId('throughput').getAttribute('data-value') || 0)
        if (v > 0) return { stage: (await row.getAttribute('data-testid'))!.slice('stage-row-'.length), v, text: (await row.getByTestId('throughput').textContent())! }
      }
      return undefined
    }, 240_000, logs)
    t.diagnostic(`live: ${live.stage} at ${live.text} records/s`)
    assert.match(live.text, /^\d[\d,.]*$/)
    const processes = Number((/Processes found: (\d+)/.exec((await page.getByTestId('processes').textContent())!) ?? [])[1])
    assert.ok(processes >= 1, 'the running synthq start is found')

    // Once the pipeline is done and has exported its sample, the figures settle.
    await poll('synthq start to finish the shipped data', async () => pipeline.err().includes('waiting for new records'), 300_000, logs)
    const final = await poll('the settled snapshot (sample and histogram)', async () => {
      const s = await status()
      return s.sample && s.sample.topics.length > 0 && s.filter && s.filter.scored > 0 && s.stages.every((x) => x.lag === 0) ? s : undefined
    }, 60_000, logs)

    // Score histogram: the page's bars carry the snapshot's counts (read again until they agree: both follow the same stream).
    await poll('the histogram to match /api/status', async () => {
      const s = await status()
      const bars = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => Number(await page.getByTestId(`score-bar-${i}`).getAttribute('data-count'))))
      return JSON.stringify(bars) === JSON.stringify(s.filter!.scoreHistogram)
    }, 20_000, () => `${logs()}\nsnapshot histogram ${JSON.stringify(final.filter?.scoreHistogram)}`)
    const bars = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => Number(await page.getByTestId(`score-bar-${i}`).getAttribute('data-count'))))
    assert.ok(bars.some((b) => b > 0), `non-zero bars: ${bars}`)
    assert.equal(await page.getByTestId('score-bar-7').locator('.count').textContent(), bars[7]!.toLocaleString('en-US'), 'counts shown as text')

    // Stage rows: the lag and committed figures the snapshot reads from the database.
    const scoredTopic = topicName('scoredInstructions')
    const log = new EmbeddedLog(db)
    const scored = new Map<string, { instruction: string, total: number }>()
    try {
      const serde = new AvroSerde(new EmbeddedRegistry(log.db, db), SchemaCatalog.load(), {})
      for (const r of log.read(scoredTopic, 0, 1e9)) {
        const v = await serde.decode<{ id: string, instruction: string, total: number }>(scoredTopic, r.value)
        scored.set(v.id, v)
      }
    } finally {
      log.close()
    }
    const sink = page.getByTestId('stage-row-sink')
    await poll('the sink row to show all scored instructions committed', async () => Number(await sink.getByTestId('committed').getAttribute('data-value')) === scored.size, 20_000, logs)
    assert.equal(await sink.getByTestId('lag').textContent(), '0')
    assert.equal(await page.getByTestId('scored').getAttribute('data-value'), String(scored.size))

    // Latest instructions: each row is a record of the scored topic, its text and score as written.
    const rows = await page.getByTestId('latest-row').all()
    assert.ok(rows.length > 0, 'the latest table has rows')
    for (const row of rows) {
      const id = (await row.getAttribute('data-id'))!
      const record = scored.get(id)
      assert.ok(record, `latest row ${id} is a record of ${scoredTopic}`)
      assert.equal(await row.getByTestId('latest-instruction').textContent(), record.instruction)
      assert.equal(await row.getByTestId('latest-score').getAttribute('data-value'), String(record.total))
      assert.equal(await row.getByTestId('simulated-badge').count(), 1, 'the simulator made it: SIMULATED')
    }

    // Topic balance: the sample's topics, and every topic of the exported dataset among them.
    const shown = await page.getByTestId('topic-row').evaluateAll((els) => els.map((e) => ({ label: e.getAttribute('data-label')!, kept: Number(e.getAttribute('data-kept')) })))
    const latest = await status()
    assert.deepEqual(shown.map((x) => x.label).sort(), latest.sample!.topics.map((x) => x.label).sort())
    assert.equal(shown.reduce((a, x) => a + x.kept, 0), latest.sample!.size)
    const dataset = readFileSync(join(dir, 'dataset', 'data', 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { topic_label: string })
    assert.equal(dataset.length, latest.sample!.size, 'the dataset is the sample the page shows')
    for (const label of new Set(dataset.map((r) => r.topic_label))) assert.ok(shown.some((x) => x.label === label), `dataset topic "${label}" on the page`)
    assert.equal(await page.getByTestId('sample-kept').getAttribute('data-value'), String(latest.sample!.size))

    // Charts drawn, health chips present, last update shown.
    for (const chart of ['throughput-chart', 'lag-chart', 'latency-chart', 'tokens-chart', 'acceptance-chart']) {
      assert.equal(await page.locator(`[data-testid="${chart}"] canvas`).count(), 1, chart)
    }
    assert.ok(await page.locator('[data-testid="health-checks"] .chip').count() > 0)
    assert.match((await page.getByTestId('last-update').textContent())!, /\d/)

    mkdirSync(ARTIFACTS, { recursive: true })
    const shot = join(ARTIFACTS, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    t.diagnostic(`screenshot: ${shot}`)
    process.stdout.write(`dashboard screenshot: ${shot}\n`)
    assert.deepEqual(problems, [])

    // Ctrl-C stops both cleanly.
    dashboard.kill('SIGINT')
    assert.equal(await exitOf(dashboard, 20_000), 0, logs())
    assert.match(dashboard.err(), /synthq dashboard: stopped/)
    pipeline.kill('SIGINT')
    assert.equal(await exitOf(pipeline, 60_000), 0, logs())
  } finally {
    await browser.close()
    for (const c of [dashboard, pipeline]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
})
