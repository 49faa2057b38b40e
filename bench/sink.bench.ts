/**
 * The sink stage's processor (src/processors/sink/topic-balanced-sink.ts) end to end: records/s
 * through filter, dedup, embeddings, online topics and the topic-balanced reservoir, for
 * K = 100,000 and K = 1,000,000; heap held per kept item; the gzip checkpoint's size and the time
 * snapshot() and restore() take.
 *
 *   node --expose-gc --import tsx bench/sink.bench.ts     (tsx bench/sink.bench.ts works too;
 *                                                          --expose-gc makes the memory figures exact)
 *
 * Where the vectors come from, one configuration per row:
 *   http         the stage's /v1/embeddings through LlmClient over HTTP, against the LLM simulator
 *                (src/llm/sim, profile instant: zero latency, in this process — so its own work,
 *                hashing the texts into vectors, is in the figure); response cache off
 *   http+cache   the same with the response cache on, in a SQLite file in a temp dir: every text is
 *                new, so each batch is a cache miss whose vectors are then written to the cache
 *   precomputed  the simulator's vectors for the batch computed before processBatch, outside the
 *                timed part: the sink alone (dedup, topics, reservoir, labels, lineage, Vendi probe)
 *   lexical      vectors: 'lexical', hashed words made inside the sink (timed)
 *
 * Input: scored instructions as the sink reads them (synthq.ScoredInstruction, lineage with two
 * upstream steps), 256 to a batch, one partition. The instruction texts are 24 templates × a C4
 * document (data/web/c4-en-validation-600.jsonl) × 3 of its 16 most frequent content words × one
 * of its sentences, drawn by an injective scramble of the record number, so they form topics and
 * do not repeat: ids are distinct by construction, and so were the texts in a run with a
 * 10,000,000-item filter (it dropped none of 1,200,000), so "dropped as duplicates" counts the
 * duplicate filter's false positives. Totals like the paper's (7: 45 %, 6: 39 %, 5: 13 %, 3–4: 3 %). Records are
 * built outside the timed part.
 *
 * A row runs until its stream ends or its time inside processBatch passes a limit (the sink
 * is CPU-bound at a few thousand records/s, so a stream longer than K = 1,000,000 takes minutes
 * per row); every row says how many records it was offered. Topics keep forming as the stream
 * goes on and topic assignment costs more with more topics, so the ratios compare each row's
 * rate over the first N records, N the shortest row's length at that K.
 *
 * records/s: records offered / time inside processBatch (the embeddings request included).
 * held: heap + array buffers after GC, after the run, minus before the sink was made; it includes
 * the duplicate filter's bit array, whose size depends on its capacity, not on K (the default
 * 1,000,000 items at 1e-5: 2.9 MiB), so "held − filter" is shown too. The LLM client's SQLite (ledger, cache) is native memory and
 * not counted. snapshot: snapshot()'s gzip checkpoint, and how much of it the duplicate filter
 * is (gzipped alone); restore(): into a new sink. event-loop delay: perf_hooks'
 * monitorEventLoopDelay over the row's batches and snapshot(); the last line is the worst row's
 * p99 and max at the smallest K run (K = 100,000 by default), the figure issue 15 asks to keep
 * under 50 ms. Batches follow one another without a pause here, so this is a stricter
 * figure than bench:sink-loop's, whose runner-like loop leaves a turn between batches.
 *
 * BENCH_RECORDS (default 150,000) and BENCH_SECONDS (default 70) bound the K = 100,000 rows;
 * BENCH_RECORDS_1M (default 1,500,000) and BENCH_SECONDS_1M (default 30) the K = 1,000,000 rows;
 * BENCH_CONFIGS and BENCH_CONFIGS_1M (default http,http+cache,precomputed,lexical and
 * http,precomputed,lexical) choose the rows. BENCH_QUICK=1 divides K, lengths and limits by 10
 * (~45 s). The defaults take ~6 minutes on the 2-core development machine.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { gzipSync } from 'node:zlib'
import { LlmClient, StageLlm, type EmbedRequest, type EmbedResult } from '../src/llm/client.ts'
import { resolveLlmSettings, type EndpointSettings } from '../src/llm/config.ts'
import { embed as simEmbed } from '../src/llm/sim/embeddings.ts'
import { startLlmSim } from '../src/llm/sim/server.ts'
import { STOPWORDS } from '../src/llm/sim/text.ts'
import { createLogger } from '../src/log.ts'
import type { Lineage } from '../src/processors/lineage.ts'
import type { InputRecord, ProcessorContext } from '../src/processors/processor.ts'
import { DEFAULT_SINK_OPTIONS, readSinkState, topicBalancedSink, type ScoredInstructionValue, type SinkOptions, type TopicBalancedSink } from '../src/processors/sink/topic-balanced-sink.ts'
import { BloomFilter } from '../src/sink/dedup/index.ts'
import { vendiScore } from '../src/sink/diversity/index.ts'
import { LexicalVectorizer } from '../src/sink/clusters/index.ts'
import { sinkBenchContext, statefulOf } from './_sink-context.ts'

type Config = 'http' | 'http+cache' | 'precomputed' | 'lexical'

const QUICK = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '')
const SCALE = QUICK ? 10 : 1
const num = (name: string, dflt: number): number => Number(process.env[name] ?? dflt) / SCALE
const configs = (name: string, dflt: string): Config[] => (process.env[name] ?? dflt).split(',').filter((c) => c) as Config[]
const RUNS: Array<{ k: number, records: number, seconds: number, configs: Config[] }> = [
  { k: 100_000 / SCALE, records: Math.round(num('BENCH_RECORDS', 150_000)), seconds: num('BENCH_SECONDS', 70), configs: configs('BENCH_CONFIGS', 'http,http+cache,precomputed,lexical') },
  { k: 1_000_000 / SCALE, records: Math.round(num('BENCH_RECORDS_1M', 1_500_000)), seconds: num('BENCH_SECONDS_1M', 30), configs: configs('BENCH_CONFIGS_1M', 'http,precomputed,lexical') },
]
const BATCH = 256
/** Production checkpoints at least every 20,000 records (pipeline.sink.checkpointRecords). */
const CHECKPOINT_RECORDS = 20_000
const out = (s: string): void => { process.stdout.write(`${s}\n`) }
const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const gc = (globalThis as { gc?: () => void }).gc
const heap = (): number => { gc?.(); gc?.(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
const MiB = 1048576

// --- input -------------------------------------------------------------------------------

const C4 = readFileSync(new URL('../data/web/c4-en-validation-600.jsonl', import.meta.url), 'utf8')
  .split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { text: string }).text)

