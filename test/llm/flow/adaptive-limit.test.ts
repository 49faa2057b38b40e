/**
 * The adaptive concurrency limit in virtual time (test/llm/flow/sim.ts): servers shaped by the LLM
 * simulator's profiles and by a NIM-shaped latency curve, callers with a backlog, 429s at random
 * and in bursts. Every run is seeded, so each figure is the same on every machine: the bounds
 * below are about the controller, never about timing. bench/llm-flow.bench.ts prints the same
 * runs in full.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AdaptiveLimit, type LimitChangeReason, type Permit } from '../../../src/llm/flow/adaptive-limit.ts'
import { PROFILES } from '../../../src/llm/sim/profiles.ts'
import { ManualClock, flush } from './manual-clock.ts'
import { Backlog, ProfileServer, QueueingServer, sampler, type SimServer } from './sim.ts'

async function take (limiter: AdaptiveLimit, n: number): Promise<Permit[]> {
  const out: Permit[] = []
  for (let i = 0; i < n; i++) out.push(await limiter.acquire())
  return out
}

test('grants up to the limit at once, then serves waiters FIFO; abort leaves the line; a second release is a no-op', async () => {
  const limiter = new AdaptiveLimit({ initial: 2, min: 2, max: 2 })
  const [a, b] = await take(limiter, 2)
  const order: string[] = []
  const ac = new AbortController()
  const w1 = limiter.acquire().then((p) => { order.push('w1'); return p })
  const gone = limiter.acquire(ac.signal)
  const w3 = limiter.acquire().then((p) => { order.push('w3'); return p })
  assert.equal(limiter.queued, 3)
  const reason = new Error('shutting down')
  ac.abort(reason)
  await assert.rejects(gone, (e) => e === reason)
  assert.equal(limiter.queued, 2)
  a!.release({ kind: 'ignore' })
  a!.release({ kind: 'ignore' })
  await flush()
  assert.deepEqual(order, ['w1'], 'released twice, counted once')
  assert.equal(limiter.inFlight, 2)
  b!.release({ kind: 'ignore' })
  await flush()
  assert.deepEqual(order, ['w1', 'w3'])
  for (const p of await Promise.all([w1, w3])) p.release({ kind: 'ignore' })
  assert.equal(limiter.inFlight, 0)
  await assert.rejects(limiter.acquire(AbortSignal.abort(reason)), (e) => e === reason)
})


interface Run { backlog: Backlog, limiter: AdaptiveLimit, limits: Array<{ at: number, value: number }>, changes: Array<{ at: number, limit: number, reason: LimitChangeReason }> }

/** `callers` with a backlog against `server` for `seconds` of virtual time. */
async function simulate (make: (clock: ManualClock) => SimServer, seconds: number, o: { limiter?: (now: () => number, onChange: (l: number, r: LimitChangeReason) => void) => AdaptiveLimit, callers?: number, during?: (clock: ManualClock, server: SimServer) => void } = {}): Promise<Run> {
  const clock = new ManualClock()
  const server = make(clock)
  const changes: Run['changes'] = []
  const onChange = (limit: number, reason: LimitChangeReason): void => { changes.push({ at: clock.now(), limit, reason }) }
  const limiter = o.limiter ? o.limiter(clock.now, onChange) : new AdaptiveLimit({ now: clock.now, onChange })
  const backlog = new Backlog(clock, limiter, server, o.callers ?? 2048)
  const limits = sampler(clock, 1000, () => limiter.limit)
  o.during?.(clock, server)
  await clock.advance(seconds * 1000)
  backlog.stop()
  return { backlog, limiter, limits, changes }
}

const fixed = (n: number) => () => new AdaptiveLimit({ initial: n, min: n, max: n })
/** Completions per second in [from, to) s. */
const rate = (r: Run, from: number, to: number): number => r.backlog.completions.filter((c) => c.at >= from * 1000 && c.at < to * 1000).length / (to - from)
const limitsDuring = (r: Run, from: number, to: number): number[] => r.limits.filter((s) => s.at >= from * 1000 && s.at <= to * 1000).map((s) => s.value)
const chat = { tokens: { min: 100, max: 300 }, promptTokens: 700 }

/** The best throughput of a sweep of fixed limits, measured over the same part of the run. */
async function bestFixed (make: (clock: ManualClock) => SimServer, seconds: number, sweep: number[]): Promise<{ limit: number, rate: number }> {
  let best = { limit: 0, rate: 0 }
  for (const n of sweep) {
    const r = rate(await simulate(make, seconds, { limiter: fixed(n) }), seconds / 4, seconds)
    if (r > best.rate) best = { limit: n, rate: r }
  }
  return best
}

