/**
 * `synthq ingest` throughput: records/s of src/cli/ingest.ts `runIngest` (the command itself,
 * stdout and stderr captured) over the same 20,000 documents in each input format, and into each
 * target; then the memory of the streaming readers on a larger file.
 *
 *   npm run infra:up && npm run bench:ingest     (Kafka and the registry for the Kafka row only;
 *                                                 BENCH_KAFKA=0 leaves it out)
 *
 * Input: N documents (BENCH_N, default 20,000) made from the 600 real C4 pages of
 * data/web/c4-en-validation-600.jsonl: document i is page i mod 600 with its paragraphs rotated
 * by ⌊i / 600⌋ and one paragraph of another page appended, so texts (and with them the c4
 * preset's content-hash ids) are all distinct while length and vocabulary stay C4's (~2.3 kB of
 * text each); fields text, url, timestamp as in C4, read with --preset c4. Written once, before
 * timing, as JSONL, gzip'd JSONL, a JSON array and Parquet (hyparquet-writer's defaults: snappy,
 * row groups of 1,000 rows, then 100,000).
 *
 * Rows, all through runIngest with --preset c4 and the default batch of 500:
 *   dry-run <format>   --dry-run: reading, parsing, mapping and Avro validation only
 *   embedded           --runner embedded into a fresh SQLite database (each round a new file)
 *   embedded again     the same file again into that database: every record a duplicate
 *   kafka              --runner kafka under a fresh topic prefix (new topic of 6 partitions,
 *                      transactional producer, exactly-once batches; keys of the empty topic read)
 * records/s: records read / the ingest loop's own time (the `seconds` of its summary, as the
 * command prints it); "wall" adds what runIngest does around it (opening the database, or
 * creating the Kafka topic, fencing the producer and reading the topic's keys). Rounds
 * (BENCH_ROUNDS, default 5) alternate the order of the rows; figures are medians over rounds and
 * ratios are medians of the per-round ratios.
 *
 * Memory (BENCH_MEMORY_N, default 100,000 records; 0 skips): each reader in a fresh child process
 * (node --expose-gc) ingesting with --dry-run, at N and at the larger size: the peaks of RSS and of
 * heap + array buffers, sampled every 10 ms, and of the live heap + array buffers (sampled after a
 * forced full GC every 100 ms: garbage the collector had not yet reclaimed left out), each above
 * the child's figure before ingesting, against the file's size. (maxRSS is not used: on Linux a
 * spawned child reports its parent's peak until it exceeds it.) Sampling needs the event loop to
 * turn: Parquet decodes a whole row group in one synchronous step, so its samples can miss the
 * peak. The decisive column is therefore the last: the larger file ingested once more with the
 * heap capped (--max-old-space-size, BENCH_HEAP_CAP, default 128 MiB) — ok, or out of memory.
 * Parquet twice: with
 * hyparquet-writer's default row groups (1,000 then 100,000 rows: at 100k almost the whole file is
 * one group) and with row groups of 5,000 — the reader holds one row group at a time.
 */
import { spawnSync } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { parquetWriteFile } from 'hyparquet-writer'
import { Kafka, logLevel } from 'kafkajs'
import { runIngest } from '../src/cli/ingest.ts'
import { createLogger } from '../src/log.ts'
import { benchInfra } from './_infra.ts'

const out = (s: string): void => { process.stdout.write(`${s}\n`) }
const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2 }
const MiB = 1048576
const logger = createLogger({ level: 'silent' })

interface Summary { read: number, ingested: number, duplicates: number, rejected: number, errors: number, seconds: number }

