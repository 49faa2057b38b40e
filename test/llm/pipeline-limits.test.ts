/**
 * Limits across workers on Kafka, end to end: three worker processes of one pipeline (same topic
 * prefix), each an LLM client with the endpoint's requests/min configured as the simulator's own
 * (its `hosted` profile: 500 requests/min, 200K tokens/min, 429 beyond), share that limit and
 * one budget through `<prefix>.llm-quota`. The simulator runs 10× faster (a minute lasts 6 s)
 * and the workers' buckets on the same scale.
 *
 * What the simulator saw is the measure: requests per (simulated) minute, its 429s, and the
 * tokens it answered, priced, against the budget.
 */
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { after, test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PROFILES } from '../../src/llm/sim/profiles.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { decodeMember } from '../../src/llm/shared/roster.ts'
import { llmQuotaTopic } from '../../src/runtime/kafka/llm-quota.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { testInfra, unique } from '../helpers/env.ts'
import { readMessages, testLogger } from '../helpers/kafka.ts'
import type { WorkerConfig, WorkerState } from './fixtures/pipeline-limits-worker.ts'

const WORKER = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', 'pipeline-limits-worker.ts')
const TIME_SCALE = 0.1
const SIM_MINUTE_MS = 60_000 * TIME_SCALE
const LIMITS = PROFILES.hosted.rateLimits!
const PRICES = { 'sim-chat-8b': { input: 10, output: 30 } }
const log = (m: string): void => { process.stderr.write(`pipeline-limits: ${m}\n`) }

interface Worker {
  name: string
  child: ChildProcess
  state: WorkerState | undefined
  ready: Promise<void>
  exited: Promise<void>
  stop (): Promise<void>
}

const children = new Set<ChildProcess>()
after(() => { for (const c of children) c.kill('SIGKILL') })

