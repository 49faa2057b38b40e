/**
 * The cost of observability, side by side in one run:
 *
 *   npm run bench:ops          (nothing to start; ~2–3 minutes, ~25 s of it building the database)
 *
 * (a) Metrics on the hot path. A StageEngine (src/runtime/stage-engine.ts) with a pass-through
 *     processor (decode a synthq.Document, emit it again, encode it: the engine's own work and
 *     nothing else) runs M = 50,000 already-encoded documents (BENCH_M), one after another
 *     (await engine.run per record), with the schema registry inside an in-memory embedded log.
 *     Each record then goes through recordFinished (src/runtime/record-events.ts), as the stages
 *     call it: the `synthq:stage:record` diagnostics channel. Three subscriber set-ups, in
 *     alternating rounds (BENCH_ROUNDS, default 7), medians reported:
 *       none     nobody subscribed (the runner started without metrics): one hasSubscribers read
 *       noop     a subscriber that does nothing: the message built and published
 *       metrics  a PipelineMetrics (src/metrics/pipeline-metrics.ts) subscribed for the round —
 *                its histogram observe per record is the whole hot-path cost; everything else is
 *                pulled at scrape time
 *     A PipelineMetrics as `synthq start` makes it (labels, process metrics: event-loop delay,
 *     GC observer) exists for the whole of (a), so those are on for all three rows (as in any
 *     synthq process with metrics). Then a publish to the metrics alone, timed over 1,000,000
 *     calls.
 *
 * (b) Scrape cost: `await metrics.text()` (what /metrics serves) on a PipelineMetrics like the one
 *     of `synthq start`: the 8 stages of attribution + synthesis in two runners (with processor
 *     figures shaped like the real ones: the sink's 21, scoring's per-total counts, …), an LLM
 *     client with 6 LLM stages on one endpoint, record-duration histograms of all 8 stages and
 *     LLM-latency histograms of the 6 filled (20,000 observations each, a few failure outcomes),
 *     lag read from the database built for (c) as `synthq start` reads it. 200 scrapes each with
 *     and without the lag source, alternating; p50/p95, size in bytes and series. For comparison,
 *     the size of the real /metrics of the `synthq start` process that built the database,
 *     scraped at the end of its run.
 *
 * (c) `synthq status` collect time: StatusCollector.collect() (src/ops/status.ts) on an embedded
 *     database the size of `npm start`'s, made by running
 *     `node bin/synthq.js start --until-idle --db <tmp>/synthq.db --out <tmp>/ds` once in a temp
 *     directory (BENCH_DB=file uses a copy of an existing database instead). Cold: a new
 *     collector's first collect (opens the database, reads every dead letter, the sink's newest
 *     checkpoint and its report); warm: the median of the next 20 collects of that collector
 *     (incremental). Five collectors per database, alternating between the database as made and a
 *     copy with 10× the dead letters and 10× the scored instructions (copies of its own records
 *     appended with EmbeddedLog.append under new keys). No process runs: nothing is scraped (the
 *     collector's run directory is empty), so these are the durable figures' cost.
 */
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { LlmClient } from '../src/llm/client.ts'
import { createLogger } from '../src/log.ts'
import { PipelineMetrics, type MetricsRunner } from '../src/metrics/pipeline-metrics.ts'
import { pipelineStages } from '../src/ops/lag.ts'
import { embeddedLag } from '../src/runtime/embedded/embedded-transport.ts'
import { StatusCollector } from '../src/ops/status.ts'
import { emit, type Processor } from '../src/processors/processor.ts'
import { EmbeddedLog } from '../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../src/runtime/embedded/embedded-registry.ts'
import { channels, subscribe, type StageRecordMessage } from '../src/diagnostics/channels.ts'
import { recordFinished } from '../src/runtime/record-events.ts'
import { StageEngine, type RawRecord } from '../src/runtime/stage-engine.ts'
import { AvroSerde } from '../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../src/serde/schema-catalog.ts'
import type { StageSpec } from '../src/topologies/topology.ts'
import { DEFAULT_TOPIC_PREFIX, topicName } from '../src/topics.ts'
import { SYNTHQ_VERSION } from '../src/version.ts'