test('h100-8b (256 in service, decode slowing with the batch): ramps from 64 to the knee within a minute and holds ≥ 97 % of the best fixed limit', async () => {
  const make = (c: ManualClock): SimServer => new ProfileServer(c, PROFILES['h100-8b'], { ...chat, seed: 1 })
  const best = await bestFixed(make, 240, [128, 192, 256, 384])
  const run = await simulate(make, 240)
  const adaptive = rate(run, 60, 240)
  assert.ok(adaptive >= 0.97 * best.rate, `adaptive ${adaptive.toFixed(1)} req/s vs fixed ${best.limit}: ${best.rate.toFixed(1)}`)
  // Past the ramp, the limit stays around the knee: not far below (throughput lost), nor deep in the queue.
  const late = limitsDuring(run, 60, 240)
  assert.ok(Math.min(...late) >= 128 && Math.max(...late) <= 320, `limit over 60–240 s: ${Math.min(...late)}..${Math.max(...late)}`)
  assert.ok(rate(run, 0, 240) >= 0.93 * best.rate, `whole run, ramp included: ${rate(run, 0, 240).toFixed(1)} req/s`)
})

test('h100x2-70b (64 in service) and a NIM-shaped server without a slot count: ≥ 95 % of the best fixed limit', async () => {
  const shapes: Array<[string, (c: ManualClock) => SimServer, number[]]> = [
    ['h100x2-70b', (c) => new ProfileServer(c, PROFILES['h100x2-70b'], { ...chat, seed: 2 }), [32, 48, 64, 96]],
    ['NIM-shaped', (c) => new QueueingServer(c, { knee: 250, tokens: { min: 200, max: 600, ttftMs: 0, perTokenMs: 0 }, latency: (n, t) => (n < 200 ? 10 + 2.3 * n : 465 + 2.8 * (n - 200)) + t * (n < 200 ? 4.6 + 0.04 * n : 12.7 + 0.068 * (n - 200)) * Math.max(1, n / 250), seed: 5 }), [96, 192, 256, 384]],
  ]
  for (const [name, make, sweep] of shapes) {
    const best = await bestFixed(make, 360, sweep)
    const adaptive = rate(await simulate(make, 360), 90, 360)
    assert.ok(adaptive >= 0.95 * best.rate, `${name}: adaptive ${adaptive.toFixed(2)} req/s vs fixed ${best.limit}: ${best.rate.toFixed(2)}`)
  }
})

test('a CPU server with 2 slots: the first answers show the queue, and the limit goes to the slots at once instead of stepping down for minutes', async () => {
  const make = (c: ManualClock): SimServer => new ProfileServer(c, PROFILES['cpu-3b'], { tokens: { min: 50, max: 150 }, promptTokens: 300, seed: 3 })
  const run = await simulate(make, 1800)
  const settled = run.changes.find((c) => c.reason === 'settle')
  assert.ok(settled && settled.limit <= 4 && settled.at <= 240_000, `first settle: ${JSON.stringify(settled)}`)
  const late = limitsDuring(run, 900, 1800)
  assert.ok(Math.max(...late) <= 4, `limit over 900–1800 s: ${Math.min(...late)}..${Math.max(...late)}`)
  const best = rate(await simulate(make, 1800, { limiter: fixed(2) }), 900, 1800)
  assert.ok(rate(run, 900, 1800) >= 0.95 * best, `${rate(run, 900, 1800)} vs fixed 2: ${best}`)
})

test('a quiet start (one short call alone, the backlog a second later) and odd short calls in the first cohort are not taken for queueing', async () => {
  // Seen against the simulator's h100-8b profile: the pipeline's first call was a capability
  // probe with a 6-token answer, then 1.2 s passed before the documents arrived. Taking that
  // call as the unqueued baseline and the quiet second as serving time settled the limit at 1.
  const clock = new ManualClock()
  const server = new ProfileServer(clock, PROFILES['h100-8b'], { ...chat, seed: 11 })
  const changes: Array<{ at: number, limit: number, reason: LimitChangeReason }> = []
  const limiter = new AdaptiveLimit({ now: clock.now, onChange: (limit, reason) => changes.push({ at: clock.now(), limit, reason }) })
  const lone = await limiter.acquire()
  await clock.advance(61)
  lone.release({ kind: 'success', latencyMs: 61, outputTokens: 6 })
  await clock.advance(1200)
  // Two more short calls inside the burst, then the backlog.
  const shorts = await take(limiter, 2)
  clock.setTimer(() => { for (const p of shorts) p.release({ kind: 'success', latencyMs: 70, outputTokens: 8 }) }, 70)
  const backlog = new Backlog(clock, limiter, server, 2048)
  const limits = sampler(clock, 1000, () => limiter.limit)
  await clock.advance(60_000)
  backlog.stop()
  const low = changes.find((c) => c.limit < 32)
  assert.equal(low, undefined, `limit cut below its start: ${JSON.stringify(changes.slice(0, 5))}`)
  const late = limits.filter((s) => s.at >= 30_000).map((s) => s.value)
  assert.ok(Math.min(...late) >= 128, `limit over 30–60 s: ${Math.min(...late)}..${Math.max(...late)}`)
})

