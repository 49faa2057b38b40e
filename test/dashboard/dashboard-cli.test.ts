/**
 * `synthq dashboard`'s options: help, refused values, the URL printed for --port 0, the warning
 * for a non-loopback bind, a missing database reported through the API (not a crash), Ctrl-C
 * exiting 0.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { testTmpDir } from '../helpers/env.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const env = { ...process.env, SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_LOG_LEVEL: 'error' }
const run = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [CLI, 'dashboard', ...args], { encoding: 'utf8', env, timeout: 60_000 })

test('dashboard --help, and values it refuses (exit 2)', () => {
  const help = run(['--help'])
  assert.equal(help.status, 0, String(help.stderr))
  assert.match(String(help.stdout), /synthq dashboard — a live web dashboard/)
  assert.match(String(help.stdout), /--metrics-url URL/)
  for (const [args, message] of [
    [['--port', '70000'], /--port must be an integer from 0 to 65535, got "70000"/],
    [['--interval', '0'], /--interval must be a number of seconds from 0\.2 to 3600, got "0"/],
    [['--runner', 'spark'], /--runner must be embedded or kafka, got "spark"/],
    [['--metrics-url', 'file:///etc/passwd'], /--metrics-url must be an http\(s\) URL/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /Unexpected argument 'extra'/],
    [['--port', '0', '--port', '1', '--runner', 'kafka', '--prefix'], /Option '--prefix <value>' argument missing/],
  ] as const) {
    const r = run([...args])
    assert.equal(r.status, 2, `${args.join(' ')}: exit 2 (usage): ${r.stderr}`)
    assert.match(String(r.stderr), message)
    assert.match(String(r.stderr), /synthq dashboard --help lists the options/)
  }
})

test('--port 0 prints the URL; a non-loopback bind warns; a missing database is reported, not fatal, and followed once it appears; Ctrl-C exits 0', async () => {
  const dir = testTmpDir('dashboard-cli')
  const db = join(dir, 'none.db')
  const child = spawn(process.execPath, [CLI, 'dashboard', '--host', '0.0.0.0', '--port', '0', '--db', db, '--interval', '0.3'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  try {
    const end = Date.now() + 30_000
    while (!/synthq dashboard: http:\/\/\S+/.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
    const url = /synthq dashboard: (http:\/\/\S+)/.exec(out)?.[1]
    assert.ok(url, `no URL printed: ${out}${err}`)
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    assert.match(err, /WARNING — listening on 0\.0\.0\.0: the page has no authentication/)
    const status = await fetch(new URL('/api/status', url))
    assert.equal(status.status, 503)
    assert.match(((await status.json()) as { error: { message: string } }).error.message, /no synthq database at .*none\.db/)
    assert.equal((await fetch(url)).status, 200, 'the page is served meanwhile (it shows the reason)')
    // The pipeline starts after the dashboard: its database appears, and the figures follow.
    new EmbeddedLog(db).close()
    const end2 = Date.now() + 20_000
    let after = await fetch(new URL('/api/status', url))
    while (after.status !== 200 && Date.now() < end2) {
      await new Promise((r) => setTimeout(r, 200))
      after = await fetch(new URL('/api/status', url))
    }
    const body = await after.json() as { source: string }
    assert.equal(after.status, 200, `${JSON.stringify(body)}\n${err}`)
    assert.equal(body.source, db)
    child.kill('SIGINT')
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    assert.equal(code, 0, err)
    assert.match(err, /synthq dashboard: stopped/)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})