const out = (s: string): void => { process.stdout.write(`${s}\n`) }
const note = (s: string): void => { process.stderr.write(`${s}\n`) }
const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2 }
const quantile = (xs: number[], q: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]! }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const logger = createLogger({ level: 'silent' })
const M = Number(process.env.BENCH_M ?? 50_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 200)
const WARM = 20
const COLD = Number(process.env.BENCH_COLD ?? 5)
const PREFIX = DEFAULT_TOPIC_PREFIX
const REPO = fileURLToPath(new URL('..', import.meta.url))
const started = performance.now()
const tmp = mkdtempSync(join(tmpdir(), 'synthq-bench-ops-'))

// --- the database for (b) and (c): `synthq start` once -------------------------------------------

const db = join(tmp, 'synthq.db')
let realScrape: string | undefined
let startSeconds: number | undefined
if (process.env.BENCH_DB) {
  for (const ext of ['', '-wal']) if (existsSync(process.env.BENCH_DB + ext)) copyFileSync(process.env.BENCH_DB + ext, db + ext)
  note(`bench: using a copy of ${process.env.BENCH_DB}`)
} else {
  note('bench: building the database: synthq start --until-idle (~20 s)…')
  const cwd = join(tmp, 'start')
  mkdirSync(cwd)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SYNTHQ_')))
  const t0 = performance.now()
  const child = spawn(process.execPath, [join(REPO, 'bin', 'synthq.js'), 'start', '--until-idle', '--db', db, '--out', join(tmp, 'ds')], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let done = false
  void exited.then(() => { done = true })
  // Scrape its /metrics now and then; the last answer is the size at the end of the run.
  const runDir = join(cwd, '.synthq', 'run')
  while (!done) {
    await sleep(1000)
    try {
      const file = existsSync(runDir) ? readdirSync(runDir).find((f) => f.endsWith('.json')) : undefined
      if (!file) continue
      const { metricsUrl } = JSON.parse(readFileSync(join(runDir, file), 'utf8')) as { metricsUrl: string }
      const res = await fetch(metricsUrl)
      if (res.ok) realScrape = await res.text()
    } catch { /* between announcement and listening, or exiting */ }
  }
  const code = await exited
  startSeconds = (performance.now() - t0) / 1000
  if (code !== 0) throw new Error(`synthq start exited ${code}: ${stderr.slice(-2000)}`)
}

// --- (a) metrics on the hot path -----------------------------------------------------------------

const C4 = readFileSync(new URL('../data/web/c4-en-validation-600.jsonl', import.meta.url), 'utf8')
  .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { text: string, url: string })
const memLog = new EmbeddedLog(':memory:')
const serde = new AvroSerde(new EmbeddedRegistry(memLog.db, ':memory:'), SchemaCatalog.load(), { prefix: 'bench' })
const input = topicName('documents', 'bench')
const raws: RawRecord[] = []
for (let i = 0; i < M; i++) {
  const c = C4[i % C4.length]!
  const id = `c4-bench-${i}`
  const value = { id, text: c.text, url: c.url, title: null, corpus: 'c4', license: 'ODC-BY', metadata: { timestamp: '2019-04-25T12:00:00Z' }, ingested_at: 1_764_000_000_000 + i }
  raws.push({ key: Buffer.from(id), value: await serde.encode(input, value), partition: 0, offset: String(i), timestamp: 1_764_000_000_000 + i })
}
const avgBytes = raws.reduce((n, r) => n + r.value!.length, 0) / M

