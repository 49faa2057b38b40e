/**
 * `npm test`: starts (or reuses) the local Kafka and schema registry, prepares the Python
 * interop environment, runs every test file with Node's test runner, and stops whatever it
 * started — also on failure, on Ctrl-C and when it is killed.
 *
 * It also installs Debian's Chromium for the dashboard's browser tests when it is missing.
 *
 *   npm test                          all tests
 *   npm test -- test/unit             only files under a folder (or single files)
 *   SYNTHQ_TEST_KEEP_INFRA=1 npm test leave the infrastructure running afterwards
 *   npm run test:unit                 the unit tier (test/tiers.ts): files that need no server,
 *                                     run without starting any (`--unit`; paths narrow it too)
 *   npm run test:coverage             the unit tier under c8, failing below the floor in .c8rc.json
 *
 * In the unit tier (`--unit`) no infrastructure, Python or Chromium is prepared, the shared
 * infrastructure's addresses are not passed on, SYNTHQ_TEST_TIER=unit makes the helpers that
 * reach a server throw, and files run several at a time (they mostly wait on timers and child
 * processes). Before anything runs, each file's imports are checked (tierViolations). The files
 * are compiled once with esbuild and run as plain JavaScript (test/runner/unit-bundle.ts), the
 * slowest first (test/runner/durations.ts).
 *
 * Interrupted (SIGINT, SIGTERM, SIGHUP, or the command that started it gone), it passes the signal on to the
 * tests, kills them if they have not ended 10 s later (at once on a second signal), then stops
 * what it started and exits 128 + the signal's number. Infrastructure it reused is left as it
 * was. A guard process watches the run: should the run die without cleaning up — killed with
 * SIGKILL, or by the `tsx` wrapper that `npm test` goes through, which force-kills a child that
 * is slow to acknowledge a signal — the guard stops the tests, the brokers they started and the
 * infrastructure the run started.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { constants } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { down, readState, up } from '../deploy/local/lib/cluster.ts'
import { REPO_ROOT } from '../deploy/local/lib/paths.ts'
import { stopPidFilesUnder } from '../deploy/local/lib/process.ts'
import { TEST_TMP_ROOT } from './helpers/env.ts'
import { ensureInteropPython } from './helpers/python.ts'
import { DURATIONS_REPORTER, readDurations, recordDurations, slowestFirst } from './runner/durations.ts'
import { bundleUnitTier, type UnitBundle } from './runner/unit-bundle.ts'
import { tierViolations, unitTier } from './tiers.ts'

const log = (m: string): void => { process.stderr.write(`test: ${m}\n`) }

/** Where tests leave files and pid files of brokers they start ($SYNTHQ_TEST_TMP_ROOT for a
 *  run nested in a test, so that it never touches the outer run's files). */
const TMP_ROOT = process.env.SYNTHQ_TEST_TMP_ROOT ? resolve(process.env.SYNTHQ_TEST_TMP_ROOT) : TEST_TMP_ROOT
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
/** How long the tests have to end after the signal is passed on, before they are killed. */
const TESTS_GRACE_MS = Number(process.env.SYNTHQ_TEST_KILL_GRACE_MS ?? 10_000)
const GUARD_FLAG = '--guard'
const UNIT_FLAG = '--unit'
const COVERAGE_FLAG = '--coverage'
/** Unit-tier files run at once (npm test keeps node's default: Kafka tests contend for the broker). */
const UNIT_CONCURRENCY = Number(process.env.SYNTHQ_TEST_CONCURRENCY ?? 4)
const C8 = join(REPO_ROOT, 'node_modules', 'c8', 'bin', 'c8.js')

function testFiles (roots: string[]): string[] {
  const out: string[] = []
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) if (e !== 'node_modules' && e !== 'fixtures') walk(join(p, e))
    } else if (p.endsWith('.test.ts')) out.push(relative(REPO_ROOT, p))
  }
  for (const r of roots) walk(resolve(r))
  return out
}

/** A process, told apart from a later one that reuses its pid by when it started. */
interface Proc { pid: number, started: string }

type ProcessTable = Map<number, { ppid: number, pgid: number, started: string }>