const WORDS_PER_DOC = 16
/** Per document: its most frequent content words and its sentences of 6–30 words. */
const DOCS = C4.map((text) => {
  const counts = new Map<string, number>()
  for (const m of text.toLowerCase().matchAll(/\p{L}{4,}/gu)) if (!STOPWORDS.has(m[0])) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1)
  const words = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, WORDS_PER_DOC).map(([w]) => w)
  const sentences = text.split(/(?<=[.!?])\s+|\n+/).map((s) => s.trim()).filter((s) => { const n = s.split(/\s+/).length; return n >= 6 && n <= 30 })
  return { words, sentences }
}).filter((d) => d.words.length === WORDS_PER_DOC && d.sentences.length >= 4)

const TEMPLATES = [
  'Explain how {a} relates to {b} and {c}, using this as the starting point: "{s}"',
  'Write a short guide for a beginner on {a}, covering {b} and {c}. Context: {s}',
  'I read that "{s}" What does this mean for {a}, and how do {b} and {c} fit in?',
  'Compare {a} with {b} for someone deciding about {c}. Background: {s}',
  'Summarise the key points about {a}, {b} and {c} in three bullet points. Source sentence: "{s}"',
  'Draft an email to a colleague about {a} that mentions {b} and asks about {c}. Use this detail: {s}',
  'What are common mistakes people make with {a} when dealing with {b} or {c}? Consider: "{s}"',
  'Create a checklist for planning around {a}, {b} and {c}, given that {s}',
  'As a customer, I saw "{s}" Write three questions I should ask about {a}, {b} and {c}.',
  'Rewrite the following for a general audience, keeping {a}, {b} and {c}: "{s}"',
  'Give a step-by-step plan to improve {a} with attention to {b} and {c}. Note: {s}',
  'Is it true that {s} Explain the role of {a}, {b} and {c} in your answer.',
  'Write a product description that highlights {a}, {b} and {c}, inspired by: "{s}"',
  'List the pros and cons of {a} versus {c}, taking {b} into account. Here is some context: {s}',
  'How would you teach a child about {a}? Mention {b} and {c}, and use this example: "{s}"',
  'Write a social media post announcing news about {a}, {b} and {c}, based on: {s}',
  'Propose a weekend project involving {a} and {b}; budget for {c}. Start from this: "{s}"',
  'A friend says "{s}" Respond politely and explain what you know about {a}, {b} and {c}.',
  'Outline a blog article titled "{A}: what to know about {b} and {c}", drawing on: {s}',
  'Which questions should a reporter ask about {a}, {b} and {c} after reading "{s}"?',
  'Turn this into a short FAQ with entries on {a}, {b} and {c}: "{s}"',
  'Estimate the time and cost of getting started with {a}, {b} and {c}. Relevant fact: {s}',
  'Describe a typical day for someone who works with {a}, {b} and {c}, given that {s}',
  'Write a polite complaint about {a} that refers to {b} and {c} and quotes: "{s}"',
]