const passThrough = (): Processor => ({
  name: 'pass-through',
  process: (record) => emit({ topic: 'documents', key: record.key!, value: record.value }),
})
const spec: StageSpec = { name: 'document-hygiene', input: 'documents', outputs: ['documents'], processor: passThrough }
const engine = new StageEngine({ stage: spec, serde, prefix: 'bench', runId: 'bench', logger, topology: 'synthesis', tables: () => { throw new Error('no tables') } })
await engine.init()

// Made for its process metrics; its own subscription would count every round, so it is closed.
new PipelineMetrics({ labels: { runner: 'embedded' }, info: { topology: 'synthesis', prefix: 'bench', version: SYNTHQ_VERSION }, logger }).close()
const names = ['none', 'noop', 'metrics'] as const
type EngineName = typeof names[number]
/** The metrics rounds' registries: each subscribes for its round only. */
const roundMetrics: PipelineMetrics[] = []
const signal = new AbortController().signal

async function pass (mode: EngineName, n = M): Promise<number> {
  const unsubscribe = mode === 'noop' ? subscribe('synthq:stage:record', () => {}) : undefined
  const metrics = mode === 'metrics' ? new PipelineMetrics({ labels: { runner: 'embedded' }, processMetrics: false }) : undefined
  if (metrics) roundMetrics.push(metrics)
  try {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const started = performance.now()
      const o = await engine.run(raws[i]!, signal)
      if (o.deadLettered) throw new Error('dead-lettered')
      recordFinished(engine, 'embedded', raws[i]!, o, started)
    }
    return n / ((performance.now() - t0) / 1000)
  } finally {
    unsubscribe?.()
    metrics?.close()
  }
}

note(`bench: (a) ${ROUNDS} rounds of ${fmt(M)} records × ${names.length} subscriber set-ups…`)
const WARMUP = Math.min(5000, M)
for (const name of names) await pass(name, WARMUP) // warm-up
const rates = new Map<EngineName, number[]>(names.map((n) => [n, []]))
const ratioMetrics: number[] = []
const ratioNoop: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  const round = new Map<EngineName, number>()
  for (const name of (r % 2 ? [...names].reverse() : names)) round.set(name, await pass(name))
  for (const [n, v] of round) rates.get(n)!.push(v)
  ratioMetrics.push(round.get('metrics')! / round.get('none')!)
  ratioNoop.push(round.get('noop')! / round.get('none')!)
}
const countOf = async (m: PipelineMetrics): Promise<number> => (await m.registry.getSingleMetric('synthq_stage_record_duration_seconds')!.get()).values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count'))?.value ?? 0
let observed = 0
for (const m of roundMetrics) observed += await countOf(m)
const expected = WARMUP + ROUNDS * M
if (observed !== expected) throw new Error(`histogram counted ${observed} records, expected ${expected}`)

// A publish to a subscribed PipelineMetrics alone.
const CALLS = 1_000_000
const alone = new PipelineMetrics({ labels: { runner: 'embedded' }, processMetrics: false })
const message: StageRecordMessage = { stage: 'document-hygiene', topology: 'synthesis', runner: 'embedded', runId: 'bench', topic: input, partition: 0, offset: '0', outcome: 'processed', outputs: 1, attempts: 1, durationMs: 0 }
let t = performance.now()
for (let i = 0; i < CALLS; i++) channels.stageRecord.publish({ ...message, durationMs: (i % 1000) * 1e-2 })
const observeNs = (performance.now() - t) * 1e6 / CALLS
alone.close()
t = performance.now()
for (let i = 0; i < CALLS; i++) { performance.now(); performance.now() }
const nowPairNs = (performance.now() - t) * 1e6 / CALLS
await engine.close()
memLog.close()

// --- (b) scrape cost ---------------------------------------------------------------------------