/** runIngest with its output captured; throws unless it exits 0. */
async function ingest (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Summary & { wall: number }> {
  let stdout = ''
  let stderr = ''
  const t0 = performance.now()
  const code = await runIngest([...args, '--json'], { db: '/nonexistent/synthq.db' }, logger, {
    stdout: { write: (s: string) => { stdout += s } },
    stderr: { write: (s: string) => { stderr += s }, isTTY: false },
    env,
    signal: new AbortController().signal,
  })
  const wall = (performance.now() - t0) / 1000
  if (code !== 0) throw new Error(`synthq ingest ${args.join(' ')} exited ${code}: ${stderr}`)
  return { ...(JSON.parse(stdout) as Summary), wall }
}

// --- memory child ------------------------------------------------------------------------------

if (process.argv[2] === '--memory-child') {
  const file = process.argv[3]!
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.(); gc?.()
  const m0 = process.memoryUsage()
  const heap0 = m0.heapUsed + m0.arrayBuffers
  let peakRss = m0.rss
  let peakHeap = heap0
  let peakLive = heap0
  let tick = 0
  const sample = (): void => {
    // Every 10th sample (~100 ms) after a full GC: what is really held, garbage left out.
    if (gc && ++tick % 10 === 0) gc()
    const m = process.memoryUsage()
    peakRss = Math.max(peakRss, m.rss)
    peakHeap = Math.max(peakHeap, m.heapUsed + m.arrayBuffers)
    if (gc && tick % 10 === 0) peakLive = Math.max(peakLive, m.heapUsed + m.arrayBuffers)
  }
  const timer = setInterval(sample, 10)
  const s = await ingest([file, '--preset', 'c4', '--dry-run', '--rejects', join(tmpdir(), `synthq-bench-ingest-rejects-${process.pid}.jsonl`)])
  clearInterval(timer)
  process.stdout.write(JSON.stringify({ read: s.read, seconds: s.seconds, rss0: m0.rss, peakRss, heap0, peakHeap, peakLive }) + '\n')
  process.exit(0)
}

// --- input ---------------------------------------------------------------------------------------

const N = Number(process.env.BENCH_N ?? 20_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const MEMORY_N = Number(process.env.BENCH_MEMORY_N ?? 100_000)
const HEAP_CAP_MIB = Number(process.env.BENCH_HEAP_CAP ?? 128)
const KAFKA = !/^(0|false|no)$/i.test(process.env.BENCH_KAFKA ?? '')

interface C4Row { text: string, url: string, timestamp: string }
const C4 = readFileSync(new URL('../data/web/c4-en-validation-600.jsonl', import.meta.url), 'utf8')
  .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as C4Row)
const PARAS = C4.map((r) => r.text.split('\n').filter((p) => p.trim()))

/** Document i: page i mod 600, paragraphs rotated, one paragraph of another page appended; texts distinct (checked). */
function* documents (n: number): Generator<C4Row> {
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) {
    const page = i % C4.length
    const round = Math.floor(i / C4.length)
    const paras = PARAS[page]!
    const k = round % paras.length
    const rotated = [...paras.slice(k), ...paras.slice(0, k)]
    let text: string
    for (let j = 0; ; j++) {
      const other = PARAS[(page * 7 + round * 13 + j * 101 + 1) % C4.length]!
      const candidate = [...rotated, other[(round + j) % other.length]!].join('\n')
      if (!seen.has(candidate)) { seen.add(candidate); text = candidate; break }
    }
    yield { text, url: `${C4[page]!.url}${round ? `?p=${round}` : ''}`, timestamp: C4[page]!.timestamp }
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'synthq-bench-ingest-'))

async function writeLines (path: string, lines: Iterable<string>): Promise<void> {
  const w = createWriteStream(path)
  for (const l of lines) if (!w.write(l)) await new Promise<void>((r) => w.once('drain', () => r()))
  await new Promise<void>((resolve, reject) => w.end((err?: Error | null) => (err ? reject(err) : resolve())))
}

/** The n documents in every format; returns the paths. */
async function writeInputs (n: number, formats: readonly string[]): Promise<Record<string, string>> {
  const paths: Record<string, string> = {}
  const dir = join(tmp, `n${n}`)
  mkdirSync(dir, { recursive: true })
  const docs = [...documents(n)]
  if (formats.includes('jsonl') || formats.includes('jsonl.gz')) {
    paths.jsonl = join(dir, 'docs.jsonl')
    await writeLines(paths.jsonl, (function* () { for (const d of docs) yield JSON.stringify(d) + '\n' })())
    if (formats.includes('jsonl.gz')) {
      paths['jsonl.gz'] = join(dir, 'docs.jsonl.gz')
      writeFileSync(paths['jsonl.gz'], gzipSync(readFileSync(paths.jsonl)))
    }
  }
  if (formats.includes('json')) {
    paths.json = join(dir, 'docs.json')
    await writeLines(paths.json, (function* () { yield '['; for (const [i, d] of docs.entries()) yield (i ? ',\n' : '\n') + JSON.stringify(d); yield '\n]\n' })())
  }
  const columns = (): Array<{ name: string, data: string[], type: 'STRING' }> => [
    { name: 'text', data: docs.map((d) => d.text), type: 'STRING' },
    { name: 'url', data: docs.map((d) => d.url), type: 'STRING' },
    { name: 'timestamp', data: docs.map((d) => d.timestamp), type: 'STRING' },
  ]
  if (formats.includes('parquet')) {
    paths.parquet = join(dir, 'docs.parquet')
    parquetWriteFile({ filename: paths.parquet, columnData: columns() })
  }
  if (formats.includes('parquet-5k')) {
    paths['parquet-5k'] = join(dir, 'docs-5k.parquet')
    parquetWriteFile({ filename: paths['parquet-5k'], columnData: columns(), rowGroupSize: 5000 })
  }
  return paths
}