const R_T = TEMPLATES.length
const R_D = DOCS.length
const R_W = WORDS_PER_DOC * (WORDS_PER_DOC - 1) * (WORDS_PER_DOC - 2)
const R_S = 4
const SPACE = R_T * R_D * R_W * R_S

/** An injective scramble of 0 … SPACE−1 (multiplication by a unit mod SPACE), as a bigint-free mulmod. */
const MULT = (() => { let a = Math.floor(SPACE * 0.6180339887) | 1; while (gcd(a, SPACE) !== 1) a += 2; return a })()
function gcd (a: number, b: number): number { while (b) [a, b] = [b, a % b]; return a }
function mulmod (a: number, b: number, m: number): number {
  let r = 0
  a %= m
  while (b > 0) {
    if (b & 1) r = (r + a) % m
    a = (a * 2) % m
    b = Math.floor(b / 2)
  }
  return r
}

function instructionText (i: number): string {
  let x = mulmod(i, MULT, SPACE)
  const t = x % R_T; x = Math.floor(x / R_T)
  const d = DOCS[x % R_D]!; x = Math.floor(x / R_D)
  let w = x % R_W; x = Math.floor(x / R_W)
  const s = d.sentences[Math.floor((x % R_S) * d.sentences.length / R_S)]!
  const w1 = w % WORDS_PER_DOC; w = Math.floor(w / WORDS_PER_DOC)
  const rest = d.words.filter((_, j) => j !== w1)
  const w2 = w % (WORDS_PER_DOC - 1); w = Math.floor(w / (WORDS_PER_DOC - 1))
  const rest2 = rest.filter((_, j) => j !== w2)
  const [a, b, c] = [d.words[w1]!, rest[w2]!, rest2[w]!]
  return TEMPLATES[t]!.replace('{A}', a[0]!.toUpperCase() + a.slice(1)).replace('{a}', a).replace('{b}', b).replace('{c}', c).replace('{s}', s)
}

/** Totals like the paper's: 7: 45 %, 6: 39 %, 5: 13 %, 4: 2 %, 3: 1 % (a hash of i, deterministic). */
function totalOf (i: number): number {
  const u = (Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0) % 1000
  return u < 450 ? 7 : u < 840 ? 6 : u < 970 ? 5 : u < 990 ? 4 : 3
}

const T0 = 1_764_000_000_000
const CRITERIA = ['clarity', 'feasibility', 'groundedness', 'helpfulness', 'specificity', 'safety', 'originality']