function startWorker (name: string, cfg: Omit<WorkerConfig, 'name'>): Worker {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SYNTHQ_TEST_WORKER: JSON.stringify({ ...cfg, name }) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  const w: Worker = {
    name, child, state: undefined,
    ready: new Promise((resolve, reject) => {
      child.on('message', (m: { type: string }) => {
        if (m.type === 'state') w.state = m as WorkerState
        if (m.type === 'ready') resolve()
      })
      child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}) before it was ready`)))
    }),
    exited: new Promise((resolve) => child.once('exit', () => { children.delete(child); resolve() })),
    stop: async () => {
      if (child.connected) child.send({ type: 'stop' })
      await w.exited
    },
  }
  w.ready.catch(() => {})
  return w
}

async function until (what: string, ok: () => boolean, timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now()
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
  return Date.now() - t0
}

async function hostedSim (t: TestContext): Promise<LlmSim> {
  const sim = await startLlmSim({ profile: 'hosted', timeScale: TIME_SCALE })
  t.after(() => sim.close())
  return sim
}

const chatRequests = (sim: LlmSim): number => sim.stats().requests.byPath['/v1/chat/completions'] ?? 0
const simSpend = (sim: LlmSim): number => {
  const tk = sim.stats().tokens
  return (tk.prompt * PRICES['sim-chat-8b'].input + tk.completion * PRICES['sim-chat-8b'].output) / 1e6
}
const rpm = (requests: number, ms: number): number => requests / (ms / SIM_MINUTE_MS)

function config (sim: LlmSim, prefix: string, over: Partial<WorkerConfig> = {}): Omit<WorkerConfig, 'name'> {
  return {
    bootstrap: testInfra().bootstrap, prefix, simUrl: sim.url, timeScale: TIME_SCALE,
    requestsPerMinute: LIMITS.requestsPerMinute, tokensPerMinute: LIMITS.tokensPerMinute, prices: PRICES,
    concurrency: 16, heartbeatMs: 500, sessionTimeoutMs: 3_000, ...over,
  }
}

test('three Kafka workers of one pipeline keep to the endpoint\'s requests/min and spend one budget', async (t) => {
  const sim = await hostedSim(t)
  const prefix = unique('llmq')
  const budgetUsd = 1.5
  const workers = ['a', 'b', 'c'].map((n) => startWorker(n, config(sim, prefix, { budgetUsd })))
  t.after(async () => { await Promise.all(workers.map((w) => w.stop())) })
  await Promise.all(workers.map((w) => w.ready))
  await until('every worker to see three members', () => workers.every((w) => w.state?.members === 3))
  for (const w of workers) assert.ok(Math.abs(w.state!.requestsPerMinute! - LIMITS.requestsPerMinute / 3) < 1e-6, `${w.name} holds a third of the limit`)

  // What the workers' start cost (each endpoint's structured-output probe) is part of the budget too.
  const startSpend = simSpend(sim)
  sim.resetStats()
  const t0 = Date.now()
  for (const w of workers) w.child.send({ type: 'go' })
  const ms = await until('the budget to pause every worker', () => workers.every((w) => w.state?.paused), 120_000)
  // What was sent before the pause is answered and paid for; then the workers stop.
  await until('the requests in flight to be answered', () => workers.every((w) => w.state?.inFlight === 0))
  await Promise.all(workers.map((w) => w.stop()))

  const requests = chatRequests(sim)
  const measured = rpm(requests, ms)
  const spend = startSpend + simSpend(sim)
  const stats = sim.stats()
  log(`3 workers: ${requests} requests in ${(ms / 1000).toFixed(1)} s = ${(ms / SIM_MINUTE_MS).toFixed(2)} simulated min → ${measured.toFixed(0)} requests/min (limit ${LIMITS.requestsPerMinute}); 429s ${stats.rateLimited}; spend $${spend.toFixed(4)} of a $${budgetUsd} budget; per worker ${workers.map((w) => `${w.name} ${w.state?.requests} req $${w.state?.own.costUsd.toFixed(3)}`).join(', ')}`)
  assert.ok(measured <= LIMITS.requestsPerMinute * 1.05 + 10, `${measured.toFixed(0)} requests/min at the endpoint, limit ${LIMITS.requestsPerMinute}`)
  assert.ok(stats.rateLimited <= 3, `${stats.rateLimited} 429s`)
  assert.ok(spend >= budgetUsd, `the budget was spent ($${spend})`)
  assert.ok(spend <= budgetUsd * 1.1, `one budget for the pipeline, not one per worker: $${spend.toFixed(4)} spent of $${budgetUsd}`)
  for (const w of workers) assert.ok(w.state!.own.costUsd > 0 && w.state!.own.costUsd < budgetUsd * 0.7, `${w.name} spent a part of it: $${w.state!.own.costUsd}`)
  assert.ok(Date.now() - t0 < 120_000)

  // The ledger: every worker's last record, its final spend, and `left`.
  const kafka = createKafka({ brokers: testInfra().bootstrap, clientId: 'synthq-test' }, testLogger())
  const records = await readAllRecords(kafka, llmQuotaTopic(prefix))
  assert.equal(records.size, 3)
  for (const r of records.values()) assert.equal(r.state, 'left')
  const ledger = [...records.values()].reduce((s, r) => s + r.spend.usd, 0)
  assert.ok(Math.abs(ledger - spend) < 1e-6, `the ledger ($${ledger}) holds what the endpoint answered ($${spend})`)

  // A restart: a new worker of the pipeline reads the spend and sends nothing.
  const before = chatRequests(sim)
  const d = startWorker('d', config(sim, prefix, { budgetUsd }))
  await d.ready
  assert.ok(d.state!.exceeded, 'the restarted worker is over the pipeline\'s budget')
  assert.ok(Math.abs(d.state!.totals.costUsd - ledger) < 1e-6)
  d.child.send({ type: 'go' })
  await until('the restarted worker to pause', () => d.state?.paused === true)
  await d.stop()
  assert.equal(chatRequests(sim), before, 'no request after the restart')
})

/** Every member's last record in the quota topic (it is compacted: the last one per key counts). */
async function readAllRecords (kafka: ReturnType<typeof createKafka>, topic: string): Promise<Map<string, NonNullable<ReturnType<typeof decodeMember>>>> {
  const admin = kafka.admin()
  await admin.connect()
  const high = Number((await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect()))[0]!.high)
  const out = new Map<string, NonNullable<ReturnType<typeof decodeMember>>>()
  for (const m of await readMessages(kafka, topic, high)) {
    const r = m.value && decodeMember(m.value)
    if (m.key && r) out.set(m.key, r)
  }
  return out
}

test('a worker that dies gives its share back to the others; a new one gets one', async (t) => {
  const sim = await hostedSim(t)
  const prefix = unique('llmq')
  const cfg = config(sim, prefix)
  const [a, b, c] = ['a', 'b', 'c'].map((n) => startWorker(n, cfg)) as [Worker, Worker, Worker]
  const all = [a, b, c]
  t.after(async () => { await Promise.all(all.map((w) => w.stop())) })
  await Promise.all([a, b, c].map((w) => w.ready))
  await until('every worker to see three members', () => [a, b, c].every((w) => w.state?.members === 3))
  for (const w of [a, b, c]) w.child.send({ type: 'go' })

  // Three workers for a while, then c dies without a word.
  const phase = async (workers: Worker[], ms: number): Promise<{ total: number, mine: number }> => {
    const r0 = chatRequests(sim)
    const m0 = workers.reduce((s, w) => s + w.state!.requests, 0)
    await new Promise((r) => setTimeout(r, ms))
    return { total: chatRequests(sim) - r0, mine: workers.reduce((s, w) => s + w.state!.requests, 0) - m0 }
  }
  const window = 1.5 * SIM_MINUTE_MS
  await new Promise((r) => setTimeout(r, 1_000))
  const three = await phase([a, b], window)
  c.child.kill('SIGKILL')
  const detected = await until('a and b to see c gone', () => a.state?.members === 2 && b.state?.members === 2, 30_000)
  assert.equal(a.state!.requestsPerMinute, LIMITS.requestsPerMinute / 2)
  assert.equal(b.state!.requestsPerMinute, LIMITS.requestsPerMinute / 2)
  await new Promise((r) => setTimeout(r, 1_000))
  const two = await phase([a, b], window)
  log(`with c: ${rpm(three.total, window).toFixed(0)} requests/min at the endpoint, a+b ${rpm(three.mine, window).toFixed(0)}; c killed, seen gone after ${(detected / 1000).toFixed(1)} s; without c: ${rpm(two.total, window).toFixed(0)} requests/min, a+b ${rpm(two.mine, window).toFixed(0)}; 429s ${sim.stats().rateLimited}`)
  assert.ok(rpm(three.total, window) <= LIMITS.requestsPerMinute * 1.05 + 10)
  assert.ok(rpm(two.total, window) <= LIMITS.requestsPerMinute * 1.05 + 10)
  // a and b had two thirds of the limit between them; now they have all of it (their buckets'
  // limits above). Their traffic shows it unless the machine is too busy for the workers to reach
  // their limits at all (with c they did not even fill two thirds): then there is nothing to see.
  if (rpm(three.mine, window) >= LIMITS.requestsPerMinute * 2 / 3 * 0.9) {
    assert.ok(rpm(two.mine, window) > LIMITS.requestsPerMinute * 0.72, `a and b took c's share: ${rpm(two.mine, window).toFixed(0)} requests/min`)
  } else {
    t.diagnostic(`a and b sent ${rpm(three.mine, window).toFixed(0)} requests/min with c, below their two thirds: too little CPU to show c's share in their traffic`)
  }

  // A new worker joins: a third each again.
  const d = startWorker('d', cfg)
  all.push(d)
  await d.ready
  await until('a, b and d to see three members', () => [a, b, d].every((w) => w.state?.members === 3))
  for (const w of [a, b, d]) assert.ok(Math.abs(w.state!.requestsPerMinute! - LIMITS.requestsPerMinute / 3) < 1e-6)
  assert.ok(sim.stats().rateLimited <= 3, `${sim.stats().rateLimited} 429s`)
})