// --- throughput --------------------------------------------------------------------------------

const FORMATS = ['jsonl', 'jsonl.gz', 'json', 'parquet'] as const
const t0 = performance.now()
const inputs = await writeInputs(N, MEMORY_N > 0 ? [...FORMATS, 'parquet-5k'] : FORMATS)
const infra = KAFKA ? benchInfra() : undefined
const kafkaEnv: NodeJS.ProcessEnv = infra ? { ...process.env, SYNTHQ_KAFKA_BROKERS: infra.brokers.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl } : process.env
const rejects = join(tmp, 'rejects.jsonl')
const runTag = `bench-ingest-${Date.now().toString(36)}`
const kafkaPrefixes: string[] = []

out(`ingest bench: ${fmt(N)} C4-like documents (${fmt(statSync(inputs.jsonl!).size / N)} bytes per JSON line), --preset c4, batches of 500, ${ROUNDS} rounds; Node ${process.version}`)
out(`files: ${FORMATS.map((f) => `${f} ${fmt(statSync(inputs[f]!).size / MiB, 1)} MiB`).join(', ')} (written in ${fmt((performance.now() - t0) / 1000, 1)} s)`)
if (infra) out(`kafka: ${infra.brokers.join(',')}, registry ${infra.registryUrl}`)
out('')

type Row = `dry-run ${typeof FORMATS[number]}` | 'embedded' | 'embedded again' | 'kafka'
const ROWS: Row[] = [...FORMATS.map((f) => `dry-run ${f}` as Row), 'embedded', 'embedded again', ...(infra ? ['kafka' as Row] : [])]
const rate = new Map<Row, number[]>(ROWS.map((r) => [r, []]))
const wallRate = new Map<Row, number[]>(ROWS.map((r) => [r, []]))
const ratios = new Map<string, number[]>()
const addRatio = (name: string, v: number): void => { ratios.set(name, [...(ratios.get(name) ?? []), v]) }

type Contender = { name: string, run: (round: number) => Promise<Array<[Row, Summary & { wall: number }]>> }
const contenders: Contender[] = [
  ...FORMATS.map((f): Contender => ({ name: `dry-run ${f}`, run: async () => [[`dry-run ${f}`, await ingest([inputs[f]!, '--preset', 'c4', '--dry-run', '--rejects', rejects])]] })),
  {
    name: 'embedded',
    run: async (round) => {
      const db = join(tmp, `embedded-${round}.db`)
      const args = [inputs.jsonl!, '--preset', 'c4', '--runner', 'embedded', '--db', db, '--rejects', rejects]
      const first = await ingest(args)
      const again = await ingest(args)
      if (first.ingested !== N || again.duplicates !== N) throw new Error(`embedded: ingested ${first.ingested}, then ${again.duplicates} duplicates (expected ${N} and ${N})`)
      rmSync(db, { force: true }); rmSync(`${db}-wal`, { force: true }); rmSync(`${db}-shm`, { force: true })
      return [['embedded', first], ['embedded again', again]]
    },
  },
  ...(infra
    ? [{
        name: 'kafka',
        run: async (round: number) => {
          const prefix = `${runTag}-${round}`
          kafkaPrefixes.push(prefix)
          const r = await ingest([inputs.jsonl!, '--preset', 'c4', '--runner', 'kafka', '--prefix', prefix, '--rejects', rejects], kafkaEnv)
          if (r.ingested !== N) throw new Error(`kafka: ingested ${r.ingested} of ${N}`)
          return [['kafka', r] as [Row, Summary & { wall: number }]]
        },
      }]
    : []),
]

// One warm-up pass (module loading, JIT, the first Kafka connection) outside the figures.
await ingest([inputs.jsonl!, '--preset', 'c4', '--dry-run', '--rejects', rejects])

