/**
 * `npm run eval:real-model` — synthq on a real model served on this machine, measured.
 *
 * SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server (`npm run model:up`'s code, on
 * its own port and state directory), real OpenAssistant seeds and C4 pages through attribution,
 * synthesis and the sink with `synthq start --until-idle`. A recording proxy between synthq and
 * the server sees every request (synthq names the stage in `X-Synthq-Stage`), its time and the
 * server's `usage`. Per run it prints:
 *
 * - per stage: calls, first answers valid as they came, repairs, dead letters, and the tokens
 *   synthq's ledger counted against the tokens the server reported;
 * - documents per hour, and how much of the wall time the server was busy;
 * - the prefix the server reused from its previous prompt (its log's "prefix-match hit" lines).
 *
 * Then the **limit of this server**: a sample of the same requests (four stretches in the run's
 * order, `--direct-share` of them) replayed straight to it with no pipeline at each concurrency
 * given, the whole workload's time estimated from the fastest, and
 *
 *   real_model ratio=<synthq docs/h ÷ direct docs/h> valid_first_try=<share, constrained run>
 *
 * Runs: the constrained dialect the probe finds (`auto`), and a smaller prompt-only run
 * (`--prompt-only-docs 0` leaves it out). `--resample-every 1,50` runs the constrained run once
 * per value (the paper's per-document draw of demonstrations against a draw kept for 50
 * documents, whose prompts share a prefix the server can reuse). Not in CI: about 30 minutes.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { modelDown, modelUp, type ModelState } from '../deploy/local/lib/model-server.ts'
import { REPO_ROOT } from '../deploy/local/lib/paths.ts'
import { openLlmDatabase } from '../src/llm/store.ts'
import { UsageLedger } from '../src/llm/usage.ts'
import { EmbeddedLog } from '../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../src/runtime/embedded/embedded-registry.ts'
import { AvroSerde } from '../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../src/serde/schema-catalog.ts'
import { topicName } from '../src/topics.ts'

const { values: opt } = parseArgs({
  options: {
    seeds: { type: 'string', default: '30' },
    docs: { type: 'string', default: '60' },
    'prompt-only-seeds': { type: 'string', default: '5' },
    'prompt-only-docs': { type: 'string', default: '10' },
    'resample-every': { type: 'string', default: '50' },
    demonstrations: { type: 'string', default: '3' },
    'max-tokens': { type: 'string', default: '448' },
    'scoring-max-tokens': { type: 'string', default: '640' },
    'direct-share': { type: 'string', default: '0.25' },
    concurrency: { type: 'string', default: '1,2' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
})
const int = (name: keyof typeof opt): number => {
  const n = Number(opt[name])
  if (!Number.isInteger(n) || n < 0) { process.stderr.write(`eval: --${name} must be a whole number, got ${String(opt[name])}\n`); process.exit(2) }
  return n
}
const SEEDS = int('seeds')
const DOCS = int('docs')
const PO_SEEDS = int('prompt-only-seeds')
const PO_DOCS = int('prompt-only-docs')
const K = int('demonstrations')
const MAX_TOKENS = int('max-tokens')
// Seven criteria of at most 240 characters each (the scoring schema's bound) need more room.
const SCORING_MAX_TOKENS = int('scoring-max-tokens')
const RESAMPLE = String(opt['resample-every']).split(',').map(Number)
const CONCURRENCY = String(opt.concurrency).split(',').map(Number)
const DIRECT_SHARE = Number(opt['direct-share'])
if (RESAMPLE.some((n) => !Number.isInteger(n) || n < 1) || CONCURRENCY.some((n) => !Number.isInteger(n) || n < 1) || !(DIRECT_SHARE > 0 && DIRECT_SHARE <= 1)) {
  process.stderr.write('eval: --resample-every and --concurrency take whole numbers ≥ 1 (comma-separated), --direct-share a share in (0, 1]\n')
  process.exit(2)
}

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const STAGES = ['concept-extraction', 'situation-grounding', 'situation-envisioning', 'instruction-generation', 'scoring'] as const
const say = (m: string): void => { process.stdout.write(`${m}\n`) }
const note = (m: string): void => { process.stderr.write(`eval: ${m}\n`) }

// ---------------------------------------------------------------------------------------------
// The recording proxy

interface Exchange { run: string, stage: string, body: string, startedAt: number, ms: number, status: number, promptTokens: number, completionTokens: number, finish: string | null, answer: string }

const upstreamAgent = new Agent({ connections: 64, headersTimeout: 0, bodyTimeout: 0 })

async function startProxy (upstream: string): Promise<{ url: string, exchanges: Exchange[], run: { label: string }, close: () => Promise<void> }> {
  const exchanges: Exchange[] = []
  const run = { label: 'none' }
  const origin = new URL(upstream).origin
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8')
        const t0 = Date.now()
        try {
          const up = await request(`${origin}${req.url ?? '/'}`, {
            method: (req.method ?? 'GET') as 'GET' | 'POST',
            headers: { 'content-type': 'application/json' },
            ...(body ? { body } : {}),
            dispatcher: upstreamAgent,
          })
          const text = await up.body.text()
          if (req.method === 'POST' && req.url?.endsWith('/chat/completions')) {
            let usage: { prompt_tokens?: number, completion_tokens?: number } | undefined
            let finish: string | null = null
            let answer = ''
            try {
              const j = JSON.parse(text) as { usage?: typeof usage, choices?: Array<{ finish_reason?: string, message?: { content?: string | null } }> }
              usage = j.usage
              finish = j.choices?.[0]?.finish_reason ?? null
              answer = j.choices?.[0]?.message?.content ?? ''
            } catch { answer = text.slice(0, 2000) /* an error body */ }
            exchanges.push({ run: run.label, stage: String(req.headers['x-synthq-stage'] ?? 'probe'), body, startedAt: t0, ms: Date.now() - t0, status: up.statusCode, promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0, finish, answer })
          }
          res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') })
          res.end(text)
        } catch (err) {
          res.writeHead(502, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: `eval proxy: ${(err as Error).message}` } }))
        }
      })()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, exchanges, run, close: async () => { await new Promise((resolve) => server.close(resolve)) } }
}