/** A process's command line, shortened (empty when it has gone). */
function commandOf (pid: number): string {
  const ps = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' })
  const args = (ps.stdout ?? '').trim().replaceAll(REPO_ROOT, '.')
  return args.length > 200 ? `${args.slice(0, 200)}…` : args
}

/** Every process: its parent, its process group and when it started (`ps`, on Linux and macOS alike). */
function processTable (): ProcessTable {
  const ps = spawnSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,lstart='], { encoding: 'utf8' })
  const table: ProcessTable = new Map()
  for (const line of (ps.stdout ?? '').split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.+?)\s*$/.exec(line)
    if (m) table.set(Number(m[1]), { ppid: Number(m[2]), pgid: Number(m[3]), started: m[4]!.replace(/\s+/g, '_') })
  }
  return table
}

/**
 * The processes of the test runner's process group. The runner is started as a group of its
 * own, so a test that outlives it — orphaned, no longer below it in the process tree — is
 * still found here. Only processes started no earlier than the runner (a group id is a pid).
 */
function groupMembers (runner: Proc, table: ProcessTable): Proc[] {
  const since = Date.parse(runner.started.replace(/_/g, ' '))
  return [...table].filter(([, p]) => p.pgid === runner.pid && !(Date.parse(p.started.replace(/_/g, ' ')) < since))
    .map(([pid, p]) => ({ pid, started: p.started }))
}

/** `pid` and every process below it (children first); none when `pid` is not running. */
function processTree (pid: number, table: ProcessTable = processTable()): Proc[] {
  const children = new Map<number, number[]>()
  for (const [p, { ppid }] of table) children.set(ppid, [...(children.get(ppid) ?? []), p])
  const out: Proc[] = []
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) walk(c)
    out.push({ pid: p, started: table.get(p)!.started })
  }
  if (table.has(pid)) walk(pid)
  return out
}

/** Kills those of `procs` that still run — the same processes, not others that took their pids. */
function killAll (procs: readonly Proc[]): void {
  const table = processTable()
  for (const p of procs) {
    if (table.get(p.pid)?.started !== p.started) continue
    try { process.kill(p.pid, 'SIGKILL') } catch { /* already gone */ }
  }
}

const encodeProcs = (procs: readonly Proc[]): string => procs.map((p) => `${p.pid}/${p.started}`).join(' ')
const decodeProcs = (words: readonly string[]): Proc[] => words.flatMap((w) => {
  const [pid, started] = w.split('/')
  return Number(pid) > 0 && started ? [{ pid: Number(pid), started }] : []
})

/** Stops what the tests themselves left running and removes their files. */
async function cleanTestLeftovers (): Promise<void> {
  // Brokers that tests start themselves (security, 3-node) are stopped by the tests; a run
  // interrupted mid-test leaves their pid files, and this stops those processes too.
  const leftovers = await stopPidFilesUnder(TMP_ROOT)
  if (leftovers) log(`stopped ${leftovers} process(es) that interrupted tests left running`)
  rmSync(TMP_ROOT, { recursive: true, force: true })
}

/**
 * The guard: a detached process that reads the run's progress on its stdin, one line at a
 * time — `up <ms>` (starting or reusing the infrastructure since), `ours <startedAt>` (this run
 * started it), `reused`, `runner <pid>/<started>` (the test runner), `procs <pid>/<started>…`
 * (the processes under it, as last seen), `clean` (everything stopped) — and, when its stdin ends
 * before `clean`, the run died: it cleans up in the run's place.
 */
function startGuard (): { tell (line: string): void, close (): void } {
  const guard = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), GUARD_FLAG], {
    cwd: REPO_ROOT, detached: true, stdio: ['pipe', 'ignore', 'inherit'], env: { ...process.env, SYNTHQ_TEST_TMP_ROOT: TMP_ROOT },
  })
  guard.on('error', (err) => { log(`the guard could not start (${err.message}): a killed run may leave processes behind`) })
  guard.stdin!.on('error', () => {})
  guard.unref()
  ;(guard.stdin as unknown as { unref?: () => void }).unref?.()
  return {
    tell: (line) => { if (guard.stdin!.writable) guard.stdin!.write(`${line}\n`) },
    close: () => { guard.stdin!.end() },
  }
}

