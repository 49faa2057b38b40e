/**
 * `npm run chaos` — the exactly-once system test of synthq on Kafka, after Apache Kafka's own
 * transactions_test.py: the whole method (attribution and synthesis) runs as `synthq run …
 * --runner kafka` worker processes on a 3-broker cluster of its own (replication 3, min ISR 2)
 * with its own schema registry, fed with real documents and prompts, while
 *
 *   - the LLM simulator fails 10 % of calls with 5xx, 5 % with 429, 5 % with malformed JSON and
 *     2 % with timeouts,
 *   - about a third of the stages' transactions are aborted at random,
 *   - every worker group is SIGKILLed at least 3 times and SIGTERMed at least once after 20 %
 *     progress, and restarted each time,
 *   - each broker is bounced once (SIGKILL, the same node restarted on its data) and the
 *     registry restarted once.
 *
 * An independent verifier (scripts/chaos/verify.py: Confluent's Python client, read_committed)
 * checks every output and dead-letter topic against every input while the run goes on and at
 * the end. The last line printed is
 *
 *   chaos lost=<n> dup=<n> stalled=<n> records=<N>
 *
 * and the exit code is 0 only when the three counts are 0. Details: docs/reliability.md.
 *
 *   npm run chaos -- --records 500
 *   npm run chaos -- --records 400 --faults none        # the baseline, to measure what faults cost
 */
import { mulberry32 } from '../../src/util/hash.ts'
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync, fstatSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { availableParallelism, loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureInteropPython } from '../../test/helpers/python.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import type { FaultKind } from '../../src/llm/sim/faults.ts'
import { isProfileName } from '../../src/llm/sim/profiles.ts'
import { writeInputs, type InputPlan } from './data.ts'
import { plantDuplicateAndLoss } from './self-check.ts'
import { bounceBroker, createTopics, restartRegistry, startInfra, stopInfra, type BounceResult, type ChaosInfra, type RegistryRestartResult } from './infra.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
/** How long a SIGTERMed worker may take: its drain (10 s) and its final commits, each bounded by 60 s. */
const TERM_GRACE_MS = 90_000
const REPO = resolve(HERE, '..', '..')
const PREFIX = 'chaos'

// ---- options ------------------------------------------------------------------------------

const FAULT_CLASSES = ['llm', 'aborts', 'workers', 'brokers', 'registry'] as const
type FaultClass = typeof FAULT_CLASSES[number]

export const CHAOS_HELP = `npm run chaos -- [options]   exactly-once system test of synthq on Kafka (docs/reliability.md)

  --records N          input records, prompts and documents together (default 100000)
  --seed-share X       share of them that are seed prompts for attribution (default 0.2)
  --partitions N       partitions per topic (default 6)
  --concurrency N      records in flight per stage and worker (default 16)
  --faults LIST        fault classes, comma-separated: ${FAULT_CLASSES.join(', ')}; all (default) or none
  --replicas N         worker processes of the attribution and synthesis groups (default 2; the sink has 1)
  --broker-down S      seconds a bounced broker stays down, plus 0–4 s (default 10: past the
                       controller's 9 s session timeout, so its leaderships move)
  --kills N            SIGKILLs per worker group (default 3)
  --terms N            SIGTERMs per worker group (default 1)
  --abort-rate X       share of transactions aborted at random (default 0.33)
  --profile P          LLM simulator latency profile (default instant)
  --time-scale X       LLM simulator time scale (default 1)
  --seed N             seed of the fault schedule and the simulator's fault draws (default 1)
  --start-at X         progress at which faults begin (default 0.2)
  --end-at X           progress at which the last fault slot may fire (default 0.7)
  --min-gap S          seconds between fault slots at least (default 5)
  --stall-timeout S    after the faults: no progress for S seconds means stalled (default 120)
  --drain-deadline S   after the faults: not drained after S seconds means stalled (default 0: none)
  --verify-interval S  seconds between the verifier's checks (default 3)
  --final-timeout S    how long the final read waits for every partition's end (default 90)
  --dir DIR            working folder (default .synthq/chaos/run-<time>); logs stay there
  --at-least-once     run the stages at-least-once (no transactions): the verifier must then find
                       duplicates — a check of the verifier itself
  --self-check         after the run, plant one duplicate and one loss: the verifier must find
                       exactly those (lost=1 dup=1 stalled=0 then exits 0) — a check of the verifier
  --keep               keep the brokers' data after a successful run
  --json FILE          also write the report as JSON to FILE
  -h, --help           this help
`

interface ChaosOptions {
  records: number
  seedShare: number
  partitions: number
  concurrency: number
  faults: Set<FaultClass>
  replicas: number
  brokerDownS: number
  kills: number
  terms: number
  abortRate: number
  profile: string
  timeScale: number
  seed: number
  startAt: number
  endAt: number
  minGapS: number
  stallTimeoutS: number
  drainDeadlineS: number
  verifyIntervalS: number
  finalTimeoutS: number
  dir: string
  keep: boolean
  atLeastOnce: boolean
  selfCheck: boolean
  json?: string
}