const stages = pipelineStages(PREFIX)
const LLM_STAGES = ['concept-extraction', 'situation-grounding', 'situation-envisioning', 'instruction-generation', 'scoring', 'sink']
/** Processor figures shaped like the real ones (names as the processors report them). */
const FIGURES: Record<string, string[]> = {
  'document-hygiene': ['admitted', 'rejected', 'truncated', 'exactDuplicates', 'nearDuplicates', 'decontaminated'],
  'search-retrieval': ['searches', 'noResult'],
  scoring: [...Array.from({ length: 8 }, (_, i) => `total_${i}`), 'decontaminated'],
  sink: ['seen', 'kept', 'topics', 'warmupBuffered', 'droppedBelowMinScore', 'droppedDuplicateId', 'droppedDuplicateText', 'rejected', 'admitted', 'evicted', 'balanceRatio', 'vendi', ...Array.from({ length: 8 }, (_, i) => `seen_total_${i}`)],
  'situation-envisioning': ['demonstrationsDrawn', 'promptPrefixReuse'],
}
const runnerOf = (topology: string): MetricsRunner => {
  const mine = stages.filter((s) => s.topology === topology)
  return {
    stats: () => Object.fromEntries(mine.map((s, i) => [s.stage, {
      processed: 900 + i, deadLettered: i, inFlight: 0, queued: 0, skipped: 0, committed: 900 + i,
      ...(s.stage === 'sink' ? { checkpoints: 12, rollbacks: 0, uncheckpointed: 0, generation: 1 } : {}),
    }])),
    metrics: () => Object.fromEntries(mine.map((s) => [s.stage, Object.fromEntries((FIGURES[s.stage] ?? []).map((f, j) => [f, 100 + j]))])),
  }
}
const llmStats = Object.fromEntries(LLM_STAGES.map((s, i) => [s, { calls: 868, cacheHits: 0, cacheMisses: 868, requests: 868, retries: i, repairs: 1, invalidOutputs: 0, failures: {}, latency: { count: 868, totalMs: 86_800, maxMs: 900 }, promptTokens: 3_851_695, completionTokens: 213_325, costUsd: 0 }]))
const fakeLlm = {
  stats: () => ({ stages: llmStats, endpoints: [{ endpoint: 'sim', concurrencyLimit: 64, inFlight: 0, queued: 0, circuit: 'closed', pausedMs: 0 }], cache: { hits: 0, misses: 0 }, budgetPaused: false }),
  settings: { stage: (s: string) => ({ model: s === 'sink' ? 'sim-embed-small' : 'sim-chat-8b' }) },
} as unknown as LlmClient

function scrapeMetrics (lagDb: EmbeddedLog | undefined): PipelineMetrics {
  const m = new PipelineMetrics({ labels: { runner: 'embedded' }, info: { topology: 'attribution+synthesis', prefix: PREFIX, version: SYNTHQ_VERSION }, logger })
  m.addRunner('attribution', runnerOf('attribution'))
  m.addRunner('synthesis', runnerOf('synthesis'))
  m.addLlm(fakeLlm)
  if (lagDb) m.setLagSource(async () => embeddedLag(lagDb, stages).map((l) => ({ stage: l.stage, topic: l.input, lag: l.lag })))
  // Histograms: log-uniform durations over each histogram's buckets.
  let seed = 1
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32 }
  for (const s of stages) {
    for (let i = 0; i < 20_000; i++) {
      channels.stageRecord.publish({ stage: s.stage, topology: s.topology, runner: 'embedded', runId: 'bench', topic: s.input, partition: 0, offset: String(i), outcome: i % 50 === 0 ? 'deadLettered' : 'processed', outputs: 1, attempts: i % 100 === 0 ? 2 : 1, durationMs: 10 ** (-0.5 + 5 * rnd()) })
    }
  }
  m.close() // filled: later registries' records are not its own
  for (const s of LLM_STAGES) {
    const model = s === 'sink' ? 'sim-embed-small' : 'sim-chat-8b'
    for (let i = 0; i < 20_000; i++) {
      const outcome = i % 97 === 0 ? 'rate_limit' : i % 211 === 0 ? 'timeout' : i % 503 === 0 ? 'server_error' : 'ok'
      m.request({ stage: s, model, endpoint: 'sim', kind: s === 'sink' ? 'embeddings' : 'chat', outcome, seconds: 10 ** (-1.5 + 3 * rnd()) })
    }
  }
  return m
}