async function guardMain (): Promise<void> {
  process.stderr.on('error', () => {}) // the terminal may be gone
  let phase: 'idle' | 'up' | 'ours' | 'reused' | 'clean' = 'idle'
  let upSince = 0
  let startedAt: string | undefined
  let procs: Proc[] = []
  let runner: Proc | undefined
  let buf = ''
  process.stdin.setEncoding('utf8')
  for await (const chunk of process.stdin) {
    buf += chunk as string
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      const [word, arg] = line.split(' ')
      buf = buf.slice(nl + 1)
      if (word === 'up') { phase = 'up'; upSince = Number(arg) } else if (word === 'ours') { phase = 'ours'; startedAt = arg } else if (word === 'reused') phase = 'reused'
      else if (word === 'procs') procs = decodeProcs(line.split(' ').slice(1))
      else if (word === 'runner') runner = decodeProcs([arg ?? ''])[0]
      else if (word === 'clean') phase = 'clean'
    }
  }
  if (phase === 'clean' || phase === 'idle') return
  log('the test run ended without cleaning up (killed?): stopping what it left running')
  // The runner with what runs under it now, then what was seen under it before.
  const table = processTable()
  if (runner && table.get(runner.pid)?.started === runner.started) killAll(processTree(runner.pid, table))
  killAll(procs)
  if (runner) killAll(groupMembers(runner, processTable()))
  await cleanTestLeftovers()
  const state = readState()
  // Only infrastructure this run started: what it reused belongs to whoever started it.
  const mine = state !== undefined && (phase === 'ours' ? state.startedAt === startedAt : phase === 'up' && Date.parse(state.startedAt) >= upSince)
  if (mine) await down({ log })
}

/** Exit code of a run ended by `sig`, as a shell reports it. */
const signalled = (sig: NodeJS.Signals): number => 128 + (constants.signals[sig] ?? 15)

