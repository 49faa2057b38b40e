/**
 * `npm run bench:scale` — scale-out of synthq's synthesis stages over worker processes, on a
 * 3-broker Kafka cluster of the benchmark's own.
 *
 * Each run ingests real documents (../shared/data, bench/scale/input.ts) into a fresh topic
 * prefix, starts 1, 2 or 4 worker processes, each `synthq run synthesis --runner kafka` with
 * the four synthesis stages (document-hygiene, situation-envisioning, instruction-generation,
 * scoring; the sink is left out) at the same concurrency, against one LLM simulator started
 * once, and measures documents/s out of the scored topic over a window after warm-up (broker
 * append timestamps). When every document has an outcome the workers are stopped (SIGTERM, a
 * graceful drain) and an independent reader (bench/scale/count.py: Confluent's Python client,
 * read_committed, keys only) counts lost and duplicated documents against the ingested ids.
 * Rounds interleave the process counts; medians are reported. Then:
 *
 *   - rebalance: 2 workers, a third joins mid-run, later one of the first two leaves (SIGTERM);
 *     the pause is the longest gap between scored records after each event, with the handover
 *     of each moved partition (from the workers' logs) and how many partitions moved;
 *   - partitions: 4 workers on topics of 2 partitions (more workers than partitions);
 *   - record sizes: per topic, payload (key + value) and log bytes (segment files on the
 *     brokers' disks) per record, and the Kafka storage per million documents.
 *
 * The simulator is the one thing not real: every figure is from a SIMULATED LLM server, and the
 * output says so. Its default profile, hosted-tier5 (bench/scale/sim.ts), answers like a hosted
 * small model (~0.4 s to the first token, 12 ms per output token) at any load, with budgets far
 * above what the benchmark sends, so what limits each worker is the latency of its LLM calls at
 * its concurrency, not the server (`--profile h100x2-70b` and `hosted` run `synthq llm-sim` as is).
 *
 *   npm run bench:scale                        # 2 rounds of 1, 2, 4 workers, rebalance, partitions (~13 min)
 *   npm run bench:scale -- --quick             # smoke run (~6 min)
 *   npm run bench:scale -- --json /tmp/scale.json --write-docs
 *
 * Infrastructure: its own 3-broker cluster and registry (deploy/local), in .synthq/infra-scale
 * on ports 29092–29097 and 28081–28082 (SYNTHQ_INFRA_DIR, SYNTHQ_KAFKA_PORT,
 * SYNTHQ_REGISTRY_PORT), never the default infrastructure of `npm run infra:up`; reused if
 * already up, stopped at the end unless --keep-infra.
 *
 * Last line: `scale 1→4 processes: <x>× throughput, lost=<n> dup=<n>` (lost and dup summed over
 * every run).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { Kafka, logLevel, type Consumer } from 'kafkajs'
import { down, up, type InfraState } from '../deploy/local/lib/cluster.ts'
import { ensureInteropPython } from '../test/helpers/python.ts'
import { createTopicsAndWait, topicPlan } from '../src/runtime/kafka/topic-admin.ts'
import { exec } from './peers/systems.ts'
import { buildPool, SHARED_DATA, writeInput, type DocumentPool } from './scale/input.ts'
import { CpuSampler, spawnWorker, stopWorker, type Worker } from './scale/procs.ts'
import { scalingSvg } from './scale/svg.ts'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const CLI = join(ROOT, 'bin/synthq.js')
const STAGES = ['document-hygiene', 'situation-envisioning', 'instruction-generation', 'scoring']
/** Stages whose input has a backlog through a run (hygiene is done in seconds; instruction generation is the fastest LLM stage). */
const BACKLOGGED = ['situation-envisioning', 'scoring']
const out = (s: string): void => { process.stdout.write(s + '\n') }
const note = (s: string): void => { process.stderr.write(`bench:scale: ${s}\n`) }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// ─── options ──────────────────────────────────────────────────────────────────────────────────

const HELP = `npm run bench:scale -- [options]

  --rounds N          rounds of every process count, interleaved (default 2; --quick 1)
  --processes LIST    worker process counts (default 1,2,4)
  --docs N            documents per worker process per run: a run with P workers ingests P×N (default 60; --quick 40)
  --partitions N      partitions of every topic (default 12)
  --concurrency N     records in flight per stage and worker (synthq --concurrency; default 4); the
                      LLM endpoint's fixed limit is 3×N per worker, so no call waits in the client
  --profile P         simulator profile: hosted-tier5 (default), hosted, h100x2-70b, h100-8b, cpu-3b, instant
  --time-scale X      simulator delays × X (default 1)
  --warmup S          seconds after the later of the first scored record and the last partition
                      assignment before the window starts (default 10; --quick 6)
  --window S          measurement window (default 30; --quick 15)
  --replication N     replication factor of the topics (default 3)
  --no-rebalance      skip the rebalance run;  --no-partitions  skip the partitions experiment
  --keep-infra        leave the cluster and registry running
  --keep-logs         keep each run's folder (worker logs, input) under the temp dir
  --json PATH         write every figure as JSON
  --write-docs        write the chart to docs/images/scaling.svg
  --quick             a short smoke run
`

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string' }, processes: { type: 'string' }, docs: { type: 'string' }, partitions: { type: 'string' },
    concurrency: { type: 'string' }, profile: { type: 'string' }, 'time-scale': { type: 'string' }, warmup: { type: 'string' },
    window: { type: 'string' }, replication: { type: 'string' }, 'no-rebalance': { type: 'boolean' }, 'no-partitions': { type: 'boolean' },
    'keep-infra': { type: 'boolean' }, 'keep-logs': { type: 'boolean' }, json: { type: 'string' }, 'write-docs': { type: 'boolean' },
    quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  },
})
if (opt.help) { process.stdout.write(HELP); process.exit(0) }
const quick = opt.quick === true
const num = (v: string | undefined, d: number, name: string, min = 0): number => {
  const n = v === undefined ? d : Number(v)
  if (!Number.isFinite(n) || n < min) { process.stderr.write(`bench:scale: --${name} must be a number ≥ ${min}, got "${v}"\n`); process.exit(2) }
  return n
}
const ROUNDS = num(opt.rounds, quick ? 1 : 2, 'rounds', 1)
const PROCESSES = (opt.processes ?? '1,2,4').split(',').map((s) => num(s, 1, 'processes', 1))
const DOCS = num(opt.docs, quick ? 40 : 60, 'docs', 5)
const PARTITIONS = num(opt.partitions, 12, 'partitions', 1)
const CONCURRENCY = num(opt.concurrency, 4, 'concurrency', 1)
const PROFILE = opt.profile ?? 'hosted-tier5'
const TIME_SCALE = num(opt['time-scale'], 1, 'time-scale')
const WARMUP_S = num(opt.warmup, quick ? 6 : 10, 'warmup')
const WINDOW_S = num(opt.window, quick ? 15 : 30, 'window', 1)
const RF = num(opt.replication, 3, 'replication', 1)
const KAFKA_PORT = num(process.env.SYNTHQ_KAFKA_PORT, 29092, 'SYNTHQ_KAFKA_PORT', 1)
const REGISTRY_PORT = num(process.env.SYNTHQ_REGISTRY_PORT, 28081, 'SYNTHQ_REGISTRY_PORT', 1)
const INFRA_DIR = resolve(process.env.SYNTHQ_INFRA_DIR ?? join(ROOT, '.synthq', 'infra-scale'))
// The default infrastructure (npm run infra:up) may be someone else's: never start, reuse or stop it.
if (INFRA_DIR === resolve(ROOT, '.synthq', 'infra') || KAFKA_PORT === 19092 || REGISTRY_PORT === 18081) {
  process.stderr.write('bench:scale: refusing the default infrastructure (.synthq/infra, ports 19092/18081): set SYNTHQ_INFRA_DIR, SYNTHQ_KAFKA_PORT and SYNTHQ_REGISTRY_PORT to others\n')
  process.exit(2)
}
process.env.SYNTHQ_INFRA_DIR = INFRA_DIR // read by deploy/local's up()/down() at each call