function record (i: number): InputRecord<ScoredInstructionValue> {
  const id = `inst-${String(i).padStart(9, '0')}`
  const total = totalOf(i)
  const lineage: Lineage = {
    stage: 'scoring', run_id: 'bench',
    upstream: [{ topic: 'synthq.instructions.synthesized', id, partition: 0, offset: i }],
    prompt: { id: 'scoring', version: '1' }, model: { endpoint: 'sim', name: 'sim-chat-8b' },
    demonstration_ids: [], sampling_seed: null, simulated: true, source_created_at: T0, created_at: T0 + i,
    steps: [
      { stage: 'situation-envisioning', record_id: `sit-${i >> 2}`, prompt: { id: 'situation', version: '1' }, model: { endpoint: 'sim', name: 'sim-chat-8b' } },
      { stage: 'instruction-generation', record_id: id, prompt: { id: 'instruction', version: '1' }, model: { endpoint: 'sim', name: 'sim-chat-8b' } },
    ],
    usage: { prompt_tokens: 310, completion_tokens: 270, cached: false },
  }
  const value: ScoredInstructionValue = {
    id, instruction: instructionText(i), situation_id: `sit-${i >> 2}`,
    document: { id: `c4-${(i >> 3) % 600}`, url: null, title: null, corpus: 'c4' },
    scene: 'A reader of the document wants practical help.', query_compositions: { task: 'explain' },
    criteria: Object.fromEntries(CRITERIA.map((c, j) => [c, { analysis: 'ok', score: j < total ? 1 : 0 }])),
    total, lineage,
  }
  return { topic: 'scoredInstructions', key: id, value, partition: 0, offset: String(i), timestamp: T0 + i }
}

// --- the LLM side --------------------------------------------------------------------------

const logger = createLogger({ level: 'silent' })
const sim = await startLlmSim({ profile: 'instant' })
const endpoint: EndpointSettings = { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 256, initialConcurrency: 16, adaptiveConcurrency: true }
const tmp = mkdtempSync(join(tmpdir(), 'synthq-bench-sink-'))

function client (cache: boolean): LlmClient {
  const settings = resolveLlmSettings({
    stages: ['sink'], embeddingStages: ['sink'], env: {}, file: { cache: { enabled: cache } },
    fallbackEndpoint: endpoint, fallbackModel: 'sim-chat-8b', fallbackEmbeddingModel: 'sim-embed-small',
  })
  return new LlmClient({ settings, logger, ...(cache ? { dbPath: join(tmp, `llm-${Date.now()}.db`) } : {}) })
}

/** The stage's LLM with embed() timed; `precomputed` answers with the vectors queue() computed. */
class TimedLlm extends StageLlm {
  embedMs = 0
  readonly #precomputed: boolean
  constructor (c: LlmClient, precomputed: boolean) {
    super(c, c.stage('sink').settings)
    this.#precomputed = precomputed
  }

  override async embed (req: EmbedRequest): Promise<EmbedResult> {
    if (this.#precomputed) {
      // The sink embeds what passed dedup, in order: pick those texts' vectors.
      const byText = this.#byText
      const vectors = req.texts.map((t) => byText.get(t)!)
      return { vectors, model: this.settings.model, endpoint: 'precomputed', simulated: true, cached: vectors.length, requests: 0 }
    }
    const t0 = performance.now()
    const r = await super.embed(req)
    this.embedMs += performance.now() - t0
    return r
  }

  #byText = new Map<string, Float32Array>()
  queue (texts: string[]): void {
    this.#byText = new Map(texts.map((t) => [t, Float32Array.from(simEmbed(t))]))
  }
}

const context = (llm?: StageLlm): ProcessorContext => sinkBenchContext(logger, llm)
const stateful = statefulOf

// --- runs ----------------------------------------------------------------------------------

interface Result {
  config: Config, k: number, records: number, stopped: boolean, secs: number, embedSecs: number, held: number, kept: number, topics: number, evicted: number, dupId: number, dupText: number,
  snapBytes: number, dedupBytes: number, snapMs: number, restoreMs: number,
  /** Event-loop delay over the batches and snapshot(), ns (perf_hooks.monitorEventLoopDelay). */
  loopP99: number, loopMax: number,
  /** Time inside processBatch after each batch, ms (for rates over a common prefix). */
  cumulative: number[]
}