function parseOptions (argv: string[]): ChaosOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string' }, 'seed-share': { type: 'string' }, partitions: { type: 'string' }, concurrency: { type: 'string' },
      faults: { type: 'string' }, replicas: { type: 'string' }, 'broker-down': { type: 'string' }, kills: { type: 'string' }, terms: { type: 'string' }, 'abort-rate': { type: 'string' },
      profile: { type: 'string' }, 'time-scale': { type: 'string' }, seed: { type: 'string' }, 'start-at': { type: 'string' }, 'end-at': { type: 'string' },
      'min-gap': { type: 'string' }, 'stall-timeout': { type: 'string' }, 'drain-deadline': { type: 'string' }, 'verify-interval': { type: 'string' },
      'final-timeout': { type: 'string' }, dir: { type: 'string' }, keep: { type: 'boolean' }, 'at-least-once': { type: 'boolean' }, 'self-check': { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) { process.stdout.write(CHAOS_HELP); return undefined }
  const num = (name: string, v: string | undefined, fallback: number, ok: (n: number) => boolean): number => {
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isFinite(n) || !ok(n)) throw new Error(`--${name}: bad value "${v}"`)
    return n
  }
  const int = (n: number): boolean => Number.isInteger(n) && n >= 0
  const share = (n: number): boolean => n >= 0 && n <= 1
  const f = values.faults ?? 'all'
  const faults = new Set<FaultClass>(f === 'all' ? FAULT_CLASSES : f === 'none' ? [] : f.split(',').map((x) => x.trim()) as FaultClass[])
  for (const x of faults) if (!(FAULT_CLASSES as readonly string[]).includes(x)) throw new Error(`--faults: unknown class "${x}" (known: ${FAULT_CLASSES.join(', ')}, all, none)`)
  const profile = values.profile ?? 'instant'
  if (!isProfileName(profile)) throw new Error(`--profile: unknown profile "${profile}"`)
  return {
    records: num('records', values.records, 100_000, (n) => int(n) && n >= 2),
    seedShare: num('seed-share', values['seed-share'], 0.2, (n) => n > 0 && n < 1),
    partitions: num('partitions', values.partitions, 6, (n) => int(n) && n >= 1),
    concurrency: num('concurrency', values.concurrency, 16, (n) => int(n) && n >= 1),
    faults,
    replicas: num('replicas', values.replicas, 2, (n) => int(n) && n >= 1),
    brokerDownS: num('broker-down', values['broker-down'], 10, (n) => n >= 0),
    kills: num('kills', values.kills, 3, int),
    terms: num('terms', values.terms, 1, int),
    abortRate: num('abort-rate', values['abort-rate'], 0.33, share),
    profile,
    timeScale: num('time-scale', values['time-scale'], 1, (n) => n >= 0),
    seed: num('seed', values.seed, 1, Number.isInteger),
    startAt: num('start-at', values['start-at'], 0.2, share),
    endAt: num('end-at', values['end-at'], 0.7, share),
    minGapS: num('min-gap', values['min-gap'], 5, (n) => n >= 0),
    stallTimeoutS: num('stall-timeout', values['stall-timeout'], 120, (n) => n > 0),
    drainDeadlineS: num('drain-deadline', values['drain-deadline'], 0, (n) => n >= 0),
    verifyIntervalS: num('verify-interval', values['verify-interval'], 3, (n) => n > 0),
    finalTimeoutS: num('final-timeout', values['final-timeout'], 90, (n) => n > 0),
    dir: resolve(values.dir ?? join(REPO, '.synthq', 'chaos', `run-${new Date().toISOString().replace(/[:.]/g, '-')}`)),
    keep: Boolean(values.keep),
    atLeastOnce: Boolean(values['at-least-once']),
    selfCheck: Boolean(values['self-check']),
    ...(values.json ? { json: resolve(values.json) } : {}),
  }
}

// ---- small helpers ------------------------------------------------------------------------

/** Deterministic pseudo-random numbers for the fault schedule. */
const rng = mulberry32

function shuffle<T> (xs: T[], r: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

const T0 = Date.now()
let chaosLog: string | undefined
function say (msg: string): void {
  const line = `[chaos +${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s] ${msg}`
  process.stderr.write(`${line}\n`)
  try {
    if (chaosLog) appendFileSync(chaosLog, `${line}\n`)
  } catch { /* the folder went away: the terminal still has it */ }
}

function tailOf (file: string, lines = 8): string {
  if (!existsSync(file)) return '(no log)'
  const size = statSync(file).size
  const fd = openSync(file, 'r')
  try {
    const len = Math.min(size, 16_384)
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, size - len)
    return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } finally {
    closeSync(fd)
  }
}

// ---- workers ------------------------------------------------------------------------------

interface GroupSpec { name: string, topology: 'attribution' | 'synthesis', stages?: string[], replicas: number }

function groups (replicas: number): GroupSpec[] {
  return [
    { name: 'attribution', topology: 'attribution', replicas },
    { name: 'synthesis', topology: 'synthesis', stages: ['document-hygiene', 'situation-envisioning', 'instruction-generation', 'scoring'], replicas },
    // The sink is a stateful stage: one instance per pipeline (a second one fences the first).
    { name: 'sink', topology: 'synthesis', stages: ['sink'], replicas: 1 },
  ]
}

interface ExitRecord {
  worker: string
  pid: number
  code: number | null
  signal: string | null
  at: number
  expected: boolean
  /** Whether this start had got as far as running its topology. */
  wasRunning?: boolean
  /** The error it ended with, as its log says. */
  cause?: string
  tail?: string
}