// ---------------------------------------------------------------------------------------------
// One pipeline run

interface StageFigures { calls: number, firstAnswers: number, validFirstTry: number, repairs: number, dead: number, input: number, output: number, ledgerTokens: number, serverTokens: number, requests: number }
interface RunResult {
  label: string
  dialect: string
  dialectFound: string
  seeds: number
  docs: number
  resampleEvery: number
  wallMs: number
  exit: number | null
  stages: Record<string, StageFigures>
  serverBusyMs: number
  requests: number
  prefixHitTokens: number
  promptEvalTokens: number
  /** llama.cpp's own timings over the run: prompt evaluation and generation, tokens per second. */
  promptEvalPerSecond: number
  generationPerSecond: number
  docsPerHour: number
}

function firstLines (file: string, n: number, out: string): string {
  writeFileSync(out, readFileSync(join(REPO_ROOT, file), 'utf8').split('\n').filter((l) => l.trim()).slice(0, n).join('\n') + '\n')
  return out
}

/**
 * The server's log since `from`: prompt tokens it reused from the previous prompt and those it
 * evaluated ("prefix-match hit" lines), and llama.cpp's timings of prompt evaluation and of
 * generation ("prompt eval time" and "eval time" lines).
 */
function serverLog (log: string, from: number): { hit: number, evaluated: number, promptEvalMs: number, promptEvalTokens: number, genMs: number, genTokens: number } {
  const text = readFileSync(log, 'utf8').slice(from)
  const r = { hit: 0, evaluated: 0, promptEvalMs: 0, promptEvalTokens: 0, genMs: 0, genTokens: 0 }
  for (const m of text.matchAll(/Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens to eval/g)) { r.hit += Number(m[1]); r.evaluated += Number(m[2]) }
  for (const m of text.matchAll(/prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/g)) { r.promptEvalMs += Number(m[1]); r.promptEvalTokens += Number(m[2]) }
  for (const m of text.matchAll(/\s eval time =\s*([\d.]+) ms \/\s*(\d+) runs/g)) { r.genMs += Number(m[1]); r.genTokens += Number(m[2]) }
  return r
}