test('demand below the limit says nothing about capacity: the limit does not grow', async () => {
  const run = await simulate((c) => new ProfileServer(c, PROFILES['h100-8b'], { ...chat, seed: 4 }), 120, { callers: 12 })
  assert.deepEqual(run.changes, [])
  assert.equal(run.limiter.limit, 64, 'still the initial limit')
})

test('a fixed limit (min = max) never moves, whatever the server says', async () => {
  const run = await simulate((c) => new ProfileServer(c, PROFILES['h100-8b'], { ...chat, seed: 5, refuse: 0.5, retryAfterMs: 100 }), 60, { limiter: fixed(48) })
  assert.deepEqual(run.changes, [])
  assert.ok(run.backlog.refusals > 0 && run.backlog.completions.length > 0)
})

test('10 % of calls refused at random (429, Retry-After 1 s): isolated refusals move neither the limit nor the throughput', async () => {
  const make = (refuse: number) => (c: ManualClock): SimServer => new ProfileServer(c, PROFILES['h100-8b'], { ...chat, seed: 7, refuse, retryAfterMs: 1000 })
  const clean = await simulate(make(0), 240)
  const faulty = await simulate(make(0.1), 240)
  assert.ok(faulty.backlog.refusals > 1000, `${faulty.backlog.refusals} refusals`)
  assert.equal(faulty.changes.filter((c) => c.reason === 'congestion').length, 0)
  assert.ok(rate(faulty, 60, 240) >= 0.95 * rate(clean, 60, 240), `${rate(faulty, 60, 240).toFixed(1)} vs clean ${rate(clean, 60, 240).toFixed(1)} req/s`)
})

test('every call refused for 10 s: the limit is cut at most once per round trip, not again on refused cohorts closing after the end, and throughput is back to 95 % within 3 s of it', async () => {
  const run = await simulate((c) => new ProfileServer(c, PROFILES['h100-8b'], { ...chat, seed: 8, retryAfterMs: 1000 }), 200, {
    during: (clock, server) => {
      clock.setTimer(() => { (server as ProfileServer).refuse = 1 }, 120_000)
      clock.setTimer(() => { (server as ProfileServer).refuse = 0 }, 130_000)
    },
  })
  const cuts = run.changes.filter((c) => c.reason === 'congestion')
  assert.ok(cuts.length >= 1, 'refusals on every call while the limit binds are congestion')
  // Round trips here are 3–4 s: 10 s of refusals allow a handful of cuts, not one per refused cohort.
  assert.ok(cuts.length <= 5, `${cuts.length} cuts: ${JSON.stringify(cuts)}`)
  const before = rate(run, 90, 120)
  // A refused cohort still closing after the refusals stopped is stale: no cut once they are over.
  const late = cuts.filter((c) => c.at > 130_500)
  assert.deepEqual(late, [], 'no cut after the burst')
  const t = [0, 1, 2, 3].find((s) => rate(run, 130 + s, 135 + s) >= 0.95 * before)
  assert.ok(t !== undefined, `5 s windows after the burst: ${[0, 5, 10, 15].map((s) => rate(run, 130 + s, 135 + s).toFixed(1)).join(', ')} vs ${before.toFixed(1)} before`)
})

test('an endpoint that refuses what exceeds its rate (500 requests/min, no rate headers): the limit comes down from where refusals began, and the rate is used in full', async () => {
  const run = await simulate((c) => new ProfileServer(c, PROFILES.hosted, { ...chat, seed: 9 }), 300)
  const cuts = run.changes.filter((c) => c.reason === 'congestion')
  assert.ok(cuts.length > 0)
  // Refusals began at the top of the ramp; every recovery goes back below it.
  const firstCut = run.changes.findIndex((c) => c.reason === 'congestion')
  const peak = Math.max(...run.changes.slice(0, firstCut).map((c) => c.limit))
  const recoveries = run.changes.filter((c) => c.reason === 'recover').map((c) => c.limit)
  assert.ok(recoveries.length >= 1 && recoveries.every((l) => l < peak), `peak ${peak}, recoveries ${JSON.stringify(recoveries)}`)
  // What matters to the user: the endpoint's 500 requests a minute are all used.
  assert.ok(rate(run, 60, 300) >= 0.95 * 500 / 60, `${rate(run, 60, 300).toFixed(2)} req/s of 8.33 allowed`)
})
