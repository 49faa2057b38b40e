/**
 * The systems `npm run bench:peers` runs, each as its user would: synthq through its CLI (on the
 * embedded runner, and on Kafka with exactly-once), the Python peers through bench/peers/run_peer.py,
 * and the server's own limit (the same requests replayed with the server kept saturated, no
 * pipeline). Every run gets a fresh simulator process (sim-process.ts) and reports the same
 * figures: wall time of the work, documents complete, rows lost, the most requests in service.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import type { WorkSpec } from './work.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'bin/synthq.js')

export interface RunResult {
  /** Seconds from the start of the work to its last result. */
  seconds: number
  documents: number
  /** Documents with a complete scored instruction. */
  complete: number
  /** Documents without one (failed, dead-lettered, or returned empty). */
  lost: number
  /** Results beyond one per document. */
  duplicates: number
  note?: string
}

/** Runs a command to its end; its stdout is returned, its stderr kept for the error message. */
export async function exec (cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number } = {}): Promise<string> {
  const child = spawn(cmd, args, { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-8000) })
  const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined
  const [code, signal] = await once(child, 'exit') as [number | null, string | null]
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${[cmd, ...args].join(' ')} → exit ${code ?? signal}\n${err.trim().split('\n').slice(-15).join('\n')}`)
  return out
}

// ─── synthq ──────────────────────────────────────────────────────────────────────────────────

function synthqConfig (dir: string, simUrl: string, spec: WorkSpec): string {
  const file = join(dir, 'synthq.yaml')
  // Nothing but the endpoint and the work's model and max_tokens: synthq at its defaults.
  // The response cache is off so every run calls the server.
  writeFileSync(file, [
    'llm:',
    `  defaults: { endpoint: sim, model: ${spec.model}, maxTokens: ${spec.max_tokens} }`,
    `  endpoints: { sim: { baseUrl: "${simUrl}", noAuth: true } }`,
    '  stages: { sink: { model: sim-embed-small } }',
    '  cache: { enabled: false }',
    '',
  ].join('\n'))
  return file
}

interface Tapped { timestamp: number, value: { document?: { id?: string }, scores?: unknown, instruction?: string } }

function countResults (lines: string, documents: number, startedAt: number): RunResult {
  const records = lines.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Tapped)
  const ids = new Set(records.map((r) => r.value.document?.id).filter((x): x is string => typeof x === 'string'))
  const last = Math.max(...records.map((r) => Number(r.timestamp)))
  return { seconds: (last - startedAt) / 1000, documents, complete: ids.size, lost: documents - ids.size, duplicates: records.length - ids.size }
}

/**
 * synthq on the embedded runner: ingest, then `synthq run synthesis --until-idle`. The clock
 * starts when the run's process is spawned (its start-up counts) and stops at the timestamp of
 * the last scored instruction written.
 */
export async function runSynthqEmbedded (o: { dir: string, workDir: string, simUrl: string, spec: WorkSpec, documents: number, concurrency?: number }): Promise<RunResult> {
  const db = join(o.dir, 'synthq.db')
  const config = synthqConfig(o.dir, o.simUrl, o.spec)
  await exec(process.execPath, [CLI, 'ingest', join(o.workDir, 'synthq-input.jsonl'), '--db', db, '--json'])
  const startedAt = Date.now()
  await exec(process.execPath, [CLI, 'run', 'synthesis', '--db', db, '--config', config, '--until-idle', '--no-metrics', ...(o.concurrency ? ['--concurrency', String(o.concurrency)] : [])], { timeoutMs: 30 * 60_000 })
  const r = countResults(await exec(process.execPath, [CLI, 'tap', 'scoredInstructions', '--db', db]), o.documents, startedAt)
  const dead = Number((await exec(process.execPath, [CLI, 'tap', 'deadLetters', '--db', db, '--count'])).trim())
  return dead > 0 ? { ...r, note: `${dead} dead letters` } : r
}

/**
 * synthq on Kafka with exactly-once (its default): ingest into fresh topics, `synthq run
 * synthesis --runner kafka`, stopped with SIGTERM once every document is accounted for (scored
 * or dead-lettered, counted with `synthq tap`). The clock stops at the Kafka timestamp of the
 * last scored instruction, so how often completion is polled does not change the figure.
 */
export async function runSynthqKafka (o: { dir: string, workDir: string, simUrl: string, spec: WorkSpec, documents: number, prefix: string }): Promise<RunResult> {
  const config = synthqConfig(o.dir, o.simUrl, o.spec)
  const common = ['--runner', 'kafka', '--prefix', o.prefix]
  await exec(process.execPath, [CLI, 'ingest', join(o.workDir, 'synthq-input.jsonl'), ...common, '--json'])
  const startedAt = Date.now()
  const child = spawn(process.execPath, [CLI, 'run', 'synthesis', ...common, '--config', config, '--no-metrics'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-8000) })
  const exited = once(child, 'exit')
  const count = async (topic: string): Promise<number> => Number((await exec(process.execPath, [CLI, 'tap', topic, ...common, '--count'])).trim())
  const deadline = Date.now() + 30 * 60_000
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`synthq run exited (${child.exitCode}) before the work was done\n${err.slice(-3000)}`)
      if (Date.now() > deadline) throw new Error('synthq on Kafka did not finish within 30 min')
      await new Promise((resolve) => setTimeout(resolve, 2000))
      if (await count('scoredInstructions') + await count('deadLetters') >= o.documents) break
    }
  } finally {
    child.kill('SIGTERM')
    await exited
  }
  const r = countResults(await exec(process.execPath, [CLI, 'tap', 'scoredInstructions', ...common]), o.documents, startedAt)
  const dead = await count('deadLetters')
  return dead > 0 ? { ...r, note: `${dead} dead letters` } : r
}

// ─── the Python peers ────────────────────────────────────────────────────────────────────────

export interface PeerSummary { peer: string, setting: string, settings: Record<string, unknown>, documents: number, complete: number, lost: number, elapsed_s: number, peer_version?: string }

/** One peer through bench/peers/run_peer.py; its own clock excludes Python's imports and set-up. */
export async function runPeer (o: { python: string, peer: string, setting: 'default' | 'tuned', dir: string, workDir: string, simUrl: string, env?: NodeJS.ProcessEnv }): Promise<RunResult & { summary: PeerSummary }> {
  const out = join(o.dir, `${o.peer}-${o.setting}.jsonl`)
  const stdout = await exec(o.python, [join(ROOT, 'bench/peers/run_peer.py'), '--peer', o.peer, '--setting', o.setting, '--work', o.workDir, '--base-url', o.simUrl, '--out', out, '--cache-dir', join(o.dir, 'cache')], { env: o.env, timeoutMs: 30 * 60_000 })
  const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as PeerSummary
  // Count the rows again here rather than trust the peer's own count.
  const rows = readFileSync(out, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { id: string, query: unknown, scores: Record<string, unknown> | null })
  const ids = new Set(rows.filter((r) => typeof r.query === 'string' && r.query.length >= 20 && r.scores && Object.keys(r.scores).length === 7 && Object.values(r.scores).every((s) => s === 0 || s === 1)).map((r) => r.id))
  return { seconds: summary.elapsed_s, documents: summary.documents, complete: ids.size, lost: summary.documents - ids.size, duplicates: 0, summary }
}

// ─── the server's limit ──────────────────────────────────────────────────────────────────────

interface ChatBody { model: string, messages: Array<{ role: string, content: string }>, max_tokens: number, response_format: object }

function chatBody (spec: WorkSpec, step: number, vars: Record<string, string>): ChatBody {
  const s = spec.steps[step]!
  return {
    model: spec.model,
    messages: [{ role: 'system', content: s.system }, { role: 'user', content: s.user_template.replace(/\{(document|scene|compositions|query)\}/g, (_, k: string) => vars[k] ?? '') }],
    max_tokens: spec.max_tokens,
    response_format: { type: 'json_schema', json_schema: { name: s.schema_name, schema: s.schema, strict: true } },
  }
}

async function post (agent: Agent, url: string, body: ChatBody): Promise<Record<string, unknown>> {
  for (let attempt = 0; ; attempt++) {
    const res = await request(`${url}/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const text = await res.body.text()
    if (res.statusCode === 200) {
      const content = (JSON.parse(text) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content
      return JSON.parse(content) as Record<string, unknown>
    }
    if (attempt >= 5) throw new Error(`limit run: HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
  }
}

async function pool<T> (items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

/**
 * Every request of the work, computed ahead on a second, latency-free simulator (its answers
 * are the same: they depend on the request only), so the limit run needs no pipeline.
 */
export async function allRequests (spec: WorkSpec, workDir: string, instantUrl: string): Promise<ChatBody[]> {
  const docs = readFileSync(join(workDir, 'work.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { id: string, document: string })
  const agent = new Agent({ connections: 64 })
  const bodies: ChatBody[] = []
  await pool(docs, 32, async (d) => {
    const b1 = chatBody(spec, 0, { document: d.document })
    const a1 = await post(agent, instantUrl, b1) as { scene: string, query_compositions: object }
    const b2 = chatBody(spec, 1, { document: d.document, scene: a1.scene, compositions: JSON.stringify(a1.query_compositions) })
    const a2 = await post(agent, instantUrl, b2) as { query: string }
    bodies.push(b1, b2, chatBody(spec, 2, { query: a2.query }))
  })
  await agent.close()
  return bodies
}

/** The same requests with `concurrency` always in flight: what the server can do for this work. */
export async function runLimit (o: { bodies: ChatBody[], simUrl: string, concurrency: number, documents: number }): Promise<RunResult> {
  const agent = new Agent({ connections: o.concurrency })
  const t0 = performance.now()
  await pool(o.bodies, o.concurrency, async (b) => { await post(agent, o.simUrl, b) })
  const seconds = (performance.now() - t0) / 1000
  await agent.close()
  return { seconds, documents: o.documents, complete: o.documents, lost: 0, duplicates: 0, note: `${o.concurrency} in flight` }
}