// ─── small helpers ────────────────────────────────────────────────────────────────────────────

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const f1 = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1)
const f2 = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(2)
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ')
const pad = (s: string, n: number): string => s.padEnd(n)
const lpad = (s: string, n: number): string => s.padStart(n)

/** The document id a scored or dead-letter key names (ins-<id>, sit-<id> or <id>). */
const docOfKey = (k: string): string => k.startsWith('ins-') ? k.slice(4) : k.startsWith('sit-') ? k.slice(4) : k

// ─── the simulator ───────────────────────────────────────────────────────────────────────────

interface Sim { url: string, label: string, close: () => Promise<void>, stats: () => Promise<{ inService: number, queued: number, /** chat completion requests */ requests: number, byStatus: Record<string, number>, rateLimited: number, clientAborts: number }>, pid: number }

async function startSim (): Promise<Sim> {
  const args = PROFILE === 'hosted-tier5'
    ? ['--import', 'tsx', join(ROOT, 'bench/scale/sim.ts'), '--profile', PROFILE, '--time-scale', String(TIME_SCALE), '--port', '0']
    : [CLI, 'llm-sim', '--profile', PROFILE, '--time-scale', String(TIME_SCALE), '--port', '0']
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  let label = ''
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before it listened`)))
    lines.on('line', (l) => {
      if (/^http:\/\/\S+\/v1$/.test(l)) resolveUrl(l)
      else if (!label) label = l
    })
  })
  await sleep(200)
  const root = url.replace(/\/v1$/, '')
  return {
    url, label, pid: child.pid ?? -1,
    stats: async () => {
      const s = await (await fetch(`${root}/sim/stats`)).json() as { concurrency: { inService: number, queued: number }, requests: { total: number, byPath: Record<string, number>, byStatus: Record<string, number> }, rateLimited: number, clientAborts: number }
      return { inService: s.concurrency.inService, queued: s.concurrency.queued, requests: s.requests.byPath['/v1/chat/completions'] ?? 0, byStatus: s.requests.byStatus, rateLimited: s.rateLimited, clientAborts: s.clientAborts }
    },
    close: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    },
  }
}

// ─── one run ─────────────────────────────────────────────────────────────────────────────────

type RunKind = 'scale' | 'rebalance' | 'partitions'

interface RunSpec { kind: RunKind, label: string, processes: number, partitions: number, docs: number, round: number, /** where in the pool its documents start */ offset: number }

interface WorkerReport {
  index: number
  pid: number
  cpuPercent: number | undefined
  /** Partitions of each stage at the worker's last assignment. */
  partitions: Record<string, number[]>
  /** Records each stage processed (the worker's last progress line). */
  processed: Record<string, number>
  exitCode: number | null | undefined
  /** Milliseconds from SIGTERM to exit, for workers stopped mid-run. */
  drainMs?: number
  /** Its scoring stage over the window (see scoringFlow). */
  scoring: { rate: number, inFlight: number, busy: number, holdS: number } | undefined
}

interface TopicFigures { records: number, keyBytes: number, valueBytes: number, logBytes: number }

interface RunResult {
  spec: RunSpec
  prefix: string
  docsPerSec: number
  /** `docsPerSec` is the slope over the window; `countRate` records ÷ seconds. */
  window: { from: number, to: number, seconds: number, records: number, countRate: number }
  peakInFlight: number
  lost: number
  dup: number
  deadLetters: number
  inputs: number
  withOutcome: number
  workers: WorkerReport[]
  cpu: { workersMean: number | undefined, workersTotal: number | undefined, brokers: number | undefined, registry: number | undefined, sim: number | undefined, bench: number | undefined, machineBusy: number | undefined }
  loadStart: number[]
  loadEnd: number[]
  seconds: number
  topics: Record<string, TopicFigures>
  timestampType: number
  rebalance?: RebalanceFigures
  simErrors: Record<string, number>
  /** LLM requests the simulator served in this run, and those whose client went away before the answer. */
  llmRequests: number
  llmAborted: number
}

interface GapFigures {
  event: string
  at: number
  longestGapS: number
  gapStartsS: number
  recordsBefore10s: number
  recordsAfter10s: number
  /** Scored records/s in 5 s bins from 10 s before the event to 25 s after. */
  bins: Array<{ fromS: number, docsPerSec: number }>
  /** Per stage: partitions whose owner changed at the event, and the fewest a rebalance could have moved. */
  moved: Record<string, { moved: number, needed: number }>
  /**
   * Per stage, over the partitions that changed owner: seconds from the old owner stopping work
   * on it (its release at the rebalance, or the leaver's SIGTERM) to the new owner being ready
   * (producer fenced, committed offset read, consumer sought): median and max.
   */
  handover: Record<string, { median: number, max: number, n: number }>
  note: string
}

interface RebalanceFigures {
  baselineLongestGapS: number
  events: GapFigures[]
  phases: Array<{ label: string, workers: number, docsPerSec: number, seconds: number }>
  joinerAssignedAfterS: number | undefined
  leaverDrainS: number | undefined
  releasedUncommitted: number
  /** LLM calls whose client went away before the answer (aborted when a partition moved), over the run. */
  abortedLlmCalls: number
}

/** Every "partitions assigned" line of a worker's log: time, stage, partitions. */
function assignments (file: string): Array<{ time: number, stage: string, partitions: number[] }> {
  if (!existsSync(file)) return []
  const outl: Array<{ time: number, stage: string, partitions: number[] }> = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('partitions assigned')) continue
    try {
      const j = JSON.parse(line) as { time: number, stage?: string, partitions?: number[], msg?: string }
      if (j.msg === 'partitions assigned' && j.stage) outl.push({ time: j.time, stage: j.stage, partitions: j.partitions ?? [] })
    } catch { /* a line cut short at a kill */ }
  }
  return outl
}

/** Sum of `uncommitted` over the "partition released" lines of a worker's log. */
function releasedUncommitted (file: string): number {
  if (!existsSync(file)) return 0
  let n = 0
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('partition released')) continue
    try { n += Number((JSON.parse(line) as { uncommitted?: number }).uncommitted ?? 0) } catch { /* cut */ }
  }
  return n
}

/**
 * Owner of every partition of each stage at time `t`: each worker's last assignment at or
 * before `t` (workers in `gone` own nothing).
 */
function owners (workers: Worker[], t: number, gone: Set<Worker> = new Set()): Record<string, Map<number, number>> {
  const byStage: Record<string, Map<number, number>> = {}
  for (const w of workers) {
    if (gone.has(w)) continue
    const last: Record<string, number[]> = {}
    for (const a of assignments(w.stdoutFile)) if (a.time <= t) last[a.stage] = a.partitions
    for (const [stage, parts] of Object.entries(last)) {
      const m = byStage[stage] ??= new Map()
      for (const p of parts) m.set(p, w.index)
    }
  }
  return byStage
}

/** Records done per stage, from a worker's last progress line. */
function processedCounts (w: Worker): Record<string, number> {
  const last = w.progress.at(-1)
  return last ? Object.fromEntries(Object.entries(last.stages).map(([k, v]) => [k, v.done])) : {}
}

/**
 * A worker's scoring stage over [from, to], from its progress lines: records/s, mean records in
 * flight (÷ --concurrency: how busy its slots were) and, by Little's law, the seconds a record
 * held a slot (mostly its LLM call). Slots below 100 % busy mean the stage waited for input; a
 * longer hold than with one worker means each record took longer (CPU, the server).
 */
function scoringFlow (w: Worker, from: number, to: number): { rate: number, inFlight: number, busy: number, holdS: number } | undefined {
  const xs = w.progress.filter((p) => p.t >= from && p.t <= to && p.stages.scoring)
  if (xs.length < 3) return undefined
  const a = xs[0]!
  const b = xs.at(-1)!
  const rate = (b.stages.scoring!.done - a.stages.scoring!.done) / ((b.t - a.t) / 1000)
  const inFlight = xs.reduce((s, p) => s + p.stages.scoring!.inFlight, 0) / xs.length
  return { rate, inFlight, busy: inFlight / CONCURRENCY, holdS: rate > 0 ? inFlight / rate : NaN }
}

/** Bytes of the log segments of every partition replica of `topic` on the cluster's disks. */
function logBytes (state: InfraState, topic: string): number {
  let n = 0
  for (const node of state.kafka.nodes) {
    const dir = join(node.dataDir, 'log')
    if (!existsSync(dir)) continue
    for (const d of readdirSync(dir)) {
      if (!d.startsWith(topic + '-') || !/^\d+$/.test(d.slice(topic.length + 1))) continue
      for (const f of readdirSync(join(dir, d))) if (f.endsWith('.log')) n += statSync(join(dir, d, f)).size
    }
  }
  return n
}

/** Longest gap between consecutive timestamps within [from, to] (the edges count as records). */
function longestGap (ts: number[], from: number, to: number): { gap: number, start: number } {
  const xs = [from, ...ts.filter((t) => t > from && t < to), to]
  let gap = 0
  let start = from
  for (let i = 1; i < xs.length; i++) if (xs[i]! - xs[i - 1]! > gap) { gap = xs[i]! - xs[i - 1]!; start = xs[i - 1]! }
  return { gap, start }
}

const countIn = (ts: number[], from: number, to: number): number => ts.filter((t) => t >= from && t < to).length

/**
 * Records/s over [from, to): the least-squares slope of the cumulative count against time. A
 * count ÷ window length moves by a whole record with where the window's edges fall (3 % at 34
 * records); the slope uses every record's time.
 */
function slope (ts: number[], from: number, to: number): number {
  const xs = ts.filter((t) => t >= from && t < to)
  if (xs.length < 3) return countIn(ts, from, to) / ((to - from) / 1000)
  const n = xs.length
  const mt = xs.reduce((a, b) => a + b, 0) / n
  const mi = (n - 1) / 2
  let num = 0
  let den = 0
  xs.forEach((t, i) => { num += (t - mt) * (i - mi); den += (t - mt) ** 2 })
  return den > 0 ? 1000 * num / den : NaN
}

/** "partition ready" and "partition released" lines of a worker's log. */
function partitionLog (file: string): Array<{ time: number, stage: string, partition: number, kind: 'ready' | 'released', why: string }> {
  if (!existsSync(file)) return []
  const outl: Array<{ time: number, stage: string, partition: number, kind: 'ready' | 'released', why: string }> = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"msg":"partition r')) continue
    try {
      const j = JSON.parse(line) as { time: number, stage?: string, partition?: number, msg?: string, why?: string }
      const kind = j.msg === 'partition ready' ? 'ready' : j.msg?.startsWith('partition released') ? 'released' : undefined
      if (kind && j.stage !== undefined && j.partition !== undefined) outl.push({ time: j.time, stage: j.stage, partition: j.partition, kind, why: j.why ?? '' })
    } catch { /* cut */ }
  }
  return outl
}

interface Context {
  state: InfraState
  brokers: string[]
  registryUrl: string
  kafka: Kafka
  sim: Sim
  python: string
  pool: DocumentPool
  work: string
  registryPid: number
  brokerPids: number[]
}

let runCounter = 0
const liveWorkers = new Set<Worker>()

async function runOnce (ctx: Context, spec: RunSpec): Promise<RunResult> {
  const t0 = Date.now()
  const loadStart = loadavg()
  const prefix = `scale${++runCounter}-${Date.now().toString(36)}`
  const dir = mkdtempSync(join(ctx.work, `${prefix}-`))
  const admin = ctx.kafka.admin()
  await admin.connect()
  // synthq's own topic plan (partitions, replication, cleanup policy, min ISR 2), created ahead so
  // the scored and dead-letter topics carry broker append times (LogAppendTime): what the
  // throughput windows and the gaps are measured on.
  const plan = topicPlan({ prefix, partitions: spec.partitions, replicationFactor: RF })
  const appendTime = new Set([`${prefix}.instructions.scored`, `${prefix}.dlq`])
  await createTopicsAndWait(admin, plan.map((p) => ({
    topic: p.topic, numPartitions: p.partitions, replicationFactor: p.replicationFactor,
    configEntries: Object.entries({ ...p.configs, ...(appendTime.has(p.topic) ? { 'message.timestamp.type': 'LogAppendTime' } : {}) }).map(([name, value]) => ({ name, value })),
  })))

  const inputFile = join(dir, 'input.jsonl')
  const idsFile = join(dir, 'ids.txt')
  const ids = writeInput(ctx.pool, spec.docs, inputFile, idsFile, spec.offset)
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SYNTHQ_LLM_') && k !== 'SYNTHQ_PREFIX' && k !== 'SYNTHQ_RUNNER' && k !== 'SYNTHQ_DB'))
  Object.assign(env, { SYNTHQ_KAFKA_BROKERS: ctx.brokers.join(','), SYNTHQ_REGISTRY_URL: ctx.registryUrl, SYNTHQ_INFRA_DIR: INFRA_DIR, SYNTHQ_LOG_LEVEL: 'info' })
  const common = ['--runner', 'kafka', '--prefix', prefix, '--partitions', String(spec.partitions), '--replication', String(RF)]
  const ingestOut = await exec(process.execPath, [CLI, 'ingest', inputFile, ...common, '--json'], { env, cwd: dir, timeoutMs: 120_000 })
  const ingest = JSON.parse(ingestOut.trim().split('\n').at(-1)!) as { ingested: number, rejected: number }
  if (ingest.ingested !== ids.length) throw new Error(`ingest took ${ingest.ingested} of ${ids.length} documents`)

  const config = join(dir, 'synthq.yaml')
  writeFileSync(config, [
    'llm:',
    '  defaults: { endpoint: sim, model: sim-chat-8b }',
    // A fixed limit (no adaptation) of 3 × the stage concurrency: each of the three LLM stages
    // keeps up to --concurrency calls in flight and none waits in the client for another's.
    `  endpoints: { sim: { baseUrl: "${ctx.sim.url}", noAuth: true, maxConcurrency: ${3 * CONCURRENCY}, adaptiveConcurrency: false } }`,
    '  cache: { enabled: false }',
    '',
  ].join('\n'))
  const args = [CLI, 'run', 'synthesis', ...common, '--config', config, '--no-metrics', '--concurrency', String(CONCURRENCY), ...STAGES.flatMap((s) => ['--stage', s])]
  const workers: Worker[] = []
  const startWorker = (): Worker => {
    const i = workers.length
    const w = spawnWorker(i, process.execPath, args, { cwd: dir, env, stdoutFile: join(dir, `worker-${i}.log`), stderrFile: join(dir, `worker-${i}.err`) })
    workers.push(w)
    liveWorkers.add(w)
    return w
  }
  const sampler = new CpuSampler(() => [...workers.filter((w) => w.exitedAt === undefined).map((w) => w.pid), ...ctx.brokerPids, ctx.registryPid, ctx.sim.pid, process.pid])

  // Live follow of the outcomes (read_committed, keys only), to know when the run is done.
  const outcomes = new Set<string>()
  let firstOutcomeAt: number | undefined
  let lastOutcomeAt = Date.now()
  const tail: Consumer = ctx.kafka.consumer({ groupId: `${prefix}.bench-tail`, readUncommitted: false, maxWaitTimeInMs: 500 })
  await tail.connect()
  await tail.subscribe({ topics: [`${prefix}.instructions.scored`, `${prefix}.dlq`], fromBeginning: true })
  await tail.run({
    eachMessage: async ({ message }) => {
      const k = message.key?.toString('utf8') ?? ''
      outcomes.add(docOfKey(k))
      firstOutcomeAt ??= Date.now()
      lastOutcomeAt = Date.now()
    },
  })
  let peak = 0
  const simBefore = await ctx.sim.stats()
  const poll = setInterval(() => { ctx.sim.stats().then((s) => { peak = Math.max(peak, s.inService + s.queued) }, () => {}) }, 500)

  for (let i = 0; i < spec.processes; i++) startWorker()
  const events: Array<{ event: string, at: number, worker: Worker }> = []
  const deadline = Date.now() + 20 * 60_000
  let joined = false
  let left = false
  let joinerReady: number | undefined
  try {
    for (;;) {
      await sleep(500)
      const dead = workers.find((w) => w.exitedAt !== undefined && !events.some((e) => e.event === 'leave' && e.worker === w))
      if (dead) throw new Error(`worker ${dead.index} exited (${dead.exitCode}) mid-run; its stderr ends:\n${readFileSync(dead.stderrFile, 'utf8').split('\n').slice(-12).join('\n')}`)
      if (outcomes.size >= ids.length) break
      if (Date.now() > deadline) throw new Error(`the run did not finish in 20 min (${outcomes.size}/${ids.length} documents with an outcome)`)
      if (firstOutcomeAt !== undefined && Date.now() - lastOutcomeAt > 120_000) throw new Error(`no outcome for 120 s (${outcomes.size}/${ids.length})`)
      if (spec.kind === 'rebalance' && firstOutcomeAt !== undefined) {
        const phase = (WARMUP_S + REBALANCE_PHASE_S) * 1000
        if (!joined && Date.now() >= firstOutcomeAt + phase) {
          joined = true
          const w = startWorker()
          events.push({ event: 'join', at: Date.now(), worker: w })
          note(`  worker ${w.index} joins (pid ${w.pid})`)
        }
        // The leave comes once the joiner has held its partitions of every stage for the warm-up
        // and 10 s more (a steady 3-worker phase), and not before a phase has passed.
        if (joined && !left && joinerReady === undefined) {
          const a = assignments(events[0]!.worker.stdoutFile)
          if (new Set(a.map((x) => x.stage)).size >= STAGES.length) joinerReady = Math.max(...a.map((x) => x.time))
          else if (Date.now() > events[0]!.at + 120_000) joinerReady = Date.now()
        }
        if (joined && !left && joinerReady !== undefined && Date.now() >= Math.max(events[0]!.at + REBALANCE_PHASE_S * 1000, joinerReady + (WARMUP_S + 10) * 1000)) {
          left = true
          const w = workers[0]!
          events.push({ event: 'leave', at: Date.now(), worker: w })
          note(`  worker 0 leaves (SIGTERM, pid ${w.pid})`)
          void stopWorker(w)
        }
      }
    }
  } finally {
    clearInterval(poll)
    await Promise.all(workers.map((w) => stopWorker(w)))
    for (const w of workers) liveWorkers.delete(w)
    sampler.stop()
    await tail.disconnect()
  }

  // The independent count, after every worker has stopped.
  const counted = JSON.parse(await exec(ctx.python, [join(ROOT, 'bench/scale/count.py'), '--bootstrap', ctx.brokers.join(','), '--prefix', prefix, '--ids', idsFile], { timeoutMs: 180_000 })) as {
    inputs: number, with_outcome: number, lost: number, dup: number, dead_letters: number, lost_examples: string[], dead_letter_examples: string[],
    documents_topic: { distinct: number, missing: number, repeated: number },
    topics: Record<string, { records: number, key_bytes: number, value_bytes: number }>, scored: Array<[number, number, number]>
  }
  const ts = counted.scored.map((s) => s[0])
  const tsType = counted.scored[0]?.[1] ?? -1
  const topics: Record<string, TopicFigures> = {}
  for (const [t, s] of Object.entries(counted.topics)) {
    const short = t.slice(prefix.length + 1)
    topics[short] = { records: s.records, keyBytes: s.key_bytes, valueBytes: s.value_bytes, logBytes: logBytes(ctx.state, t) }
  }

  // The window: after the later of the first scored record and the last partition assignment of
  // the starting workers, plus the warm-up; at most WINDOW_S, and never past the time 80 % of the
  // documents were out (before any worker can have run out of input).
  const startAssignments = workers.slice(0, spec.processes).flatMap((w) => assignments(w.stdoutFile)).filter((a) => !events.length || a.time < events[0]!.at)
  const settled = Math.max(ts[0] ?? 0, ...startAssignments.map((a) => a.time))
  const from = settled + WARMUP_S * 1000
  const cap80 = ts[Math.max(0, Math.ceil(0.8 * ids.length) - 1)] ?? from
  const windowEnd = spec.kind === 'rebalance' ? (events[0]?.at ?? from + WINDOW_S * 1000) : Math.min(from + WINDOW_S * 1000, cap80)
  const to = Math.max(windowEnd, from + 1000)
  const inWindow = countIn(ts, from, to)
  const docsPerSec = slope(ts, from, to)
  if (spec.kind !== 'rebalance' && (to - from) < WINDOW_S * 1000 * 0.75) note(`  ${spec.label}: window only ${((to - from) / 1000).toFixed(1)} s (80 % of the documents were out by then): raise --docs`)

  const reports: WorkerReport[] = workers.map((w) => {
    const a = assignments(w.stdoutFile)
    const last: Record<string, number[]> = {}
    for (const x of a) last[x.stage] = x.partitions
    const ev = events.find((e) => e.event === 'leave' && e.worker === w)
    return {
      index: w.index, pid: w.pid, cpuPercent: sampler.percent(w.pid, from, to), partitions: last, processed: processedCounts(w), exitCode: w.exitCode,
      scoring: scoringFlow(w, from, to),
      ...(ev && w.exitedAt ? { drainMs: w.exitedAt - ev.at } : {}),
    }
  })
  const windowWorkers = reports.filter((r) => r.cpuPercent !== undefined)
  const cpuOf = (pids: number[]): number | undefined => {
    const xs = pids.map((p) => sampler.percent(p, from, to))
    return xs.every((x) => x !== undefined) ? xs.reduce((a, b) => a! + b!, 0) : undefined
  }

  let rebalance: RebalanceFigures | undefined
  if (spec.kind === 'rebalance') {
    const joinEv = events.find((e) => e.event === 'join')
    const leave = events.find((e) => e.event === 'leave')
    const figures = (e: { event: string, at: number, worker: Worker }, what: string, settledBy: number): GapFigures => {
      const g = longestGap(ts, e.at, e.at + REBALANCE_PHASE_S * 1000)
      const bins: GapFigures['bins'] = []
      for (let b = -10; b < 25; b += 5) bins.push({ fromS: b, docsPerSec: countIn(ts, e.at + b * 1000, e.at + (b + 5) * 1000) / 5 })
      // Owners just before the event and once the rebalance it caused has settled.
      const gone = new Set(e.event === 'leave' ? [e.worker] : [])
      const before = owners(workers, e.at)
      const after = owners(workers, settledBy, gone)
      const members = new Set([...Object.values(after).flatMap((m) => [...m.values()])]).size || 1
      const moved: GapFigures['moved'] = {}
      const handover: GapFigures['handover'] = {}
      const logs = workers.map((w) => partitionLog(w.stdoutFile))
      for (const [stage, a] of Object.entries(after)) {
        const b = before[stage] ?? new Map<number, number>()
        const changed = [...a.entries()].filter(([p, w]) => b.get(p) !== w)
        // A join must hand the newcomer its share; a leave must move the leaver's partitions.
        const needed = e.event === 'join' ? Math.floor(spec.partitions / members) : [...b.values()].filter((w) => w === e.worker.index).length
        moved[stage] = { moved: changed.length, needed }
        const times: number[] = []
        for (const [p, newOwner] of changed) {
          const ready = logs[newOwner]!.find((x) => x.kind === 'ready' && x.stage === stage && x.partition === p && x.time >= e.at)
          const oldOwner = b.get(p)
          const stopped = oldOwner === undefined ? undefined
            : e.event === 'leave' && oldOwner === e.worker.index ? e.at
              : logs[oldOwner]!.find((x) => x.kind === 'released' && x.stage === stage && x.partition === p && x.time >= e.at)?.time
          if (ready && stopped !== undefined && ready.time <= settledBy) times.push(Math.max(0, ready.time - stopped) / 1000)
        }
        if (times.length) handover[stage] = { median: median(times), max: Math.max(...times), n: times.length }
      }
      return { event: e.event, at: e.at, longestGapS: g.gap / 1000, gapStartsS: (g.start - e.at) / 1000, recordsBefore10s: countIn(ts, e.at - 10_000, e.at), recordsAfter10s: countIn(ts, e.at, e.at + 10_000), bins, moved, handover, note: what }
    }
    const evs: GapFigures[] = []
    if (joinEv) evs.push(figures(joinEv, 'a third worker starts (spawned at 0 s)', leave?.at ?? Date.now()))
    if (leave) evs.push(figures(leave, 'worker 0 gets SIGTERM and drains', leave.at + REBALANCE_PHASE_S * 1000))
    const base = joinEv ? longestGap(ts, joinEv.at - REBALANCE_PHASE_S * 1000, joinEv.at).gap / 1000 : NaN
    const joinerAssigned = joinEv ? assignments(joinEv.worker.stdoutFile).map((a) => a.time).filter((t) => !leave || t < leave.at) : []
    const phases: RebalanceFigures['phases'] = []
    const rate = (a: number, b: number): number => countIn(ts, a, b) / ((b - a) / 1000)
    if (joinEv) phases.push({ label: 'before the join', workers: spec.processes, docsPerSec: rate(from, joinEv.at), seconds: (joinEv.at - from) / 1000 })
    const steady3 = (joinerReady ?? joinEv?.at ?? 0) + WARMUP_S * 1000
    if (joinEv && leave && leave.at > steady3 + 5_000) phases.push({ label: 'after the join, steady', workers: spec.processes + 1, docsPerSec: rate(steady3, leave.at), seconds: (leave.at - steady3) / 1000 })
    if (leave) {
      const end = Math.min(leave.at + 10_000 + REBALANCE_PHASE_S * 1000, cap80)
      if (end > leave.at + 15_000) phases.push({ label: 'after the leave, 10 s on', workers: spec.processes, docsPerSec: rate(leave.at + 10_000, end), seconds: (end - leave.at - 10_000) / 1000 })
    }
    rebalance = {
      baselineLongestGapS: base, events: evs, phases,
      joinerAssignedAfterS: joinEv && joinerAssigned.length ? (Math.max(...joinerAssigned) - joinEv.at) / 1000 : undefined,
      leaverDrainS: leave?.worker.exitedAt ? (leave.worker.exitedAt - leave.at) / 1000 : undefined,
      releasedUncommitted: workers.reduce((a, w) => a + releasedUncommitted(w.stdoutFile), 0),
      abortedLlmCalls: (await ctx.sim.stats()).clientAborts - simBefore.clientAborts,
    }
  }

  const simStats = await ctx.sim.stats()
  const result: RunResult = {
    spec, prefix, docsPerSec, window: { from, to, seconds: (to - from) / 1000, records: inWindow, countRate: inWindow / ((to - from) / 1000) }, peakInFlight: peak,
    lost: counted.lost, dup: counted.dup + counted.documents_topic.repeated, deadLetters: counted.dead_letters, inputs: counted.inputs, withOutcome: counted.with_outcome,
    workers: reports,
    cpu: {
      workersMean: windowWorkers.length ? windowWorkers.reduce((a, r) => a + r.cpuPercent!, 0) / windowWorkers.length : undefined,
      workersTotal: windowWorkers.length ? windowWorkers.reduce((a, r) => a + r.cpuPercent!, 0) : undefined,
      brokers: cpuOf(ctx.brokerPids), registry: cpuOf([ctx.registryPid]), sim: cpuOf([ctx.sim.pid]), bench: cpuOf([process.pid]),
      machineBusy: sampler.machinePercent(from, to),
    },
    loadStart, loadEnd: loadavg(), seconds: (Date.now() - t0) / 1000, topics, timestampType: tsType,
    ...(rebalance ? { rebalance } : {}),
    simErrors: Object.fromEntries(Object.entries(simStats.byStatus).filter(([k]) => k !== '200')),
    llmRequests: simStats.requests - simBefore.requests, llmAborted: simStats.clientAborts - simBefore.clientAborts,
  }
  if (counted.lost) note(`  ${spec.label}: LOST ${counted.lost}, e.g. ${counted.lost_examples.join(', ')}`)
  if (counted.dup) note(`  ${spec.label}: DUPLICATED ${counted.dup}`)
  if (counted.documents_topic.missing || counted.documents_topic.repeated) note(`  ${spec.label}: documents topic: ${counted.documents_topic.missing} missing, ${counted.documents_topic.repeated} repeated`)

  // Tidy up: the run's topics and groups go, so every run finds the cluster as idle as the first.
  try {
    await admin.deleteTopics({ topics: Object.keys(counted.topics), timeout: 30_000 })
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix + '.'))
    if (groups.length) await admin.deleteGroups(groups).catch(() => {})
  } catch (err) {
    note(`  could not delete the topics of ${prefix}: ${(err as Error).message}`)
  } finally {
    await admin.disconnect()
  }
  if (!opt['keep-logs']) rmSync(dir, { recursive: true, force: true })
  else note(`  logs kept in ${dir}`)
  return result
}

const REBALANCE_PHASE_S = quick ? 15 : 20

// ─── main ────────────────────────────────────────────────────────────────────────────────────

/** Mean over a run's workers of their scoring figures over the window. */
function scoringMean (r: RunResult): { busy: number, holdS: number } {
  const xs = r.workers.map((w) => w.scoring).filter((x): x is NonNullable<typeof x> => x !== undefined && Number.isFinite(x.holdS))
  if (!xs.length) return { busy: NaN, holdS: NaN }
  return { busy: xs.reduce((a, x) => a + x.busy, 0) / xs.length, holdS: xs.reduce((a, x) => a + x.holdS, 0) / xs.length }
}

function runLine (r: RunResult): string {
  const cpu = r.workers.map((w) => f1(w.cpuPercent)).join('/')
  const sc = scoringMean(r)
  return `${pad(r.spec.label, 26)} ${lpad(f2(r.docsPerSec), 6)} docs/s  window ${f1(r.window.seconds)} s (${r.window.records} records, ${f2(r.window.countRate)}/s)  peak in flight ${lpad(String(r.peakInFlight), 3)}  ` +
    `lost ${r.lost} dup ${r.dup}  dead letters ${r.deadLetters}  LLM calls ${r.llmRequests} (abandoned ${r.llmAborted})  scoring slots busy ${f1(100 * sc.busy)} %, ${f2(sc.holdS)} s per record  CPU % per worker ${cpu}, brokers ${f1(r.cpu.brokers)}, machine ${f1(r.cpu.machineBusy)} % of ${cpus().length} cores  ` +
    `load ${r.loadStart[0]!.toFixed(2)}→${r.loadEnd[0]!.toFixed(2)}  (${r.seconds.toFixed(0)} s)`
}

async function main (): Promise<void> {
  const started = Date.now()
  const load0 = loadavg()
  out(`bench:scale — synthq's synthesis stages (${STAGES.join(', ')}) as 1…${Math.max(...PROCESSES)} worker processes on a local 3-broker Kafka cluster`)
  out(`machine: ${cpus().length} cores, Node ${process.version}, load average ${load()} at start`)
  const python = ensureInteropPython(note)
  note(`infrastructure in ${INFRA_DIR} (Kafka from port ${KAFKA_PORT}, registry ${REGISTRY_PORT})`)
  const { state, reused } = await up({ brokers: 3, kafkaPort: KAFKA_PORT, registryPort: REGISTRY_PORT, log: note })
  out(`cluster: ${reused ? 'reused' : 'started'} — Apache Kafka ${state.kafka.version}, 3 brokers ${state.kafka.bootstrap.join(',')}, Apicurio Registry ${state.registry.version}; topics ${PARTITIONS} partitions, replication ${RF} (min ISR ${RF >= 3 ? 2 : 1}), exactly-once`)
  const sim = await startSim()
  let ctx: Context | undefined
  const cleanup = async (): Promise<void> => {
    await Promise.all([...liveWorkers].map((w) => stopWorker(w, 20_000)))
    await sim.close().catch(() => {})
    if (!opt['keep-infra']) { note('stopping the cluster and registry (--keep-infra keeps them)'); await down({ log: note }) }
  }
  let interrupted = false
  const onSignal = (): void => {
    if (interrupted) process.exit(130)
    interrupted = true
    note('interrupted: stopping workers, simulator and cluster…')
    void cleanup().finally(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    out(`LLM: ${sim.label.includes('SIMULATOR') ? sim.label : `SIMULATOR ${sim.label}`}`)
    out('     every figure below is from a SIMULATED LLM server (synthetic answers, calibrated latencies), not a GPU or an API')
    if (PROFILE === 'hosted-tier5') out(`     profile hosted-tier5: the CLI's hosted latency (0.4 s to first token + 12 ms per output token, flat at any load) with tier-5 budgets (30,000 requests/min, 150M tokens/min) — far above this load; time scale ${TIME_SCALE}`)
    const rebalanceDocsMax = 8 * DOCS
    // Each round its own slice of the pool: a run's window holds a few dozen documents, whose LLM
    // time varies by a few per cent from one sample to the next; rounds over other documents
    // average that out instead of repeating it.
    const slice = Math.max(...PROCESSES) * DOCS
    const maxDocs = Math.max(ROUNDS * slice, opt['no-rebalance'] ? 0 : rebalanceDocsMax, opt['no-partitions'] ? 0 : 2 * DOCS)
    const tPool = Date.now()
    const pool = buildPool(maxDocs)
    out(`documents: ${SHARED_DATA} — ${Object.entries(pool.byCorpus).map(([k, v]) => `${k} ${v}`).join(', ')} (${maxDocs} of a seeded shuffle after synthq's document gate and exact dedup: ${pool.rejected} rejected, ${pool.duplicates} duplicates; ${((Date.now() - tPool) / 1000).toFixed(1)} s)`)
    out(`per worker: the 4 stages, --concurrency ${CONCURRENCY} (records in flight per stage), LLM endpoint limit ${3 * CONCURRENCY} fixed; a run with P workers ingests P×${DOCS} documents into a fresh topic prefix; round r takes its documents from slice r of the pool`)
    out(`window: ${WINDOW_S} s of broker append times, from ${WARMUP_S} s after the later of the first scored record and the last partition assignment; at most until 80 % of the documents are out`)
    out('')
    const kafka = new Kafka({ clientId: 'bench-scale', brokers: state.kafka.bootstrap, logLevel: logLevel.NOTHING })
    const work = mkdtempSync(join(tmpdir(), 'synthq-bench-scale-'))
    ctx = { state, brokers: state.kafka.bootstrap, registryUrl: state.registry.url, kafka, sim, python, pool, work, registryPid: state.registry.pid, brokerPids: state.kafka.nodes.map((n) => n.pid) }

    const scale: RunResult[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? PROCESSES : [...PROCESSES].reverse()
      for (const p of order) {
        const r = await runOnce(ctx, { kind: 'scale', label: `round ${round}, ${p} worker${p > 1 ? 's' : ''}`, processes: p, partitions: PARTITIONS, docs: p * DOCS, round, offset: (round - 1) * slice })
        scale.push(r)
        out(runLine(r))
      }
    }
    let partitionsRun: RunResult | undefined
    if (!opt['no-partitions']) {
      partitionsRun = await runOnce(ctx, { kind: 'partitions', label: '4 workers, 2 partitions', processes: 4, partitions: 2, docs: 2 * DOCS, round: 0, offset: 0 })
      out(runLine(partitionsRun))
    }
    let rebalanceRun: RunResult | undefined
    if (!opt['no-rebalance']) {
      // Enough documents for every phase at the rates just measured: 2 workers through the
      // warm-up and the baseline, 3 for a phase and 10 s, 2 again for a phase and 10 s, with the
      // window's 80 % rule and a margin.
      const perWorker = median(scale.map((r) => r.docsPerSec / r.spec.processes))
      const docs = Math.min(rebalanceDocsMax, Math.ceil(1.15 * perWorker * (2 * (WARMUP_S + REBALANCE_PHASE_S + 12) + 3 * (REBALANCE_PHASE_S + 10) + 2 * (REBALANCE_PHASE_S + 10)) / 0.8))
      rebalanceRun = await runOnce(ctx, { kind: 'rebalance', label: 'rebalance 2→3→2 workers', processes: 2, partitions: PARTITIONS, docs: Number.isFinite(docs) ? docs : rebalanceDocsMax, round: 0, offset: 0 })
      out(runLine(rebalanceRun))
    }
    const all = [...scale, ...(partitionsRun ? [partitionsRun] : []), ...(rebalanceRun ? [rebalanceRun] : [])]
    if (all.some((r) => r.timestampType !== 2)) note('WARNING: scored records without broker append times (LogAppendTime): windows use producer times')

    // ── the table ──
    const byP = new Map<number, RunResult[]>()
    for (const r of scale) { if (!byP.has(r.spec.processes)) byP.set(r.spec.processes, []); byP.get(r.spec.processes)!.push(r) }
    const base = median(byP.get(1)?.map((r) => r.docsPerSec) ?? [])
    out('')
    out(`scale-out: medians of ${ROUNDS} interleaved round(s); ${PARTITIONS} partitions; CPU in % of one core over the window (machine: % of all ${cpus().length} cores, other users included)`)
    out('| processes | docs/s (rounds) | ÷ 1 process | ideal | peak in flight | lost | dup | scoring slots busy % | s per scoring record | CPU per worker % | brokers CPU % | machine busy % | load avg 1 min (start→end) |')
    out('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    const table: Array<Record<string, unknown>> = []
    for (const p of [...byP.keys()].sort((a, b) => a - b)) {
      const rs = byP.get(p)!
      const m = median(rs.map((r) => r.docsPerSec))
      const row = {
        processes: p, docsPerSec: m, rounds: rs.map((r) => r.docsPerSec), ratio: m / base, peakInFlight: Math.max(...rs.map((r) => r.peakInFlight)),
        lost: rs.reduce((a, r) => a + r.lost, 0), dup: rs.reduce((a, r) => a + r.dup, 0), cpuPerWorker: median(rs.map((r) => r.cpu.workersMean ?? NaN)),
        brokersCpu: median(rs.map((r) => r.cpu.brokers ?? NaN)), machineBusy: median(rs.map((r) => r.cpu.machineBusy ?? NaN)),
        scoringBusy: median(rs.map((r) => scoringMean(r).busy)), scoringHoldS: median(rs.map((r) => scoringMean(r).holdS)),
        load: rs.map((r) => `${r.loadStart[0]!.toFixed(1)}→${r.loadEnd[0]!.toFixed(1)}`),
      }
      table.push(row)
      out(`| ${p} | ${f2(m)} (${rs.map((r) => f2(r.docsPerSec)).join(', ')}) | ${f2(row.ratio)} | ${p}.00 | ${row.peakInFlight} | ${row.lost} | ${row.dup} | ${f1(100 * row.scoringBusy)} | ${f2(row.scoringHoldS)} | ${f1(row.cpuPerWorker)} | ${f1(row.brokersCpu)} | ${f1(row.machineBusy)} | ${row.load.join(', ')} |`)
    }

    const busy1 = median(byP.get(1)?.map((r) => scoringMean(r).busy) ?? [])
    const busy4 = median(byP.get(4)?.map((r) => scoringMean(r).busy) ?? [])
    const hold1 = median(byP.get(1)?.map((r) => scoringMean(r).holdS) ?? [])
    const hold4 = median(byP.get(4)?.map((r) => scoringMean(r).holdS) ?? [])
    if (Number.isFinite(busy1) && Number.isFinite(busy4)) {
      out(`1→4 at equal LLM time per call: 4 × ${f1(100 * busy4)} % ÷ ${f1(100 * busy1)} % scoring slots busy = ${f2(4 * busy4 / busy1)}× (the windows hold different documents: a scoring call took ${f2(hold1)} s on average with 1 worker and ${f2(hold4)} s with 4, which moves docs/s by itself)`)
    }

    if (partitionsRun) {
      const r = partitionsRun
      out('')
      out(`partitions: 4 workers on topics of 2 partitions — ${f2(r.docsPerSec)} docs/s (2 workers on ${PARTITIONS} partitions: ${f2(median(byP.get(2)?.map((x) => x.docsPerSec) ?? []))}, 4 workers: ${f2(median(byP.get(4)?.map((x) => x.docsPerSec) ?? []))}); lost ${r.lost} dup ${r.dup}`)
      for (const s of STAGES) {
        const holders = r.workers.filter((w) => (w.partitions[s]?.length ?? 0) > 0)
        out(`  ${pad(s, 24)} partitions held by ${holders.length} of ${r.workers.length} workers (${r.workers.map((w) => `w${w.index}: [${(w.partitions[s] ?? []).join(',')}] ${w.processed[s] ?? 0} records`).join('; ')})`)
      }
      out(`  CPU % per worker over the window: ${r.workers.map((w) => `w${w.index} ${f1(w.cpuPercent)}`).join(', ')}`)
    }

    if (rebalanceRun?.rebalance) {
      const rb = rebalanceRun.rebalance
      out('')
      out(`rebalance: 2 workers on ${PARTITIONS} partitions; a third joins; once it has run ${WARMUP_S + 10} s with all its partitions (and ≥ ${REBALANCE_PHASE_S} s after the join) worker 0 leaves (SIGTERM, graceful drain); lost ${rebalanceRun.lost} dup ${rebalanceRun.dup}`)
      out(`  longest gap between scored records (broker append times) in the ${REBALANCE_PHASE_S} s before the join: ${f2(rb.baselineLongestGapS)} s (the noise floor)`)
      for (const e of rb.events) {
        out(`  ${pad(e.event, 6)} longest gap in the ${REBALANCE_PHASE_S} s after: ${f2(e.longestGapS)} s (starting ${f1(e.gapStartsS)} s after the event); scored records 10 s before/after: ${e.recordsBefore10s}/${e.recordsAfter10s} — ${e.note}`)
        out(`         docs/s in 5 s bins from −10 s: ${e.bins.map((b) => f1(b.docsPerSec)).join(' | ')}`)
        out(`         partitions that changed owner (fewest needed): ${Object.entries(e.moved).map(([st, m]) => `${st} ${m.moved} (${m.needed})`).join(', ')}`)
        // A partition starts at its new owner when a fetch brings it records: only stages with a
        // backlog (envisioning, and scoring, the slowest) show the handover itself.
        out(`         handover of a moved partition, old owner stops → new owner ready (backlogged stages), median/max s: ${BACKLOGGED.filter((st) => e.handover[st]).map((st) => `${st} ${f1(e.handover[st]!.median)}/${f1(e.handover[st]!.max)} (${e.handover[st]!.n} partitions)`).join(', ')}`)
      }
      out(`  the joiner's last partition assignment came ${f1(rb.joinerAssignedAfterS)} s after its spawn (start-up included); the leaver exited ${f1(rb.leaverDrainS)} s after SIGTERM`)
      out(`  records fetched but uncommitted on partitions that moved (queued or in flight; the new owner reads them again): ${rb.releasedUncommitted}; LLM calls abandoned mid-answer in this run: ${rb.abortedLlmCalls} of ${rebalanceRun.llmRequests}`)
      for (const ph of rb.phases) out(`  ${pad(ph.label, 26)} ${ph.workers} workers  ${f2(ph.docsPerSec)} docs/s over ${f1(ph.seconds)} s`)
    }

    // ── record sizes (every run's topics, summed) ──
    const sizes = new Map<string, TopicFigures>()
    let docsTotal = 0
    for (const r of all) {
      docsTotal += r.inputs
      for (const [t, s] of Object.entries(r.topics)) {
        const x = sizes.get(t) ?? { records: 0, keyBytes: 0, valueBytes: 0, logBytes: 0 }
        sizes.set(t, { records: x.records + s.records, keyBytes: x.keyBytes + s.keyBytes, valueBytes: x.valueBytes + s.valueBytes, logBytes: x.logBytes + s.logBytes })
      }
    }
    out('')
    out(`record sizes over all ${all.length} runs (${docsTotal} documents): payload = key + value bytes as read; log = segment files on the brokers' disks ÷ ${RF} replicas (batch headers, transaction markers and aborted records included); no compression (synthq's producers set none)`)
    out('| topic | records | per document | payload B/record | log B/record | log GB per million documents (one replica) |')
    out('|---|---|---|---|---|---|')
    let perMillion = 0
    const sizeRows: Array<Record<string, unknown>> = []
    for (const [t, s] of [...sizes.entries()].sort()) {
      if (s.records === 0 && s.logBytes === 0) continue
      const perDoc = s.records / docsTotal
      const logPer = s.logBytes / RF / Math.max(1, s.records)
      const gb = t === 'llm-quota' ? NaN : (s.logBytes / RF / docsTotal) * 1e6 / 1e9
      if (Number.isFinite(gb)) perMillion += gb
      sizeRows.push({ topic: t, records: s.records, perDocument: perDoc, payloadBytesPerRecord: (s.keyBytes + s.valueBytes) / Math.max(1, s.records), logBytesPerRecord: logPer, logGbPerMillionDocs: gb })
      out(`| ${t} | ${s.records} | ${f2(perDoc)} | ${Math.round((s.keyBytes + s.valueBytes) / Math.max(1, s.records))} | ${Math.round(logPer)} | ${t === 'llm-quota' ? '– (workers\' heartbeats: per worker-second, not per document)' : gb.toFixed(2)} |`)
    }
    out(`| total (pipeline topics) | | | | | ${perMillion.toFixed(1)} GB; × ${RF} replicas = ${(perMillion * RF).toFixed(1)} GB |`)

    // ── CPU and the verdict ──
    const four = median(byP.get(4)?.map((r) => r.docsPerSec) ?? [])
    const ratio4 = four / base
    const lost = all.reduce((a, r) => a + r.lost, 0)
    const dup = all.reduce((a, r) => a + r.dup, 0)
    out('')
    out(`CPU per worker process (median over runs, % of one core): ${[...byP.keys()].sort((a, b) => a - b).map((p) => `${p} worker${p > 1 ? 's' : ''}: ${f1(median(byP.get(p)!.map((r) => r.cpu.workersMean ?? NaN)))}`).join(', ')}; simulator ${f1(median(scale.map((r) => r.cpu.sim ?? NaN)))}, registry ${f1(median(scale.map((r) => r.cpu.registry ?? NaN)))}, this bench ${f1(median(scale.map((r) => r.cpu.bench ?? NaN)))}`)
    const simErrors = all.flatMap((r) => Object.entries(r.simErrors))
    if (simErrors.length) out(`simulator answers other than 200 (cumulative): ${JSON.stringify(all.at(-1)!.simErrors)}`)
    out(`load average ${load()} at end (${load0.map((x) => x.toFixed(2)).join(' ')} at start); ${((Date.now() - started) / 60_000).toFixed(1)} min in all`)

    if (opt['write-docs'] && byP.size) {
      const svg = scalingSvg([...byP.entries()].map(([p, rs]) => ({ processes: p, median: median(rs.map((r) => r.docsPerSec)), rounds: rs.map((r) => r.docsPerSec) })), {
        title: 'synthq synthesis stages: worker processes vs throughput',
        subtitle: `3-broker Kafka, exactly-once, ${PARTITIONS} partitions, concurrency ${CONCURRENCY}/stage; SIMULATED LLM (${PROFILE})`,
        ...(partitionsRun ? { extra: { label: '4 workers, 2 partitions', processes: 4, value: partitionsRun.docsPerSec } } : {}),
      })
      mkdirSync(join(ROOT, 'docs/images'), { recursive: true })
      writeFileSync(join(ROOT, 'docs/images/scaling.svg'), svg)
      note('wrote docs/images/scaling.svg')
    }
    if (opt.json) {
      writeFileSync(opt.json, JSON.stringify({
        date: new Date().toISOString(), machine: { cores: cpus().length, node: process.version, loadStart: load0, loadEnd: loadavg() },
        settings: { rounds: ROUNDS, processes: PROCESSES, docsPerWorker: DOCS, partitions: PARTITIONS, concurrency: CONCURRENCY, llmLimitPerWorker: 3 * CONCURRENCY, profile: PROFILE, timeScale: TIME_SCALE, warmupS: WARMUP_S, windowS: WINDOW_S, replication: RF, simulated: true },
        table, ratio1to4: ratio4, ratio1to4AtEqualCallTime: 4 * busy4 / busy1, lost, dup, recordSizes: sizeRows, storageGbPerMillionDocsOneReplica: perMillion,
        runs: all.map((r) => ({ ...r, workers: r.workers })),
      }, null, 2) + '\n')
      note(`wrote ${opt.json}`)
    }
    if (!opt['keep-logs']) rmSync(work, { recursive: true, force: true })
    out(`scale 1→4 processes: ${f2(ratio4)}× throughput, lost=${lost} dup=${dup}`)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!interrupted) await cleanup()
  }
}

await main()
