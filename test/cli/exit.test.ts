/**
 * A stopped worker exits: `synthq run --runner kafka` exits after SIGTERM with its exit code even
 * when something left a timer or socket open, and also when the signal comes while it starts; a stop that never finishes ends at the drain
 * deadline plus the grace; one that blocks the event loop (so no timer fires) is killed by the
 * backstop thread; a second signal exits 130 at once. Bounds are generous: these tests
 * prove that the process ends, not how fast.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { testInfra, unique } from '../helpers/env.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const LEAK = join(REPO_ROOT, 'test/cli/fixtures/leak-handles.mjs')
const HANGING = join(REPO_ROOT, 'test/cli/fixtures/hanging-stop.ts')
const BLOCKED = join(REPO_ROOT, 'test/cli/fixtures/blocked-stop.ts')

interface Watched { child: ChildProcess, stderr: () => string, exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }> }

function watch (child: ChildProcess): Watched {
  let err = ''
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  child.stdout?.resume()
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return { child, stderr: () => err, exited }
}

async function waitFor (w: Watched, what: RegExp, ms: number): Promise<void> {
  const until = Date.now() + ms
  let exited = false
  void w.exited.then(() => { exited = true })
  while (!what.test(w.stderr())) {
    assert.ok(!exited, `the process exited before printing ${what}: ${w.stderr()}`)
    assert.ok(Date.now() < until, `no ${what} within ${ms / 1000} s: ${w.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The exit, or a failure (and a kill) when the process is still running after `ms`. */
async function exitWithin (w: Watched, ms: number): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms) })
  const r = await Promise.race([w.exited, late])
  clearTimeout(timer)
  if (r === 'late') {
    w.child.kill('SIGKILL')
    assert.fail(`still running ${ms / 1000} s after the signal: ${w.stderr()}`)
  }
  return r
}

test('synthq run --runner kafka exits after SIGTERM although a timer and a socket are left open', async (t) => {
  const infra = testInfra()
  const dir = mkdtempSync(join(tmpdir(), 'synthq-exit-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const child = spawn(process.execPath, ['--import', LEAK, CLI, 'run', 'demo', '--runner', 'kafka', '--prefix', unique('exit'), '--partitions', '1', '--drain-timeout', '5'], {
    cwd: dir,
    env: { ...process.env, SYNTHQ_KAFKA_BROKERS: infra.bootstrap.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl, SYNTHQ_RUN_DIR: join(dir, 'run'), SYNTHQ_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const w = watch(child)
  await waitFor(w, /synthq: metrics at /, 120_000)
  child.kill('SIGTERM')
  const { code, signal } = await exitWithin(w, 60_000)
  assert.equal(code, 0, `signal ${signal}: ${w.stderr()}`)
  assert.match(w.stderr(), /SIGTERM: finishing records in flight/)
  assert.match(w.stderr(), /stopped cleanly/)
})

test('synthq run --runner kafka told to stop while it starts stops cleanly (exit 0), not killed by the signal', async (t) => {
  // The signal goes as soon as the run names its topology, before it has joined its groups or
  // printed the metrics line; the handler must already be there (exit by signal otherwise).
  const infra = testInfra()
  const dir = mkdtempSync(join(tmpdir(), 'synthq-exit-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const child = spawn(process.execPath, [CLI, 'run', 'demo', '--runner', 'kafka', '--prefix', unique('exit-start'), '--partitions', '1', '--drain-timeout', '5'], {
    cwd: dir,
    env: { ...process.env, SYNTHQ_KAFKA_BROKERS: infra.bootstrap.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl, SYNTHQ_RUN_DIR: join(dir, 'run'), SYNTHQ_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const w = watch(child)
  await waitFor(w, /synthq: running topology "demo"/, 120_000)
  child.kill('SIGTERM')
  const { code, signal } = await exitWithin(w, 60_000)
  assert.equal(code, 0, `signal ${signal}: ${w.stderr()}`)
  assert.match(w.stderr(), /SIGTERM: finishing records in flight/)
  assert.match(w.stderr(), /stopped cleanly/)
})

test('a stop that never finishes ends the process at the drain deadline plus the grace (exit 1)', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', HANGING, '500'], { env: { ...process.env, SYNTHQ_EXIT_GRACE_MS: '500' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const w = watch(child)
  await waitFor(w, /^ready$/m, 60_000)
  child.kill('SIGTERM')
  const { code } = await exitWithin(w, 30_000)
  assert.equal(code, 1, w.stderr())
  assert.match(w.stderr(), /^stopping$/m)
  assert.match(w.stderr(), /the stop did not finish within 1 s \(drain timeout \+ grace\) — exiting/)
})

test('a second signal while stopping exits 130 at once', async () => {
  // A deadline far beyond the test's bound: only the second signal can end the process in time.
  const child = spawn(process.execPath, ['--import', 'tsx', HANGING, '600000'], { env: { ...process.env, SYNTHQ_EXIT_GRACE_MS: '600000' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const w = watch(child)
  await waitFor(w, /^ready$/m, 60_000)
  child.kill('SIGTERM')
  await waitFor(w, /^stopping$/m, 30_000)
  child.kill('SIGTERM')
  const { code } = await exitWithin(w, 30_000)
  assert.equal(code, 130, w.stderr())
  assert.match(w.stderr(), /stopping now; uncommitted records run again on the next start/)
})

test('a stop that blocks the event loop is killed by the backstop thread after the deadline', async () => {
  const w = watch(spawn(process.execPath, ['--import', 'tsx', BLOCKED], { stdio: ['ignore', 'pipe', 'pipe'] }))
  await waitFor(w, /ready/, 60_000)
  w.child.kill('SIGTERM')
  await waitFor(w, /stopping/, 30_000)
  const { signal } = await exitWithin(w, 90_000)
  assert.equal(signal, 'SIGKILL')
  assert.match(w.stderr(), /event loop is blocked — killing it/)
})