async function runPipeline (model: ModelState, proxy: Awaited<ReturnType<typeof startProxy>>, o: { label: string, dialect: string, seeds: number, docs: number, resampleEvery: number }): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'synthq-eval-'))
  const db = join(dir, 'synthq.db')
  const config = join(dir, 'synthq.yaml')
  // Budgets sized for a 135M model on a CPU: short prompts and answers keep a request at seconds.
  writeFileSync(config, [
    'pipeline:',
    `  demonstrations: { k: ${K}, resampleEvery: ${o.resampleEvery}, excerptTokens: 64 }`,
    '  budget: { documentTokens: 192, promptTokens: 1024 }',
    '  sink: { k: 1000, topics: { warmup: 10 } }',
    // synthq start turns the response stages on by default; this eval measures the method up to
    // the sink, as its earlier runs did (docs/llm.md). The response stages on this server:
    // test/real-model/responses.test.ts and docs/real-model.md.
    '  responses: { enabled: false, preferences: false }',
    'llm:',
    `  defaults: { maxTokens: ${MAX_TOKENS}, temperature: 0.2, seed: 7 }`,
    `  stages: { scoring: { maxTokens: ${SCORING_MAX_TOKENS} } }`,
  ].join('\n') + '\n')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '', SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'),
    SYNTHQ_LOG_LEVEL: 'warn', SYNTHQ_LLM_BASE_URL: proxy.url, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: model.model,
    SYNTHQ_LLM_MAX_CONCURRENCY: '1', SYNTHQ_LLM_CONTEXT_WINDOW: String(model.contextWindow), SYNTHQ_LLM_TIMEOUT_MS: '600000',
    ...(o.dialect === 'auto' ? {} : { SYNTHQ_LLM_STRUCTURED_OUTPUTS: o.dialect }),
    // The sink's topics from the real embedding model, where it runs (its requests bypass the proxy).
    ...(model.embeddings ? { SYNTHQ_LLM_SINK_BASE_URL: model.embeddings.url, SYNTHQ_LLM_SINK_MODEL: model.embeddings.model } : {}),
  }
  for (const [file, preset] of [[firstLines('data/seeds/oasst-prompts-en.jsonl', o.seeds, join(dir, 'seeds.jsonl')), 'seeds'], [firstLines('data/web/c4-en-validation-600.jsonl', o.docs, join(dir, 'docs.jsonl')), 'c4']] as const) {
    const r = spawnSync(process.execPath, [CLI, 'ingest', file, '--preset', preset, '--db', db], { encoding: 'utf8', env })
    if (r.status !== 0) throw new Error(`ingest of ${file} failed: ${r.stderr}`)
  }
  proxy.run.label = o.label
  const logFrom = statSync(model.log).size
  note(`${o.label}: synthq start on ${o.seeds} seeds and ${o.docs} documents (${o.dialect === 'auto' ? 'dialect found by the probe' : `SYNTHQ_LLM_STRUCTURED_OUTPUTS=${o.dialect}`}, resampleEvery ${o.resampleEvery})…`)
  const t0 = Date.now()
  const child = spawn(process.execPath, [CLI, 'start', '--no-demo-data', '--until-idle', '--db', db, '--config', config, '--out', join(dir, 'dataset')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const exit = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  const wallMs = Date.now() - t0
  proxy.run.label = 'none'
  if (exit !== 0 && exit !== 3) throw new Error(`${o.label}: synthq start ended with ${exit}:\n${out.slice(-3000)}`)
  note(`${o.label}: done in ${(wallMs / 1000).toFixed(0)} s (exit ${exit})`)
  const dialectFound = /structured outputs as (\S+)/.exec(out)?.[1] ?? o.dialect

  // From start's closing summary (synthq: LLM — <stage> … first answers valid N/M, R repairs · …).
  const usageLine = out.split('\n').find((l) => l.startsWith('synthq: LLM — ')) ?? ''
  const fromSummary = new Map<string, { firstAnswers: number, validFirstTry: number, repairs: number }>()
  for (const part of usageLine.replace('synthq: LLM — ', '').split(' · ')) {
    const m = /^([\w-]+) .*first answers valid (\d+)\/(\d+), (\d+) repairs/.exec(part)
    if (m) fromSummary.set(m[1]!, { validFirstTry: Number(m[2]), firstAnswers: Number(m[3]), repairs: Number(m[4]) })
  }
  if (fromSummary.size === 0) throw new Error(`${o.label}: start's summary has no "first answers valid" figures:\n${out.slice(-3000)}`)

  // Inputs, outputs and dead letters per stage, read back from the database.
  const elog = new EmbeddedLog(db)
  const io = new Map<string, { input: number, output: number, dead: number }>()
  try {
    const serde = new AvroSerde(new EmbeddedRegistry(elog.db, db), SchemaCatalog.load(), { prefix: 'synthq' })
    const deadName = topicName('deadLetters', 'synthq')
    const dead = await Promise.all(elog.read(deadName, 0, 1e9).map(async (r) => await serde.decode<{ stage: string }>(deadName, r.value)))
    const head = (t: Parameters<typeof topicName>[0]): number => elog.head(topicName(t, 'synthq'))
    for (const [stage, input, output] of [
      ['concept-extraction', 'realInstructions', 'concepts'],
      ['situation-grounding', 'groundedInstructions', 'demonstrations'],
      ['situation-envisioning', 'cleanDocuments', 'situations'],
      ['instruction-generation', 'situations', 'synthesizedInstructions'],
      ['scoring', 'synthesizedInstructions', 'scoredInstructions'],
    ] as const) io.set(stage, { input: head(input), output: head(output), dead: dead.filter((d) => d.stage === stage).length })
  } finally {
    elog.close()
  }
  const ledger = new Map<string, { calls: number, tokens: number }>()
  const ldb = openLlmDatabase(db)
  try {
    for (const r of new UsageLedger(ldb, new Map()).rows()) ledger.set(r.stage, { calls: r.calls, tokens: r.promptTokens + r.completionTokens })
  } finally {
    ldb.close()
  }
  const mine = proxy.exchanges.filter((e) => e.run === o.label)
  const stages: Record<string, StageFigures> = {}
  for (const stage of STAGES) {
    const x = mine.filter((e) => e.stage === stage)
    stages[stage] = {
      calls: ledger.get(stage)?.calls ?? 0,
      ...(fromSummary.get(stage) ?? { firstAnswers: 0, validFirstTry: 0, repairs: 0 }),
      ...(io.get(stage) ?? { input: 0, output: 0, dead: 0 }),
      ledgerTokens: ledger.get(stage)?.tokens ?? 0,
      serverTokens: x.reduce((n, e) => n + e.promptTokens + e.completionTokens, 0),
      requests: x.length,
    }
  }
  const reuse = serverLog(model.log, logFrom)
  if (!opt.keep) rmSync(dir, { recursive: true, force: true })
  else {
    // Every request and answer of this run, for reading what the model said (jq, grep).
    writeFileSync(join(dir, 'exchanges.jsonl'), mine.map((e) => JSON.stringify(e)).join('\n') + '\n')
    note(`${o.label}: kept ${dir} (exchanges.jsonl: each request and answer)`)
  }
  return {
    label: o.label, dialect: o.dialect, dialectFound, seeds: o.seeds, docs: o.docs, resampleEvery: o.resampleEvery, wallMs, exit, stages,
    serverBusyMs: mine.reduce((n, e) => n + e.ms, 0), requests: mine.length,
    prefixHitTokens: reuse.hit, promptEvalTokens: reuse.evaluated,
    promptEvalPerSecond: reuse.promptEvalMs ? reuse.promptEvalTokens / (reuse.promptEvalMs / 1000) : 0,
    generationPerSecond: reuse.genMs ? reuse.genTokens / (reuse.genMs / 1000) : 0,
    docsPerHour: o.docs / (wallMs / 3_600_000),
  }
}

// ---------------------------------------------------------------------------------------------
// The server's own limit: the same requests, straight to it

interface DirectResult { concurrency: number, sampled: number, wallMs: number, sameCompletion: number, estimatedWorkloadMs: number, docsPerHour: number }

async function direct (model: ModelState, exchanges: Exchange[], docs: number): Promise<DirectResult[]> {
  const ok = exchanges.filter((e) => e.status === 200)
  // Contiguous stretches in the run's order, spread over it: a request right after one with the
  // same prompt prefix is cheaper (the server reuses that prefix), so a sample that broke the
  // order would measure a slower server than the one the pipeline had.
  const CHUNKS = 4
  const length = Math.max(1, Math.round(ok.length * DIRECT_SHARE / CHUNKS))
  const sample = Array.from({ length: CHUNKS }, (_, c) => {
    const start = Math.floor(c * ok.length / CHUNKS + Math.max(0, ok.length / CHUNKS - length) / 2)
    return ok.slice(start, start + length)
  }).flat()
  const sampleOriginalMs = sample.reduce((n, e) => n + e.ms, 0)
  const allOriginalMs = ok.reduce((n, e) => n + e.ms, 0)
  const out: DirectResult[] = []
  for (const c of CONCURRENCY) {
    note(`direct: ${sample.length} of ${ok.length} requests straight to the server, ${c} at a time…`)
    let next = 0
    let same = 0
    const t0 = Date.now()
    await Promise.all(Array.from({ length: c }, async () => {
      for (let i = next++; i < sample.length; i = next++) {
        const e = sample[i]!
        const r = await request(`${model.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: e.body, dispatcher: upstreamAgent })
        const j = await r.body.json() as { usage?: { completion_tokens?: number } }
        if (j.usage?.completion_tokens === e.completionTokens) same++
      }
    }))
    const wallMs = Date.now() - t0
    // The whole workload at this rate, weighting each request by its time in the pipeline's run.
    const estimatedWorkloadMs = wallMs * (allOriginalMs / sampleOriginalMs)
    out.push({ concurrency: c, sampled: sample.length, wallMs, sameCompletion: same / sample.length, estimatedWorkloadMs, docsPerHour: docs / (estimatedWorkloadMs / 3_600_000) })
  }
  return out
}

// ---------------------------------------------------------------------------------------------

const pct = (a: number, b: number): string => b ? `${(100 * a / b).toFixed(0)} %` : '-'
const pad = (s: string | number, n: number): string => String(s).padStart(n)

function printRun (r: RunResult): void {
  say('')
  say(`## ${r.label}: ${r.seeds} seeds, ${r.docs} documents, dialect ${r.dialectFound}, resampleEvery ${r.resampleEvery}, max_tokens ${MAX_TOKENS} (scoring ${SCORING_MAX_TOKENS})`)
  say(`${'stage'.padEnd(24)}${pad('in', 5)}${pad('out', 5)}${pad('dead', 6)}${pad('calls', 7)}${pad('valid 1st', 11)}${pad('share', 7)}${pad('repairs', 9)}${pad('reqs', 6)}${pad('tok synthq', 12)}${pad('tok server', 12)}`)
  for (const [stage, s] of Object.entries(r.stages)) {
    say(`${stage.padEnd(24)}${pad(s.input, 5)}${pad(s.output, 5)}${pad(s.dead, 6)}${pad(s.calls, 7)}${pad(`${s.validFirstTry}/${s.firstAnswers}`, 11)}${pad(pct(s.validFirstTry, s.firstAnswers), 7)}${pad(s.repairs, 9)}${pad(s.requests, 6)}${pad(s.ledgerTokens, 12)}${pad(s.serverTokens, 12)}`)
  }
  const tokens = Object.values(r.stages).reduce((n, s) => n + s.serverTokens, 0)
  say(`wall ${(r.wallMs / 1000).toFixed(0)} s (exit ${r.exit}); ${r.requests} requests; server busy ${pct(r.serverBusyMs, r.wallMs)} of the wall time; ${(tokens / r.docs).toFixed(0)} tokens per document (server's count, all stages); ${r.docsPerHour.toFixed(1)} documents/hour`)
  say(`server log: ${r.prefixHitTokens} prompt tokens reused from the previous prompt, ${r.promptEvalTokens} evaluated (${pct(r.prefixHitTokens, r.prefixHitTokens + r.promptEvalTokens)} reused; ${(r.promptEvalTokens / r.docs).toFixed(0)} evaluated per document); prompt eval ${r.promptEvalPerSecond.toFixed(0)} tokens/s, generation ${r.generationPerSecond.toFixed(1)} tokens/s`)
}

const validShare = (r: RunResult): number => {
  const s = Object.values(r.stages)
  const first = s.reduce((n, x) => n + x.firstAnswers, 0)
  return first ? s.reduce((n, x) => n + x.validFirstTry, 0) / first : 0
}

async function main (): Promise<void> {
  const began = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'synthq-eval-model-'))
  // Its own state directory and port: a developer's `npm run model:up` is left alone.
  process.env.SYNTHQ_MODEL_DIR = dir
  process.env.SYNTHQ_MODEL_PORT = process.env.SYNTHQ_EVAL_MODEL_PORT ?? '18095'
  const { state: model } = await modelUp({ log: note })
  const proxy = await startProxy(model.url)
  const runs: RunResult[] = []
  let directs: DirectResult[]
  try {
    say(`# synthq on a real model: ${model.model} (${model.server}, ${model.threads} threads, context ${model.contextWindow}), ${new Date().toISOString()}`)
    for (const every of RESAMPLE) runs.push(await runPipeline(model, proxy, { label: `constrained${RESAMPLE.length > 1 ? `-resample${every}` : ''}`, dialect: 'auto', seeds: SEEDS, docs: DOCS, resampleEvery: every }))
    if (PO_DOCS > 0) runs.push(await runPipeline(model, proxy, { label: 'prompt-only', dialect: 'prompt', seeds: PO_SEEDS, docs: PO_DOCS, resampleEvery: RESAMPLE[0]! }))
    for (const r of runs) printRun(r)
    const constrained = runs.filter((r) => r.dialect === 'auto')
    if (constrained.length > 1) {
      say('')
      say('## prefix reuse: the same documents with demonstrations drawn anew every N documents')
      for (const r of constrained) say(`resampleEvery ${pad(r.resampleEvery, 3)}: ${pct(r.prefixHitTokens, r.prefixHitTokens + r.promptEvalTokens)} of prompt tokens reused by the server, ${(r.promptEvalTokens / r.docs).toFixed(0)} evaluated per document, ${r.docsPerHour.toFixed(1)} documents/hour`)
      const [a, b] = [constrained[0]!, constrained.at(-1)!]
      say(`documents/hour, resampleEvery ${b.resampleEvery} ÷ ${a.resampleEvery}: ${(b.docsPerHour / a.docsPerHour).toFixed(2)}`)
    }
    const main = runs[0]!
    directs = await direct(model, proxy.exchanges.filter((e) => e.run === main.label), main.docs)
    say('')
    say(`## the server's limit: ${main.label}'s requests straight to it (no pipeline), ${directs[0]?.sampled ?? 0} of ${main.requests} replayed`)
    for (const d of directs) say(`concurrency ${d.concurrency}: ${(d.wallMs / 1000).toFixed(0)} s for the sample, same completion length ${pct(d.sameCompletion, 1)}, workload ≈ ${(d.estimatedWorkloadMs / 1000).toFixed(0)} s → ${d.docsPerHour.toFixed(1)} documents/hour`)
    const best = directs.reduce((a, b) => (b.docsPerHour > a.docsPerHour ? b : a))
    say(`synthq ${main.docsPerHour.toFixed(1)} documents/hour against ${best.docsPerHour.toFixed(1)} straight to the server (concurrency ${best.concurrency})`)
    if (opt.json) writeFileSync(opt.json, JSON.stringify({ model, runs, direct: directs }, null, 2))
    say(`eval took ${((Date.now() - began) / 60_000).toFixed(1)} min`)
    say(`real_model ratio=${(main.docsPerHour / best.docsPerHour).toFixed(2)} valid_first_try=${validShare(main).toFixed(2)}`)
  } finally {
    await proxy.close()
    await modelDown({ log: note })
    await upstreamAgent.close()
    if (!opt.keep) rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`eval: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