/** What a worker's log since its last start says: did it run, and what error ended it. */
function exitCause (segment: string): { wasRunning: boolean, cause: string } {
  const lines = segment.split('\n')
  const error = lines.find((l) => /^[A-Za-z]*(Error|Exception)\b.*:/.test(l))
  const said = lines.filter((l) => /^synthq: /.test(l) && !/ done, \d+ dead-lettered/.test(l) && !/^synthq: (stage|running|LLM)/.test(l)).at(-1)
  return { wasRunning: segment.includes('topology running on Kafka'), cause: (error ?? said ?? '(no error in the log)').slice(0, 300) }
}

class Worker {
  child: ChildProcess | undefined
  starts = 0
  /** Set while the orchestrator itself stops the process (a fault or the end of the run). */
  expectingExit = false
  stopped = false
  readonly logFile: string
  #exit: Promise<void> = Promise.resolve()
  #logOffset = 0

  constructor (readonly name: string, readonly group: string, private readonly args: string[], private readonly env: NodeJS.ProcessEnv, dir: string, private readonly onExit: (r: ExitRecord) => void) {
    this.logFile = join(dir, `${name}.log`)
  }

  get pid (): number | undefined { return this.child?.pid }

  start (): void {
    this.starts++
    appendFileSync(this.logFile, `\n=== chaos: start #${this.starts} of ${this.name} at ${new Date().toISOString()} ===\n`)
    this.#logOffset = statSync(this.logFile).size
    const fd = openSync(this.logFile, 'a')
    const child = spawn(process.execPath, ['--max-old-space-size=384', join(HERE, '..', '..', 'bin', 'synthq.js'), ...this.args], { cwd: join(dirname(this.logFile), 'cwd', this.name), env: this.env, stdio: ['ignore', fd, fd] })
    closeSync(fd)
    this.child = child
    this.expectingExit = false
    const pid = child.pid ?? -1
    writeFileSync(join(dirname(this.logFile), `${this.name}.pid`), String(pid))
    this.#exit = new Promise((res) => {
      child.once('exit', (code, signal) => {
        const expected = this.expectingExit || this.stopped
        this.onExit({ worker: this.name, pid, code, signal, at: Date.now(), expected, ...(expected ? {} : { ...exitCause(this.#segment()), tail: tailOf(this.logFile) }) })
        if (this.child === child) this.child = undefined
        res()
      })
    })
  }

  /** Sends `signal`; resolves when the process has exited (SIGKILL after `graceMs`). */
  async stop (signal: 'SIGKILL' | 'SIGTERM', graceMs = 30_000): Promise<{ exitMs: number, forced: boolean }> {
    const child = this.child
    if (!child || child.exitCode !== null) return { exitMs: 0, forced: false }
    this.expectingExit = true
    const t0 = Date.now()
    child.kill(signal)
    const done = await Promise.race([this.#exit.then(() => true), sleep(graceMs).then(() => false)])
    if (!done) {
      child.kill('SIGKILL')
      await this.#exit
      return { exitMs: Date.now() - t0, forced: true }
    }
    return { exitMs: Date.now() - t0, forced: false }
  }

  /** The log written since this start (at most its last 1 MiB). */
  #segment (): string {
    try {
      const fd = openSync(this.logFile, 'r')
      try {
        const size = fstatSync(fd).size
        const from = Math.max(this.#logOffset, size - 1024 * 1024)
        const buf = Buffer.alloc(Math.max(0, size - from))
        readSync(fd, buf, 0, buf.length, from)
        return buf.toString('utf8')
      } finally {
        closeSync(fd)
      }
    } catch {
      return ''
    }
  }

  /** Milliseconds until this start logged that its topology runs (or -1 after the timeout). */
  async ready (timeoutMs: number): Promise<number> {
    const t0 = Date.now()
    while (Date.now() - t0 < timeoutMs) {
      if (existsSync(this.logFile)) {
        const fd = openSync(this.logFile, 'r')
        try {
          const size = fstatSync(fd).size
          if (size > this.#logOffset) {
            const buf = Buffer.alloc(size - this.#logOffset)
            readSync(fd, buf, 0, buf.length, this.#logOffset)
            if (buf.includes('topology running on Kafka')) return Date.now() - t0
          }
        } finally {
          closeSync(fd)
        }
      }
      await sleep(200)
    }
    return -1
  }
}

// ---- the verifier -------------------------------------------------------------------------

interface StageFigures { inputs: number, consumed: number, outputs?: number, dead_letters?: number, lag: number, lost?: number, dup?: number, pending?: number, [k: string]: unknown }
interface VerifierReport {
  type: 'check' | 'final'
  lost: number
  dup: number
  pending: number
  units: number
  lag: Record<string, number>
  drained: boolean
  caught_up?: boolean
  ingest: Record<string, { expected: number, present: number, missing: number, duplicated: number, unexpected: number }>
  stages: Record<string, StageFigures>
  lost_details: unknown[]
  dup_details: unknown[]
  decode_errors: number
  decode_error_details: unknown[]
  hanging_partitions?: string[]
  reached_high_watermarks?: boolean
  committed?: Record<string, Record<string, number>>
  aborted_records?: Record<string, number>
  elapsed_s: number
}

class VerifierProcess {
  readonly child: ChildProcess
  latest: VerifierReport | undefined
  /** When each check report arrived. */
  readonly history: Array<{ at: number, units: number }> = []
  #final: Promise<VerifierReport>
  #exited = false

  constructor (python: string, args: string[], logFile: string) {
    const fd = openSync(logFile, 'a')
    this.child = spawn(python, [join(HERE, 'verify.py'), 'watch', ...args], { stdio: ['pipe', 'pipe', fd] })
    closeSync(fd)
    writeFileSync(join(dirname(logFile), 'verifier.pid'), String(this.child.pid))
    this.#final = new Promise((res, rej) => {
      const rl = createInterface({ input: this.child.stdout! })
      rl.on('line', (line) => {
        let r: VerifierReport
        try { r = JSON.parse(line) as VerifierReport } catch { return }
        appendFileSync(logFile, `${line}\n`)
        if (r.type === 'final') { res(r); return }
        this.latest = r
        this.history.push({ at: Date.now(), units: r.units })
      })
      this.child.once('exit', (code) => { this.#exited = true; rej(new Error(`the verifier exited (code ${code}) before its final report; see ${logFile}`)) })
    })
    this.#final.catch(() => {})
  }

  get alive (): boolean { return !this.#exited }

  async final (): Promise<VerifierReport> {
    this.child.stdin!.write('final\n')
    return await this.#final
  }

  async stop (): Promise<void> {
    if (this.#exited) return
    this.child.kill('SIGTERM')
    await Promise.race([new Promise((r) => this.child.once('exit', r)), sleep(5_000)])
    if (!this.#exited) this.child.kill('SIGKILL')
  }
}

// ---- the run ------------------------------------------------------------------------------

/** One fault slot: a round of worker signals (one per group) and, at the same time, maybe one infrastructure fault. */
interface Slot {
  round: number
  actions: Array<{ group: string, replica: number, signal: 'SIGKILL' | 'SIGTERM' }>
  infra?: { kind: 'broker', nodeId: number } | { kind: 'registry' }
}

interface SlotResult {
  slot: Slot
  label: string
  startedAt: number
  endedAt: number
  progressAt: number
  workers?: Array<{ worker: string, signal: string, exitMs: number, forced: boolean, readyMs: number }>
  broker?: BounceResult
  registry?: RegistryRestartResult
}

function describe (s: Slot): string {
  const parts = s.actions.map((a) => `${a.signal === 'SIGKILL' ? 'kill' : 'term'} ${a.group}-${a.replica}`)
  if (s.infra?.kind === 'broker') parts.push(`bounce broker ${s.infra.nodeId}`)
  if (s.infra?.kind === 'registry') parts.push('restart the registry')
  return `round ${s.round + 1}: ${parts.join(', ')}`
}

function schedule (o: ChaosOptions): Slot[] {
  const r = rng(o.seed)
  const perGroup = o.faults.has('workers')
    ? groups(o.replicas).map((g) => ({ g, signals: shuffle([...Array(o.kills).fill('SIGKILL'), ...Array(o.terms).fill('SIGTERM')] as Array<'SIGKILL' | 'SIGTERM'>, r) }))
    : []
  const infra: NonNullable<Slot['infra']>[] = []
  if (o.faults.has('brokers')) for (const nodeId of shuffle([1, 2, 3], r)) infra.push({ kind: 'broker', nodeId })
  if (o.faults.has('registry')) infra.splice(Math.floor(r() * (infra.length + 1)), 0, { kind: 'registry' })
  const rounds = Math.max(perGroup.length ? o.kills + o.terms : 0, infra.length)
  return Array.from({ length: rounds }, (_, i) => ({
    round: i,
    actions: perGroup.filter(({ signals }) => i < signals.length).map(({ g, signals }) => ({ group: g.name, replica: i % g.replicas, signal: signals[i]! })),
    ...(infra[i] ? { infra: infra[i] } : {}),
  }))
}

interface Report {
  records: number
  seeds: number
  documents: number
  lost: number
  dup: number
  stalled: number
  durationS: number
  faultPhaseS: number
  drainS: number
  unitsPerS: number
  /** The machine's 1-minute load average at the start and at the end (other work slows the run). */
  load: number[]
  slots: SlotResult[]
  unexpectedExits: ExitRecord[]
  sim: unknown
  ingests: Array<{ chunk: number, attempts: number, ms: number, ok: boolean }>
  /** --self-check: what was planted for the verifier to find. */
  planted?: string
  final: VerifierReport | undefined
  options: Omit<ChaosOptions, 'faults'> & { faults: string[] }
}

export async function runChaos (o: ChaosOptions): Promise<number> {
  mkdirSync(join(o.dir, 'logs'), { recursive: true })
  chaosLog = join(o.dir, 'chaos.log')
  say(`working folder ${o.dir}`)
  say(`records ${o.records}, faults ${[...o.faults].join(', ') || 'none'}, partitions ${o.partitions}, seed ${o.seed}${o.atLeastOnce ? ', stages AT-LEAST-ONCE' : ''}`)

  let infra: ChaosInfra | undefined
  let sim: LlmSim | undefined
  let verifier: VerifierProcess | undefined
  const workers: Worker[] = []
  const unexpectedExits: ExitRecord[] = []
  let ending = false
  let cleaned: Promise<void> | undefined
  const cleanup = (): Promise<void> => {
    cleaned ??= (async () => {
      ending = true
      for (const w of workers) w.stopped = true
      await Promise.all(workers.map((w) => w.stop('SIGTERM', 15_000).catch(() => {})))
      await verifier?.stop().catch(() => {})
      await sim?.close().catch(() => {})
      if (infra) { say('stopping the brokers and the registry'); await stopInfra(infra).catch((err: unknown) => say(`stopping the infrastructure: ${(err as Error).message}`)) }
    })()
    return cleaned
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    say(`${sig}: stopping everything`)
    void cleanup().then(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const report: Report = {
    records: o.records, seeds: 0, documents: 0, lost: 0, dup: 0, stalled: 0, durationS: 0, faultPhaseS: 0, drainS: 0, unitsPerS: 0, load: [loadavg()[0]!],
    slots: [], unexpectedExits, sim: undefined, ingests: [], final: undefined, options: { ...o, faults: [...o.faults] },
  }
  try {
    const python = ensureInteropPython((m) => say(m))
    // The search index attribution retrieves from, built while the brokers start.
    const searchIndex = join(o.dir, 'search', 'index.db')
    const indexBuilt = new Promise<void>((res, rej) => {
      const child = spawn(process.execPath, [join(REPO, 'bin', 'synthq.js'), 'index', 'build', 'data/web', 'data/math', 'data/tech', 'data/seeds/squad-v2-dev-3articles.json', '--index', searchIndex], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
      child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
      child.once('exit', (code) => code === 0 ? res() : rej(new Error(`synthq index build failed:\n${out}`)))
    })
    indexBuilt.catch(() => {})
    say('starting 3 Kafka brokers and a schema registry of this run')
    infra = await startInfra({ dir: o.dir, brokerHeapMb: 384, registryHeapMb: 320, log: (m) => say(m) })
    const brokers = infra.cluster.bootstrap
    say(`cluster ${brokers.join(',')}, registry ${infra.registry.url}`)
    await createTopics(brokers, PREFIX, o.partitions)

    await indexBuilt

    const llmFaults: Partial<Record<FaultKind, number>> = o.faults.has('llm') ? { server_error: 0.10, rate_limit: 0.05, malformed_json: 0.05, timeout: 0.02 } : {}
    sim = await startLlmSim({ profile: o.profile as 'instant', timeScale: o.timeScale, seed: o.seed, faults: { rates: llmFaults, timeoutHangMs: 60_000, retryAfterSeconds: 1 } })
    say(`LLM simulator ${sim.url} (profile ${o.profile}, faults ${Object.entries(llmFaults).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'})`)

    // Inputs: half at the start, the rest after each fault slot, so that every fault meets work in flight.
    const slots = schedule(o)
    const shares = [slots.length ? 0.5 : 1, ...slots.map(() => 0.5 / slots.length)]
    mkdirSync(join(o.dir, 'input'), { recursive: true })
    const plan: InputPlan = writeInputs(join(o.dir, 'input'), o.records, o.seedShare, shares)
    report.seeds = plan.seeds
    report.documents = plan.documents
    const expectedDir = join(o.dir, 'expected')
    mkdirSync(expectedDir, { recursive: true })
    writeFileSync(join(expectedDir, 'seeds.ids'), '')
    writeFileSync(join(expectedDir, 'documents.ids'), '')
    // Work units: each seed passes 3 stages, each document 4 stages and the sink.
    const totalUnits = plan.seeds * 3 + plan.documents * 5
    say(`inputs: ${plan.seeds} seed prompts and ${plan.documents} documents in ${plan.chunks.length} chunk(s); ${slots.length} fault slot(s)`)

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SYNTHQ_KAFKA_BROKERS: brokers.join(','),
      SYNTHQ_REGISTRY_URL: infra.registry.url,
      SYNTHQ_INFRA_DIR: join(o.dir, 'no-local-infra'),
      SYNTHQ_LLM_BASE_URL: sim.url,
      SYNTHQ_LLM_NO_AUTH: 'true',
      SYNTHQ_LLM_MODEL: 'sim-chat-8b',
      SYNTHQ_LLM_SINK_MODEL: 'sim-embed-small',
      SYNTHQ_LLM_TIMEOUT_MS: '5000',
      SYNTHQ_SEARCH_INDEX: searchIndex,
      SYNTHQ_LOG_LEVEL: 'info',
      SYNTHQ_KAFKA_SESSION_TIMEOUT_MS: '10000',
      ...(o.faults.has('aborts') ? { SYNTHQ_TEST_ABORT_RATE: String(o.abortRate) } : { SYNTHQ_TEST_ABORT_RATE: '' }),
    }

    // The verifier, from the start: it checks while the run goes on.
    verifier = new VerifierProcess(python, ['--bootstrap', brokers.join(','), '--registry', infra.registry.url, '--prefix', PREFIX, '--expected', expectedDir,
      '--interval', String(o.verifyIntervalS), '--final-timeout', String(o.finalTimeoutS)], join(o.dir, 'logs', 'verifier.log'))

    // Ingest: one chunk at a time through `synthq ingest`; a failed run (a broker bounced under
    // it) is run again with the topic's keys checked, so nothing is ingested twice.
    let ingestQueue: Promise<void> = Promise.resolve()
    let lastIngestEnd = Date.now()
    const ingestChunk = (c: number): Promise<void> => {
      ingestQueue = ingestQueue.then(async () => {
        const chunk = plan.chunks[c]!
        const t0 = Date.now()
        let attempts = 0
        let ok = true
        for (const [file, to, ids, kind] of [[chunk.seedsFile, 'seeds', chunk.seedIds, 'seeds'], [chunk.documentsFile, 'documents', chunk.documentIds, 'documents']] as const) {
          if (!file) continue
          for (let attempt = 0; ; attempt++) {
            attempts++
            const args = [join(REPO, 'bin', 'synthq.js'), 'ingest', file, '--runner', 'kafka', '--prefix', PREFIX, '--to', to, '--partitions', String(o.partitions), '--replication', '3', '--batch', '200',
              ...(to === 'seeds' ? ['--preset', 'seeds'] : ['--map', 'id=id', '--map', 'text=text']), ...(attempt === 0 ? ['--no-dedup'] : []), '--rejects', join(o.dir, 'logs', `rejects-${c}-${to}.jsonl`)]
            const res = await new Promise<{ code: number | null, out: string }>((res) => {
              const child = spawn(process.execPath, args, { cwd: join(o.dir, 'logs'), env, stdio: ['ignore', 'pipe', 'pipe'] })
              let out = ''
              child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
              child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
              child.once('exit', (code) => res({ code, out }))
            })
            appendFileSync(join(o.dir, 'logs', 'ingest.log'), `=== chunk ${c} ${to} attempt ${attempt + 1}: exit ${res.code}\n${res.out}\n`)
            if (res.code === 0) {
              appendFileSync(join(expectedDir, `${kind}.ids`), ids.join('\n') + '\n')
              break
            }
            say(`ingest of chunk ${c} (${to}) failed with exit code ${res.code}; again, with the topic's keys checked`)
            if (attempt >= 8) { ok = false; say(`ingest of chunk ${c} (${to}) gave up`); break }
            await sleep(2_000)
          }
        }
        report.ingests.push({ chunk: c, attempts, ms: Date.now() - t0, ok })
        lastIngestEnd = Date.now()
        say(`ingested chunk ${c + 1}/${plan.chunks.length} (${chunk.seedIds.length} prompts, ${chunk.documentIds.length} documents) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      })
      return ingestQueue
    }

    // Workers, restarted whenever they exit without being asked to.
    const onExit = (r: ExitRecord): void => {
      if (r.expected || ending) return
      unexpectedExits.push(r)
      say(`worker ${r.worker} (pid ${r.pid}) exited unexpectedly (code ${r.code}, signal ${r.signal}) ${r.wasRunning ? 'while running' : 'during its start'}: ${r.cause}; restarting it`)
      const w = workers.find((x) => x.name === r.worker)
      if (w && !w.stopped) setTimeout(() => { if (!ending && !w.child) w.start() }, 1_000)
    }
    for (const g of groups(o.replicas)) {
      for (let i = 0; i < g.replicas; i++) {
        const name = `${g.name}-${i}`
        mkdirSync(join(o.dir, 'logs', 'cwd', name), { recursive: true })
        const args = ['run', g.topology, '--runner', 'kafka', '--prefix', PREFIX, '--partitions', String(o.partitions), '--replication', '3',
          '--concurrency', String(o.concurrency), '--drain-timeout', '10', '--no-metrics', ...(o.atLeastOnce ? ['--at-least-once'] : []), ...(g.stages ?? []).flatMap((s) => ['--stage', s])]
        workers.push(new Worker(name, g.name, args, env, join(o.dir, 'logs'), onExit))
      }
    }
    for (const w of workers) w.start()
    const readyMs = await Promise.all(workers.map((w) => w.ready(180_000)))
    workers.forEach((w, i) => say(`worker ${w.name} (pid ${w.pid}) ${readyMs[i]! >= 0 ? `running after ${(readyMs[i]! / 1000).toFixed(1)} s` : 'NOT running after 180 s'}`))
    const runStart = Date.now()
    await ingestChunk(0)

    const progress = (): number => (verifier!.latest?.units ?? 0) / totalUnits
    let lastStatus = 0
    const status = (): void => {
      const l = verifier!.latest
      if (!l || Date.now() - lastStatus < 10_000) return
      lastStatus = Date.now()
      say(`progress ${(100 * progress()).toFixed(0)} % — lag ${Object.entries(l.lag).map(([s, n]) => `${s} ${n}`).join(', ')} — lost ${l.lost} dup ${l.dup}${l.decode_errors ? ` undecodable ${l.decode_errors}` : ''}`)
    }
    // Drained: the verifier says so in two checks that both began after the last ingest ended.
    const idleAndDrained = (): boolean => {
      const h = verifier!.history.filter((x) => x.at > lastIngestEnd)
      return h.length >= 2 && Boolean(verifier!.latest?.drained && verifier!.latest.caught_up)
    }

    // Fault slots.
    const faultStart = Date.now()
    let infraChain: Promise<void> = Promise.resolve()
    const pendingReady: Array<Promise<void>> = []
    for (let j = 0; j < slots.length; j++) {
      const slot = slots[j]!
      const threshold = o.startAt + (slots.length > 1 ? ((o.endAt - o.startAt) * j) / (slots.length - 1) : 0)
      const prevEnd = report.slots.at(-1)?.endedAt ?? 0
      while (!(progress() >= threshold || idleAndDrained()) || Date.now() - prevEnd < o.minGapS * 1000) {
        if (!verifier.alive) throw new Error('the verifier died')
        status()
        await sleep(500)
      }
      const label = describe(slot)
      say(`fault ${j + 1}/${slots.length} at progress ${(100 * progress()).toFixed(0)} %: ${label}`)
      const res: SlotResult = { slot, label, startedAt: Date.now(), endedAt: 0, progressAt: progress() }
      report.slots.push(res)
      // Infrastructure faults run in the background, one after the other; a bounce first waits for
      // every partition to be in sync again.
      if (slot.infra) {
        const fault = slot.infra
        infraChain = infraChain.then(async () => {
          if (fault.kind === 'broker') {
            res.broker = await bounceBroker(infra!, fault.nodeId, o.brokerDownS * 1000 + Math.floor(rng(o.seed + j)() * 4_000), (m) => say(`  ${m}`))
            if (!res.broker.ok) say(`  broker ${fault.nodeId} did not recover: ${res.broker.detail}`)
          } else {
            res.registry = await restartRegistry(infra!, (m) => say(`  ${m}`))
            if (!res.registry.ok || !res.registry.idsKept) say(`  registry restart problem: ${res.registry.detail}`)
          }
        })
      }
      // Worker signals: each hits a worker that runs (waiting for its previous start if needed),
      // which is started again at once; its time to run again is measured in the background.
      res.workers = await Promise.all(slot.actions.map(async (a) => {
        const w = workers.find((x) => x.name === `${a.group}-${a.replica}`)!
        await w.ready(180_000)
        const pid = w.pid
        const stopped = await w.stop(a.signal, TERM_GRACE_MS)
        say(`  ${a.signal} ${w.name} (pid ${pid}): exited after ${(stopped.exitMs / 1000).toFixed(1)} s${stopped.forced ? ` — NOT within ${TERM_GRACE_MS / 1000} s of SIGTERM, SIGKILLed` : ''}`)
        w.start()
        const entry = { worker: w.name, signal: a.signal, exitMs: stopped.exitMs, forced: stopped.forced, readyMs: -1 }
        pendingReady.push(w.ready(180_000).then((ms) => { entry.readyMs = ms }))
        return entry
      }))
      res.endedAt = Date.now()
      if (j + 1 < plan.chunks.length) void ingestChunk(j + 1)
    }
    await Promise.all([infraChain, ...pendingReady])
    await ingestQueue
    const faultEnd = Date.now()
    report.faultPhaseS = (faultEnd - faultStart) / 1000
    say(`faults over after ${report.faultPhaseS.toFixed(0)} s; waiting for every stage group to drain`)

    // Drain: lag 0 on every stage group; stalled when progress stops for --stall-timeout.
    let lastUnits = -1
    let lastProgressAt = Date.now()
    let drained = false
    for (;;) {
      if (!verifier.alive) throw new Error('the verifier died')
      const l = verifier.latest
      if (l && l.units !== lastUnits) { lastUnits = l.units; lastProgressAt = Date.now() }
      if (idleAndDrained()) { drained = true; break }
      if (Date.now() - lastProgressAt > o.stallTimeoutS * 1000) { say(`no progress for ${o.stallTimeoutS} s: stalled`); break }
      if (o.drainDeadlineS > 0 && Date.now() - faultEnd > o.drainDeadlineS * 1000) { say(`not drained ${o.drainDeadlineS} s after the faults: stalled`); break }
      status()
      await sleep(500)
    }
    report.drainS = (Date.now() - faultEnd) / 1000
    report.durationS = (Date.now() - runStart) / 1000
    report.unitsPerS = (verifier.latest?.units ?? 0) / report.durationS
    report.load.push(loadavg()[0]!)
    say(drained ? `drained ${report.drainS.toFixed(0)} s after the faults; final check` : 'final check of a run that did not drain')

    if (o.selfCheck) {
      for (const w of workers.filter((x) => x.group === 'attribution')) { w.stopped = true; await w.stop('SIGTERM', TERM_GRACE_MS) }
      report.planted = await plantDuplicateAndLoss(brokers, PREFIX)
      say(`self-check: planted one duplicate and one loss — ${report.planted}`)
    }
    const final = await verifier.final()
    report.final = final
    report.sim = sim.stats()
    report.lost = final.lost
    report.dup = final.dup
    const notDrained = Object.entries(final.lag).filter(([, n]) => n > 0)
    report.stalled = notDrained.length + (final.hanging_partitions?.length ?? 0)
  } catch (err) {
    say(`ERROR: ${(err as Error).stack ?? String(err)}`)
    report.stalled = Math.max(report.stalled, 1)
    await cleanup()
    printReport(report, o)
    return 1
  }
  await cleanup()
  printReport(report, o)
  if (o.selfCheck) {
    const found = report.lost === 1 && report.dup === 1 && report.stalled === 0
    process.stderr.write(found ? 'chaos self-check: the verifier found the planted duplicate and the planted loss, and nothing else\n' : 'chaos self-check FAILED: the verifier should have found lost=1 dup=1 stalled=0\n')
    return found ? 0 : 1
  }
  const ok = report.lost === 0 && report.dup === 0 && report.stalled === 0
  if (ok && !o.keep) rmSync(join(o.dir, 'kafka'), { recursive: true, force: true })
  return ok ? 0 : 1
}

function printReport (r: Report, o: ChaosOptions): void {
  const out: string[] = []
  const f = r.final
  out.push('')
  out.push(`synthq chaos run — ${r.records} records (${r.seeds} prompts, ${r.documents} documents), faults: ${[...o.faults].join(', ') || 'none'}`)
  out.push(`  duration ${r.durationS.toFixed(0)} s (faults ${r.faultPhaseS.toFixed(0)} s, drain after them ${r.drainS.toFixed(0)} s), ${r.unitsPerS.toFixed(1)} stage-records/s; load average ${r.load.map((x) => x.toFixed(1)).join(' → ')} on ${availableParallelism()} cores`)
  if (f) {
    out.push('  stage                     inputs  consumed  outputs  dead   lag  lost  dup')
    for (const [s, st] of Object.entries(f.stages)) {
      out.push(`  ${s.padEnd(24)} ${String(st.inputs).padStart(7)} ${String(st.consumed).padStart(9)} ${String(st.outputs ?? '-').padStart(8)} ${String(st.dead_letters ?? '-').padStart(5)} ${String(st.lag).padStart(5)} ${String(st.lost ?? '-').padStart(5)} ${String(st.dup ?? '-').padStart(4)}`)
    }
    const sink = f.stages.sink
    if (sink && sink.seen !== undefined) out.push(`  sink checkpoint: generation ${String(sink.checkpoint_generation)}, seen ${String(sink.seen)} of ${String(sink.checkpoint_covers)} scored records it covers; sample ${String(sink.sample_live_keys)} live rows (admitted ${String(sink.admitted)} − evicted ${String(sink.evicted)})`)
    for (const [k, v] of Object.entries(f.ingest)) out.push(`  ingest ${k}: ${v.present} of ${v.expected} present, ${v.missing} missing, ${v.duplicated} duplicated`)
    if (f.aborted_records) {
      const total = Object.values(f.aborted_records).reduce((a, b) => a + b, 0)
      out.push(`  records in aborted transactions (read_uncommitted minus read_committed): ${total}${total ? ` — ${Object.entries(f.aborted_records).filter(([, n]) => n > 0).map(([t, n]) => `${t.slice(PREFIX.length + 1)} ${n}`).join(', ')}` : ''}`)
    }
    if (f.decode_errors) out.push(`  undecodable records: ${f.decode_errors} ${JSON.stringify(f.decode_error_details.slice(0, 5))}`)
    if (f.hanging_partitions?.length) out.push(`  partitions whose end was not reached (open transaction?): ${f.hanging_partitions.join('; ')}`)
    for (const d of f.lost_details.slice(0, 15)) out.push(`  LOST ${JSON.stringify(d)}`)
    for (const d of f.dup_details.slice(0, 15)) out.push(`  DUP  ${JSON.stringify(d)}`)
  }
  for (const s of r.slots) {
    const extra = s.workers ? s.workers.map((w) => `${w.worker} down ${(w.exitMs / 1000).toFixed(1)} s, running again after ${w.readyMs >= 0 ? (w.readyMs / 1000).toFixed(1) : 'never'} s${w.forced ? ' (SIGTERM timed out)' : ''}`).join('; ')
      : ''
    const infraExtra = s.broker ? `broker ${s.broker.nodeId} down ${(s.broker.downMs / 1000).toFixed(1)} s, back in the cluster ${(s.broker.backMs / 1000).toFixed(1)} s after its restart${s.broker.ok ? '' : ` FAILED ${s.broker.detail}`}`
      : s.registry ? `registry back in ${(s.registry.downMs / 1000).toFixed(1)} s, ids ${s.registry.idsKept ? 'kept' : 'changed'}` : ''
    out.push(`  fault at ${(100 * s.progressAt).toFixed(0)} %: ${s.label} — ${[extra, infraExtra].filter(Boolean).join('; ')}`)
  }
  for (const e of r.unexpectedExits) out.push(`  unexpected exit ${e.wasRunning ? 'while running' : 'during start'}: ${e.worker} pid ${e.pid} code ${e.code}${e.signal ? ` signal ${e.signal}` : ''} — ${e.cause}`)
  const sim = r.sim as { requests?: { total: number }, faults?: Record<string, number> } | undefined
  if (sim?.requests) out.push(`  LLM simulator: ${sim.requests.total} requests, faults ${Object.entries(sim.faults ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`)
  out.push(`  logs: ${o.dir}`)
  process.stdout.write(out.join('\n') + '\n')
  try {
    if (o.json) writeFileSync(o.json, JSON.stringify(r, null, 2))
    writeFileSync(join(o.dir, 'report.json'), JSON.stringify(r, null, 2))
  } catch (err) {
    process.stderr.write(`chaos: could not write the report file: ${(err as Error).message}\n`)
  }
  process.stdout.write(`chaos lost=${r.lost} dup=${r.dup} stalled=${r.stalled} records=${r.records}\n`)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let code: number
  try {
    const o = parseOptions(process.argv.slice(2))
    code = o ? await runChaos(o) : 0
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n`)
    code = 2
  }
  process.exit(code)
}
