/**
 * `npm test` (test/run.ts) interrupted: whether the signal reaches it, its tsx wrapper, or only
 * the command above them, or it is killed outright, the tests it ran end — even one that
 * ignores signals — and the infrastructure it reused keeps running. (Infrastructure it started
 * is stopped on the same path, by `down`; starting a second Kafka and registry here would cost
 * more than this test is worth.)
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { health } from '../../deploy/local/lib/cluster.ts'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'

const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx')
const STUBBORN = join(REPO_ROOT, 'test', 'fixtures', 'interrupted-run')
const linux = existsSync('/proc/self/stat')

function parentOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/** Alive and not a zombie. */
function running (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

async function until (what: string, f: () => boolean, ms: number, output: () => string): Promise<void> {
  const deadline = Date.now() + ms
  while (!f()) {
    assert.ok(Date.now() < deadline, `${what} within ${ms / 1000} s; the run printed:\n${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

interface Run { top: ChildProcess, output: () => string, exited: Promise<void>, stubborn: number, runTs: number, dir: string }

/** Starts `npm test`'s runner on the stubborn test, as `command` (argv) runs it; resolves once the test runs. */
function readPid (file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8')) || undefined
  } catch {
    return undefined
  }
}

async function startRun (t: TestContext, command: (runArgs: string[]) => string[], o: { group?: boolean } = {}): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'synthq-run-signals-'))
  const pidFile = join(dir, 'stubborn.pid')
  const [bin, ...args] = command(['test/run.ts', STUBBORN])
  // NODE_TEST_CONTEXT would make the inner test runner report to this one instead of running.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env
  const top = spawn(bin!, args, {
    cwd: REPO_ROOT,
    env: { ...env, SYNTHQ_STUBBORN_PID_FILE: pidFile, SYNTHQ_TEST_TMP_ROOT: join(dir, 'tmp'), SYNTHQ_TEST_KILL_GRACE_MS: '3000' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as a terminal's foreground job is: Ctrl-C signals all of it.
    detached: o.group === true,
  })
  // Whatever happens to the test, nothing it started may outlive it.
  t.after(() => {
    for (const pid of [readPid(pidFile), top.pid]) if (pid && running(pid)) process.kill(pid, 'SIGKILL')
  })
  let out = ''
  top.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  top.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<void>((resolve) => top.on('exit', () => resolve()))
  await until('the stubborn test runs', () => readPid(pidFile) !== undefined, 120_000, () => out)
  const stubborn = readPid(pidFile)!
  const runTs = parentOf(parentOf(stubborn)!)! // stubborn test ← node --test ← test/run.ts
  return { top, output: () => out, exited, stubborn, runTs, dir }
}

async function assertCleanedUp (run: Run): Promise<void> {
  await until('the stubborn test ended', () => !running(run.stubborn), 60_000, run.output)
  await until('test/run.ts ended', () => !running(run.runTs), 60_000, run.output)
  await until('its guard ended', () => !guardRuns(run.dir), 60_000, run.output)
  const h = await health()
  assert.ok(h?.kafka.up && h.registry.up, 'the reused infrastructure still runs')
  rmSync(run.dir, { recursive: true, force: true })
}

/** Whether the guard of the run whose files are in `dir` still runs (found by its environment). */
function guardRuns (dir: string): boolean {
  const marker = `SYNTHQ_TEST_TMP_ROOT=${join(dir, 'tmp')}\0`
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      if (!readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('--guard')) continue
      if (`${readFileSync(`/proc/${e}/environ`, 'utf8')}\0`.includes(marker) && running(Number(e))) return true
    } catch {
      // gone meanwhile
    }
  }
  return false
}

test('SIGTERM to the tsx wrapper ends a test that ignores it and leaves the reused infrastructure running', { skip: !linux && 'needs /proc' }, async (t) => {
  const run = await startRun(t, (a) => [TSX, ...a])
  run.top.kill('SIGTERM')
  await run.exited
  await assertCleanedUp(run)
  // tsx force-kills a child that does not acknowledge a signal within 30 ms: then the guard cleans up.
  assert.match(run.output(), /SIGTERM: stopping the tests|the test run ended without cleaning up/)
  assert.doesNotMatch(run.output(), /registry \(pid \d+\): stopped/, 'infrastructure it reused is not stopped')
})

test('killed with SIGKILL, the run leaves its guard to end the tests', { skip: !linux && 'needs /proc' }, async (t) => {
  const run = await startRun(t, (a) => [TSX, ...a])
  process.kill(run.runTs, 'SIGKILL')
  await run.exited
  await assertCleanedUp(run)
  assert.match(run.output(), /the test run ended without cleaning up/)
})

test('when the command above the tsx wrapper is killed (npm), the orphaned run stops', { skip: !linux && 'needs /proc' }, async (t) => {
  // sh stands for npm: "; exit" keeps sh from exec-ing tsx, so tsx is orphaned when sh dies.
  const run = await startRun(t, (a) => ['sh', '-c', `"${TSX}" ${a.map((x) => `"${x}"`).join(' ')}; exit $?`])
  run.top.kill('SIGKILL')
  await run.exited
  await assertCleanedUp(run)
  assert.match(run.output(), /the command that started this run is gone/)
})

test('killed while it stops the tests, the run still leaves none of them running', { skip: !linux && 'needs /proc' }, async (t) => {
  // SIGTERM then SIGKILL at once, as the tsx wrapper does to a child slow to acknowledge a
  // signal: whether the run passed the signal on before it died or not, the guard finishes.
  const run = await startRun(t, (a) => [TSX, ...a])
  process.kill(run.runTs, 'SIGTERM')
  await new Promise((resolve) => setImmediate(resolve))
  process.kill(run.runTs, 'SIGKILL')
  await run.exited
  await assertCleanedUp(run)
})

test('Ctrl-C (SIGINT to the whole process group) ends a test that ignores it', { skip: !linux && 'needs /proc' }, async (t) => {
  // The test runner obeys at once and exits: the stubborn test is orphaned, no longer under it
  // in the process tree, but still in the runner's process group. The signal comes at once,
  // before the run's once-a-second look at its tests could have seen the stubborn one (that
  // race let it outlive the run once, when only the tree was looked at).
  const run = await startRun(t, (a) => [TSX, ...a], { group: true })
  process.kill(-run.top.pid!, 'SIGINT')
  await run.exited
  await assertCleanedUp(run)
  assert.match(run.output(), /SIGINT: stopping the tests|the test run ended without cleaning up/)
})