for (let round = 0; round < ROUNDS; round++) {
  const got = new Map<Row, Summary & { wall: number }>()
  for (const c of (round % 2 ? [...contenders].reverse() : contenders)) {
    for (const [row, s] of await c.run(round)) {
      if (s.read !== N || s.rejected !== 0) throw new Error(`${row}: read ${s.read}, rejected ${s.rejected}`)
      got.set(row, s)
      rate.get(row)!.push(s.read / s.seconds)
      wallRate.get(row)!.push(s.read / s.wall)
    }
  }
  const r = (row: Row): number => got.get(row)!.read / got.get(row)!.seconds
  for (const f of FORMATS.slice(1)) addRatio(`dry-run ${f} / dry-run jsonl`, r(`dry-run ${f}`) / r('dry-run jsonl'))
  addRatio('embedded / dry-run jsonl', r('embedded') / r('dry-run jsonl'))
  if (infra) addRatio('kafka / dry-run jsonl', r('kafka') / r('dry-run jsonl'))
  if (infra) addRatio('kafka / embedded', r('kafka') / r('embedded'))
  addRatio('embedded again (all duplicates) / embedded', r('embedded again') / r('embedded'))
  process.stderr.write(`round ${round + 1}/${ROUNDS}: ${ROWS.map((row) => `${row} ${fmt(r(row))}/s`).join(', ')}\n`)
}

for (const row of ROWS) {
  out(`${row.padEnd(22)} ${fmt(median(rate.get(row)!)).padStart(7)} records/s   (wall ${fmt(median(wallRate.get(row)!)).padStart(7)} records/s; rounds ${rate.get(row)!.map((x) => fmt(x)).join(' ')})`)
}
out('')
for (const [name, xs] of ratios) out(`ratio ${name.padEnd(44)} ${median(xs).toFixed(2)}x   (rounds ${xs.map((x) => x.toFixed(2)).join(' ')})`)

if (kafkaPrefixes.length && infra) {
  // The bench's topics are of no further use: delete them.
  const admin = new Kafka({ brokers: infra.brokers, logLevel: logLevel.NOTHING }).admin()
  try {
    await admin.connect()
    const topics = (await admin.listTopics()).filter((t) => kafkaPrefixes.some((p) => t.startsWith(`${p}.`)))
    if (topics.length) await admin.deleteTopics({ topics })
  } catch (err) {
    process.stderr.write(`bench: could not delete the bench's topics: ${(err as Error).message}\n`)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

// --- memory --------------------------------------------------------------------------------------

if (MEMORY_N > 0) {
  out('')
  out(`memory: --dry-run in a fresh process per row; peaks above the process before ingesting of RSS and heap + array buffers (sampled every 10 ms) and of live heap + array buffers (after a full GC, every 100 ms)`)
  const self = fileURLToPath(import.meta.url)
  const MEM_FORMATS = ['jsonl', 'json', 'parquet', 'parquet-5k'] as const
  const label: Record<typeof MEM_FORMATS[number], string> = { jsonl: 'jsonl', json: 'json array', parquet: 'parquet (default groups)', 'parquet-5k': 'parquet (5,000-row groups)' }
  const sizes = [...new Set([N, MEMORY_N])]
  const files = new Map<number, Record<string, string>>()
  for (const n of sizes) files.set(n, n === N ? inputs : await writeInputs(n, MEM_FORMATS))
  for (const f of MEM_FORMATS) {
    const parts: string[] = []
    for (const n of sizes) {
      const file = files.get(n)![f]!
      const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--memory-child', file], { encoding: 'utf8', maxBuffer: 16 * MiB })
      if (child.status !== 0) throw new Error(`memory child for ${file} failed: ${child.stderr}`)
      const m = JSON.parse(child.stdout.trim().split('\n').pop()!) as { read: number, seconds: number, rss0: number, peakRss: number, heap0: number, peakHeap: number, peakLive: number }
      if (m.read !== n) throw new Error(`memory child read ${m.read} of ${n}`)
      const size = statSync(file).size
      parts.push(`${fmt(n).padStart(7)} records, file ${fmt(size / MiB, 1).padStart(5)} MiB: RSS +${fmt((m.peakRss - m.rss0) / MiB).padStart(4)} MiB, heap +${fmt((m.peakHeap - m.heap0) / MiB).padStart(4)} MiB, live +${fmt((m.peakLive - m.heap0) / MiB).padStart(4)} MiB`)
    }
    // The decisive test: does the largest file go through with the old-generation heap capped?
    const capped = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_CAP_MIB}`, '--expose-gc', '--import', 'tsx', self, '--memory-child', files.get(MEMORY_N)![f]!], { encoding: 'utf8', maxBuffer: 16 * MiB })
    parts.push(`heap capped at ${HEAP_CAP_MIB} MiB: ${capped.status === 0 ? 'ok' : /heap out of memory|Allocation failed/i.test(capped.stderr) ? 'OUT OF MEMORY' : `failed (exit ${capped.status ?? capped.signal})`}`)
    out(`${label[f].padEnd(27)} ${parts.join('   |   ')}`)
  }
}

out('')
out(`(${fmt((performance.now() - t0) / 1000)} s in all)`)
rmSync(tmp, { recursive: true, force: true })