async function run (k: number, records: number, seconds: number, config: Config): Promise<Result> {
  const c = config === 'lexical' ? undefined : client(config === 'http+cache')
  const llm = c ? new TimedLlm(c, config === 'precomputed') : undefined
  const h0 = heap()
  const options: Partial<SinkOptions> = { k, policy: 'top', seed: 1, vectors: config === 'lexical' ? 'lexical' : 'embeddings' }
  const sink: TopicBalancedSink = topicBalancedSink(options)
  await sink.init(stateful(context(llm)))
  sink.restore(null, stateful(context(llm)))
  let ms = 0
  let i = 0
  const cumulative: number[] = []
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  while (i < records && ms < seconds * 1000) {
    const batch = Array.from({ length: Math.min(BATCH, records - i) }, (_, j) => record(i + j))
    if (config === 'precomputed') llm!.queue(batch.map((r) => r.value.instruction))
    const ctx = context(llm)
    const t0 = performance.now()
    await sink.processBatch(batch, ctx)
    ms += performance.now() - t0
    cumulative.push(ms)
    i += batch.length
  }
  sink.flush(stateful(context(llm)))
  llm?.queue([])
  const held = heap() - h0
  const m = sink.metrics()
  const t1 = performance.now()
  const snap = await sink.snapshot()
  const snapMs = performance.now() - t1
  loop.disable()
  const again = topicBalancedSink(options)
  await again.init(stateful(context(llm)))
  const t2 = performance.now()
  again.restore(snap, stateful(context(llm)))
  const restoreMs = performance.now() - t2
  if (again.metrics().kept !== m.kept) throw new Error('restore lost items')
  const dedupBytes = gzipSync(JSON.stringify(readSinkState(snap).dedup), { level: 1 }).length
  await c?.close()
  return {
    config, k, records: i, stopped: i < records, secs: ms / 1000, embedSecs: (llm?.embedMs ?? 0) / 1000, held, kept: m.kept!, topics: m.topics!, evicted: m.evicted!, dupId: m.droppedDuplicateId!, dupText: m.droppedDuplicateText!,
    snapBytes: snap.length, dedupBytes, snapMs, restoreMs, cumulative, loopP99: loop.percentile(99), loopMax: loop.max,
  }
}

const bloomBytes = new BloomFilter(DEFAULT_SINK_OPTIONS.dedup).bytes
out(`sink bench: TopicBalancedSink, policy top, batches of ${BATCH}, instruction texts from ${DOCS.length} C4 documents × ${TEMPLATES.length} templates` +
  `${QUICK ? ' — BENCH_QUICK: K, lengths and time limits ÷ 10' : ''}${gc ? '' : ' (no --expose-gc: memory figures approximate)'}`)
out(`Node ${process.version}; LLM simulator ${sim.url}, profile instant (zero latency, in this process), model sim-embed-small (384 dims); lexical vectors 1,024 dims`)
out(`duplicate filter: ${fmt(bloomBytes / MiB, 1)} MiB bit array whatever K is (capacity ${fmt(DEFAULT_SINK_OPTIONS.dedup.capacity)}, false positives ${DEFAULT_SINK_OPTIONS.dedup.falsePositiveRate})`)
for (const { k, records, seconds, configs } of RUNS) if (configs.length) out(`K=${fmt(k)}: ${configs.join(', ')}; each up to ${fmt(records)} records or ${fmt(seconds)} s in processBatch`)

// What one Vendi measurement costs (the sink takes one every 5,000 records offered, over its ≤ 1,000 probe vectors).
const lexical = new LexicalVectorizer({ seed: 1 })
for (let i = 0; i < 5000; i++) lexical.vector(instructionText(i)) // document frequencies, as after warm-up
for (const dims of [384, 1024]) {
  const vs = Array.from({ length: 1000 }, (_, i) => Float32Array.from(dims === 384 ? simEmbed(instructionText(i)) : lexical.vector(instructionText(i), { learn: false })))
  vendiScore(vs, { seed: 1 })
  const t0 = performance.now()
  vendiScore(vs, { seed: 1 })
  const vms = performance.now() - t0
  out(`Vendi score over 1,000 × ${String(dims).padStart(4)} dims: ${fmt(vms).padStart(5)} ms, every 5,000 records offered = ${fmt(vms * 1000 / 5000, 1)} µs per record`)
}
out('')