async function main (): Promise<number> {
  const argv = process.argv.slice(2)
  const unit = argv.includes(UNIT_FLAG)
  const coverage = argv.includes(COVERAGE_FLAG)
  const args = argv.filter((a) => a !== UNIT_FLAG && a !== COVERAGE_FLAG)
  const found = testFiles(args.length ? args : [join(REPO_ROOT, 'test')])
  // The unit tier starts its slowest files first (test/runner/durations.ts).
  const files = unit ? slowestFirst(unitTier(found), readDurations(REPO_ROOT)) : found
  if (files.length === 0) {
    log(`no ${unit ? 'unit-tier ' : ''}test files under ${args.join(' ') || 'test/'}`)
    return 1
  }
  if (unit) {
    // Checked before anything runs: a file that would reach a server is named with the reason.
    const problems = files.flatMap((f) => tierViolations(f, REPO_ROOT))
    if (problems.length) {
      log('these files cannot run in the unit tier (list them in FULL_ONLY in test/tiers.ts, or use the pure helpers):')
      for (const p of problems) log(`  ${p}`)
      return 1
    }
    log(`unit tier: ${files.length} test file(s), no infrastructure${coverage ? ', coverage by c8 (.c8rc.json)' : ''}`)
  }

  process.stderr.on('error', () => {}) // a terminal that hung up does not stop the clean-up
  // Also when the infrastructure is kept: the guard then only stops the tests of a killed run
  // (it is told the infrastructure is not this run's to stop).
  const guard = startGuard()
  // Signals are handled from the start: one that arrives while the infrastructure starts lets
  // it finish starting, runs no tests, and stops it.
  let interrupted: NodeJS.Signals | undefined
  let child: ChildProcess | undefined
  let killTimer: NodeJS.Timeout | undefined
  /** The test runner and every process under it, as last seen: none may outlive the run. A
   *  test that ignores a signal outlives a runner that obeyed it, orphaned — and then no longer
   *  under it — so they are looked up every second while the tests run. */
  let testProcesses: Proc[] = []
  let runnerProc: Proc | undefined
  const seeTests = (table = processTable()): void => {
    const same = (p: Proc): boolean => table.get(p.pid)?.started === p.started
    const seen = [...(running() ? processTree(child!.pid!, table) : []), ...(runnerProc ? groupMembers(runnerProc, table) : [])]
    const next = [...new Map([...testProcesses.filter(same), ...seen].map((p) => [p.pid, p])).values()]
    const changed = next.length !== testProcesses.length || next.some((p, i) => p.pid !== testProcesses[i]?.pid)
    testProcesses = next
    if (changed) guard.tell(`procs ${encodeProcs(testProcesses)}`)
  }
  const killTests = (): void => {
    seeTests()
    killAll(testProcesses)
  }
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null
  /** The signal to every test process: the runner's whole group (it is a group of its own). */
  const signalTests = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child!.pid!, sig)
    } catch {
      child!.kill(sig)
    }
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!interrupted) {
      interrupted = sig
      log(`${sig}: stopping the tests, then what this run started…`)
      if (running()) {
        seeTests()
        signalTests(sig)
        killTimer = setTimeout(() => {
          if (running()) { log(`the tests did not end ${TESTS_GRACE_MS / 1000} s after ${sig}: killing them`); killTests() }
        }, TESTS_GRACE_MS)
      }
    } else if (running()) {
      log(`${sig} again: killing the tests now`)
      killTests()
    }
  }
  for (const sig of SIGNALS) process.on(sig, onSignal)
  // `npm test` runs this file through sh and tsx, which pass no signal on when npm itself is
  // killed: the run is orphaned instead. When its parent or grandparent goes, it stops as on SIGHUP.
  const parent = process.ppid
  const grandparent = processTable().get(parent)?.ppid
  const watchParent = setInterval(() => {
    const table = processTable()
    seeTests(table)
    if (interrupted) return
    if (process.ppid !== parent || (grandparent !== undefined && grandparent > 1 && table.get(parent)?.ppid !== grandparent)) {
      log('the command that started this run is gone')
      onSignal('SIGHUP')
    }
  }, 1_000)
  watchParent.unref()

  const t0 = Date.now()
  let startedHere = false
  let bundle: UnitBundle | undefined
  try {
    /** What the tests are told of the infrastructure (nothing in the unit tier). */
    let infraEnv: Record<string, string> = {}
    if (unit) {
      // Nothing of this run's may be stopped by the guard but the tests: it starts no infrastructure.
      guard.tell('reused')
    } else {
      guard.tell(`up ${t0}`)
      const { state, reused } = await up({ log })
      log(reused
        ? `reusing the running infrastructure (kafka ${state.kafka.bootstrap.join(',')}, registry ${state.registry.url})`
        : `started kafka ${state.kafka.bootstrap.join(',')} and registry ${state.registry.url} in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      startedHere = !reused && !process.env.SYNTHQ_TEST_KEEP_INFRA
      guard.tell(startedHere ? `ours ${state.startedAt}` : 'reused')
      if (interrupted) return signalled(interrupted)
      infraEnv = { SYNTHQ_TEST_BOOTSTRAP: state.kafka.bootstrap.join(','), SYNTHQ_TEST_REGISTRY_URL: state.registry.url, SYNTHQ_TEST_PYTHON: ensureInteropPython(log) }
    }

    if (interrupted) return signalled(interrupted)
    // The dashboard's browser tests drive Debian's Chromium: install it when missing (idempotent).
    if (!unit && !interrupted && files.some((f) => f.startsWith('test/dashboard/')) && !process.env.SYNTHQ_SKIP_BROWSER && !process.env.SYNTHQ_CHROMIUM && !existsSync('/usr/bin/chromium')) {
      log('installing Chromium for the dashboard browser tests (scripts/ensure-chromium.ts)…')
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'ensure-chromium.ts')], { stdio: 'inherit', cwd: REPO_ROOT })
      if (r.status !== 0) log('Chromium could not be installed: the browser tests will fail and say how to install it')
    }
    if (interrupted) return signalled(interrupted)
    // The tests that spawn bin/synthq.js get the bundle only while it matches src/ (else the
    // sources): rebuilt here if src/ changed, so that they test what users run, ~0.7 s faster a start.
    if (spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.js'), '--if-stale'], { stdio: 'inherit', cwd: REPO_ROOT }).status !== 0) {
      log('the CLI bundle could not be built (npm run build): bin/synthq.js runs the sources')
    }
    const { SYNTHQ_TEST_BOOTSTRAP: _b, SYNTHQ_TEST_REGISTRY_URL: _r, SYNTHQ_TEST_PYTHON: _p, ...inherited } = process.env
    const env = {
      ...inherited,
      ...infraEnv,
      ...(unit ? { SYNTHQ_TEST_TIER: 'unit' } : {}),
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      NODE_ENV: 'test',
    }
    // The unit tier runs compiled bundles of its files (test/runner/unit-bundle.ts), except under
    // coverage, which measures the sources through tsx.
    if (unit && !coverage && process.env.SYNTHQ_TEST_BUNDLE !== '0') {
      const tb = Date.now()
      bundle = await bundleUnitTier(files, REPO_ROOT, join(REPO_ROOT, '.synthq', 'test-build'))
      log(`compiled ${files.length} file(s) with esbuild in ${Date.now() - tb} ms (SYNTHQ_TEST_BUNDLE=0 runs them through tsx)`)
    }
    mkdirSync(join(REPO_ROOT, '.synthq'), { recursive: true })
    const durationsOut = join(REPO_ROOT, '.synthq', `test-durations.${process.pid}.json`)
    const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', ...(unit ? [`--test-reporter=${DURATIONS_REPORTER}`, `--test-reporter-destination=${durationsOut}`] : [])]
    const loader = bundle ? ['--enable-source-maps'] : ['--import', 'tsx']
    // A file is called hung after 10 min (15 in the full tier: the real-model files take 5–6 min each on a quiet 2-core machine).
    const nodeTest = [process.execPath, ...loader, '--test', ...reporters, `--test-timeout=${unit ? 600_000 : 900_000}`, ...(unit ? [`--test-concurrency=${UNIT_CONCURRENCY}`] : []), ...(bundle?.files ?? files)]
    // c8 runs the tests as its child and reports (and enforces the floor) when they end.
    const command = coverage ? [process.execPath, C8, '--config', join(REPO_ROOT, '.c8rc.json'), ...nodeTest] : nodeTest
    // A process group of its own: a test that ignores a signal and outlives the runner
    // (orphaned, so no longer below it) stays in the group, where it is found and ended. Signals
    // reach the tests through this run (it forwards them), not from the terminal directly; stdin
    // is not theirs (a background group reading the terminal would be stopped).
    child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env, cwd: REPO_ROOT, detached: true })
    if (child.pid) {
      const table = processTable()
      const started = table.get(child.pid)?.started
      if (started) {
        runnerProc = { pid: child.pid, started }
        guard.tell(`runner ${encodeProcs([runnerProc])}`)
      }
      seeTests(table)
    }
    const code = await new Promise<number>((resolve) => {
      child!.on('error', (err) => { log(`could not start the test runner: ${err.message}`); resolve(1) })
      child!.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0)))
    })
    if (unit && !interrupted) {
      // Files are reported by their source path (the bundles' source maps lead there), or else
      // by the bundle's.
      const sourceOf = new Map(files.flatMap((f, i) => [[join(REPO_ROOT, f), f], ...(bundle ? [[bundle.files[i]!, f] as const] : [])]))
      recordDurations(REPO_ROOT, durationsOut, (ran) => sourceOf.get(ran))
    }
    rmSync(durationsOut, { force: true })
    return interrupted ? signalled(interrupted) : code
  } finally {
    clearTimeout(killTimer)
    bundle?.remove()
    await cleanTestLeftovers()
    // A test that ignored the signal, or a process a test left behind, outlives the runner
    // that ended: kill it.
    seeTests()
    const left = testProcesses.filter((p) => p.pid !== child?.pid)
    if (left.length && !interrupted) {
      // Named, so that the test that leaves them can be found.
      log(`${left.length} process(es) the tests left running: killing them`)
      for (const p of left) log(`  left running: pid ${p.pid} ${commandOf(p.pid)}`)
    }
    killAll(testProcesses)
    if (startedHere) await down({ log })
    guard.tell('clean')
    guard.close()
  }
}

if (process.argv[2] === GUARD_FLAG) {
  await guardMain().catch((err: unknown) => { log(`guard: ${(err as Error).stack ?? String(err)}`) })
} else {
  main().then((code) => { process.exitCode = code }, (err: unknown) => {
    log((err as Error).stack ?? String(err))
    process.exitCode = 1
  })
}