note(`bench: (b) ${SCRAPES} scrapes × 2…`)
const lagLog = new EmbeddedLog(db)
const scrapeCases = { 'with lag (embedded database)': scrapeMetrics(lagLog), 'without a lag source': scrapeMetrics(undefined) }
const scrapeMs = new Map<string, number[]>(Object.keys(scrapeCases).map((k) => [k, []]))
const scrapeBytes = new Map<string, number>()
for (const m of Object.values(scrapeCases)) for (let i = 0; i < 10; i++) await m.text() // warm-up
for (let i = 0; i < SCRAPES; i++) {
  const entries = Object.entries(scrapeCases)
  for (const [name, m] of (i % 2 ? entries.reverse() : entries)) {
    const t0 = performance.now()
    const text = await m.text()
    scrapeMs.get(name)!.push(performance.now() - t0)
    scrapeBytes.set(name, Buffer.byteLength(text))
  }
}
const seriesOf = (text: string): number => text.split('\n').filter((l) => l && !l.startsWith('#')).length
const lastText = await scrapeCases['with lag (embedded database)'].text()
lagLog.close()

// --- (c) status collect --------------------------------------------------------------------------

// The database as made (its WAL folded in by the copy below) and a copy with 10× dead letters and scored instructions.
const base = join(tmp, 'status-base.db')
const big = join(tmp, 'status-10x.db')
{
  const l = new EmbeddedLog(db) // opening and closing folds the WAL into the file
  l.close()
  copyFileSync(db, base)
  copyFileSync(db, big)
}
const counts: Record<string, { dlq: number, scored: number, bytes: number }> = {}
{
  const l = new EmbeddedLog(big)
  for (const name of ['deadLetters', 'scoredInstructions'] as const) {
    const topic = topicName(name, PREFIX)
    const rows = [...l.scan(topic)]
    for (let copy = 1; copy < 10; copy++) l.append(rows.map((r) => ({ topic, key: `${r.key ?? 'none'}~copy${copy}`, value: r.value })))
  }
  l.close()
}
for (const [name, file] of [['as made', base], ['10x', big]] as const) {
  const l = new EmbeddedLog(file)
  counts[name] = { dlq: l.head(topicName('deadLetters', PREFIX)), scored: l.head(topicName('scoredInstructions', PREFIX)), bytes: statSync(file).size }
  l.close()
}

note(`bench: (c) ${COLD} collectors × 2 databases, ${WARM} warm collects each…`)
const emptyRunDir = join(tmp, 'run')
mkdirSync(emptyRunDir)
const cold = new Map<string, number[]>([['as made', []], ['10x', []]])
const warm = new Map<string, number[]>([['as made', []], ['10x', []]])
let snapshotSummary = ''
for (let r = 0; r < COLD; r++) {
  const order: Array<['as made' | '10x', string]> = [['as made', base], ['10x', big]]
  for (const [name, file] of (r % 2 ? order.reverse() : order)) {
    const c = new StatusCollector({ runner: 'embedded', db: file, prefix: PREFIX, runDir: emptyRunDir }, logger)
    const t0 = performance.now()
    const s = await c.collect()
    cold.get(name)!.push(performance.now() - t0)
    const ms: number[] = []
    for (let i = 0; i < WARM; i++) {
      const t1 = performance.now()
      await c.collect()
      ms.push(performance.now() - t1)
    }
    warm.get(name)!.push(median(ms))
    await c.close()
    if (name === 'as made' && !snapshotSummary) {
      snapshotSummary = `${s.stages.length} stages, ${s.topics.length} topics, ${s.stages.reduce((n, st) => n + st.deadLetters, 0)} dead letters counted, sample ${s.sample?.size ?? 0} of K ${s.sample?.k ?? 0} in ${s.sample?.topics.length ?? 0} topics, ${s.latest.length} latest`
    }
  }
}