/** Event-loop delay of every row, for the closing line. */
const loopRows: Array<{ k: number, p99: number, max: number }> = []
const label: Record<Config, string> = { http: 'http, cache off', 'http+cache': 'http, cache on', precomputed: 'precomputed', lexical: 'lexical' }
const started = performance.now()
for (const { k, records, seconds, configs } of RUNS) {
  if (configs.length === 0) continue
  const results: Result[] = []
  for (const config of configs) {
    const r = await run(k, records, seconds, config)
    results.push(r)
    const rate = r.records / r.secs
    const pad = ' '.repeat(12 + 17)
    out(`K=${fmt(k).padStart(9)} ${label[config].padEnd(16)} ${fmt(rate).padStart(6)} records/s over ${fmt(r.records)} records (${fmt(r.secs, 1)} s${r.stopped ? ', time limit' : ''}${r.embedSecs ? `; ${fmt(100 * r.embedSecs / r.secs)} % of it in embed()` : ''})   ` +
      `kept ${fmt(r.kept)}${r.kept < k ? ` (< K)` : ''}, evicted ${fmt(r.evicted)}, ${r.topics} topics, dropped as duplicates ${fmt(r.dupId + r.dupText)}`)
    out(`${pad}held ${fmt(r.held / MiB, 1)} MiB = ${fmt(r.held / r.kept)} B/item; held − filter ${fmt((r.held - bloomBytes) / MiB, 1)} MiB = ${fmt((r.held - bloomBytes) / r.kept)} B/item`)
    out(`${pad}snapshot ${fmt(r.snapBytes / MiB, 1)} MiB gzip = ${fmt(r.snapBytes / r.kept, 1)} B/item (duplicate filter ${fmt(r.dedupBytes / MiB, 1)} MiB of it); snapshot() ${fmt(r.snapMs)} ms, restore() ${fmt(r.restoreMs)} ms; ` +
      `one every ${fmt(CHECKPOINT_RECORDS)} records = +${fmt(100 * r.snapMs / (CHECKPOINT_RECORDS / rate * 1000))} % time`)
    out(`${pad}event-loop delay over the batches and snapshot(): p99 ${fmt(r.loopP99 / 1e6, 1)} ms, max ${fmt(r.loopMax / 1e6, 1)} ms`)
    loopRows.push({ k, p99: r.loopP99, max: r.loopMax })
  }
  // Rates over the same prefix of the stream (topics, and with them the cost per record, grow with it).
  const batches = Math.min(...results.map((r) => r.cumulative.length))
  if (results.length > 1 && batches > 0) {
    const n = Math.min(batches * BATCH, ...results.map((r) => r.records))
    const by = new Map(results.map((r) => [r.config, n / (r.cumulative[batches - 1]! / 1000)]))
    const ratios: string[] = []
    const pair = (a: Config, b: Config): void => { if (by.has(a) && by.has(b)) ratios.push(`${a} / ${b} ${(by.get(a)! / by.get(b)!).toFixed(2)}x`) }
    pair('http', 'precomputed'); pair('http+cache', 'http'); pair('lexical', 'precomputed'); pair('lexical', 'http')
    out(`K=${fmt(k).padStart(9)} over the first ${fmt(n)} records of each: ${[...by].map(([c, v]) => `${c} ${fmt(v)}/s`).join(', ')}`)
    out(`${' '.repeat(12)}ratios: ${ratios.join(', ')}`)
  }
  out('')
}
out(`(${fmt((performance.now() - started) / 1000)} s of runs)`)
// The issue's check (p99 under 50 ms at K = 100,000): the worst row at the smallest K run.
const loopK = Math.min(...loopRows.map((r) => r.k))
const atK = loopRows.filter((r) => r.k === loopK)
if (atK.length > 0) out(`sink event loop: p99=${(Math.max(...atK.map((r) => r.p99)) / 1e6).toFixed(1)} max=${(Math.max(...atK.map((r) => r.max)) / 1e6).toFixed(1)} (K=${loopK})`)
await sim.close()
rmSync(tmp, { recursive: true, force: true })