// --- report ------------------------------------------------------------------------------------

const MiB = 1048576
out(`ops bench: Node ${process.version}${startSeconds !== undefined ? `; database built by synthq start --until-idle in ${fmt(startSeconds, 1)} s` : `; database copied from ${process.env.BENCH_DB}`}`)
out('')
out(`(a) StageEngine, pass-through processor, ${fmt(M)} encoded synthq.Document records (${fmt(avgBytes)} bytes avg), one at a time, ${ROUNDS} rounds alternating`)
for (const n of names) {
  const label = { none: 'no subscriber', noop: 'no-op subscriber', metrics: 'PipelineMetrics subscribed' }[n]
  out(`    ${label.padEnd(26)} ${fmt(median(rates.get(n)!)).padStart(7)} records/s  (${fmt(1e6 / median(rates.get(n)!), 1)} µs/record; rounds ${rates.get(n)!.map((x) => fmt(x)).join(' ')})`)
}
out(`    ratio PipelineMetrics / none  ${median(ratioMetrics).toFixed(3)}x   (rounds ${ratioMetrics.map((x) => x.toFixed(3)).join(' ')})`)
out(`    ratio no-op / none            ${median(ratioNoop).toFixed(3)}x   (rounds ${ratioNoop.map((x) => x.toFixed(3)).join(' ')})`)
out(`    publish to PipelineMetrics alone: ${fmt(observeNs)} ns per call (${fmt(CALLS)} calls); two performance.now(): ${fmt(nowPairNs)} ns`)
out('')
out(`(b) scrape: await metrics.text(), 8 stages (2 runners), 6 LLM stages, histograms filled; ${SCRAPES} scrapes each, alternating`)
for (const [name, ms] of scrapeMs) {
  out(`    ${name.padEnd(30)} p50 ${fmt(quantile(ms, 0.5), 2)} ms, p95 ${fmt(quantile(ms, 0.95), 2)} ms, max ${fmt(Math.max(...ms), 2)} ms; ${fmt(scrapeBytes.get(name)!)} bytes`)
}
out(`    ${fmt(seriesOf(lastText))} series, ${fmt(lastText.split('\n').filter((l) => l.startsWith('# TYPE')).length)} metric families`)
if (realScrape) out(`    the real synthq start process at the end of its run: ${fmt(Buffer.byteLength(realScrape))} bytes, ${fmt(seriesOf(realScrape))} series`)
out('')
out(`(c) StatusCollector.collect() on the embedded database (${snapshotSummary})`)
for (const name of ['as made', '10x'] as const) {
  const c = counts[name]!
  out(`    ${name.padEnd(8)} ${fmt(c.bytes / MiB, 1).padStart(5)} MiB, ${fmt(c.dlq).padStart(5)} dead letters, ${fmt(c.scored).padStart(6)} scored: cold ${fmt(median(cold.get(name)!), 1).padStart(6)} ms (${cold.get(name)!.map((x) => fmt(x)).join(' ')}), warm ${fmt(median(warm.get(name)!), 2)} ms`)
}
out(`    ratio 10x / as made: cold ${(median(cold.get('10x')!) / median(cold.get('as made')!)).toFixed(2)}x, warm ${(median(warm.get('10x')!) / median(warm.get('as made')!)).toFixed(2)}x; cold / warm (as made) ${(median(cold.get('as made')!) / median(warm.get('as made')!)).toFixed(0)}x`)
out('')
out(`(${fmt((performance.now() - started) / 1000)} s in all)`)
rmSync(tmp, { recursive: true, force: true })
