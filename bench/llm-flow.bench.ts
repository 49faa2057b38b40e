/**
 * The adaptive concurrency limit (src/llm/flow/adaptive-limit.ts) against fixed limits, on
 * simulated LLM servers in virtual time: the same seeded run every time, minutes of traffic in
 * seconds, no server needed. Thousands of callers with a backlog each loop acquire → call →
 * release; a refused call (429) releases its slot and waits out its Retry-After.
 *
 *   npm run -s bench:llm-flow
 *   BENCH_MINUTES=20 npm run -s bench:llm-flow
 *
 * Servers (test/llm/flow/sim.ts):
 * - the LLM simulator's profiles h100-8b (256 in service, FIFO queue beyond, decode slowing with
 *   the batch), h100x2-70b (64 in service), cpu-3b (2 slots, seconds per answer) and hosted
 *   (500 requests/min, 429 beyond);
 * - NIM-shaped: no hard slot count, latency rising with every call added along NVIDIA NIM's
 *   published Llama-3.1-8B/H100 figures and flat throughput past 250 (an estimate);
 * - knee 200: full speed up to 200 calls, then shared among all (processor sharing).
 *
 * For each: every fixed limit of a sweep, then the adaptive limit at its defaults. "steady" is
 * throughput after the first quarter of the run; "whole" includes the start (the adaptive limit
 * starts at 64). Ratios are to the best fixed limit. Then faults on h100-8b: 10 % random 429s,
 * and a burst of 429s on every call for 10 s, with how long throughput took to come back to
 * 95 % of what it was before. The last line sums it up as ratios.
 */
import { AdaptiveLimit } from '../src/llm/flow/adaptive-limit.ts'
import { PROFILES } from '../src/llm/sim/profiles.ts'
import { ManualClock } from '../test/llm/flow/manual-clock.ts'
import { Backlog, ProfileServer, QueueingServer, percentile, sampler, type SimServer } from '../test/llm/flow/sim.ts'

const MINUTES = Number(process.env.BENCH_MINUTES ?? 10)
const CALLERS = 2048

/** Piecewise linear through (x, y) points, extended proportionally (flat throughput) past the last one. */
function curve (points: Array<[number, number]>): (x: number) => number {
  return (x) => {
    const last = points[points.length - 1]!
    if (x >= last[0]) return last[1] * x / last[0]
    for (let i = 1; i < points.length; i++) {
      const [x1, y1] = points[i]!
      const [x0, y0] = points[i - 1]!
      if (x <= x1) return y0 + (y1 - y0) * (Math.max(x, x0) - x0) / (x1 - x0)
    }
    return last[1]
  }
}
const ttft = curve([[1, 10], [100, 120], [200, 465], [250, 606]])
const perToken = curve([[1, 4.6], [100, 7.6], [200, 12.7], [250, 16.1]])

interface Scenario { name: string, minutes: number, server: (clock: ManualClock) => SimServer, sweep: number[] }

const chatTokens = { tokens: { min: 100, max: 300 }, promptTokens: 700 }
const scenarios: Scenario[] = [
  { name: 'h100-8b (256 in service, queue beyond)', minutes: MINUTES, server: (c) => new ProfileServer(c, PROFILES['h100-8b'], { ...chatTokens, seed: 1 }), sweep: [64, 128, 192, 256, 320, 512] },
  { name: 'h100x2-70b (64 in service)', minutes: MINUTES, server: (c) => new ProfileServer(c, PROFILES['h100x2-70b'], { ...chatTokens, seed: 2 }), sweep: [16, 32, 48, 64, 96, 128] },
  { name: 'cpu-3b (2 slots, ~20 s per answer)', minutes: MINUTES * 6, server: (c) => new ProfileServer(c, PROFILES['cpu-3b'], { tokens: { min: 50, max: 150 }, promptTokens: 300, seed: 3 }), sweep: [1, 2, 3, 4, 8] },
  { name: 'hosted (500 requests/min, 429 beyond)', minutes: MINUTES, server: (c) => new ProfileServer(c, PROFILES.hosted, { ...chatTokens, seed: 4 }), sweep: [8, 16, 24, 32, 64] },
  { name: 'NIM-shaped (no slot count, flat past 250)', minutes: MINUTES, server: (c) => new QueueingServer(c, { knee: 250, tokens: { min: 200, max: 600, ttftMs: 0, perTokenMs: 0 }, latency: (n, t) => ttft(n) + t * perToken(n), seed: 5 }), sweep: [64, 128, 192, 256, 384, 512] },
  { name: 'knee 200 (shared beyond)', minutes: MINUTES, server: (c) => new QueueingServer(c, { knee: 200, tokens: { min: 100, max: 700, ttftMs: 200, perTokenMs: 10 }, seed: 6 }), sweep: [100, 150, 200, 250, 300, 512] },
]

interface Result { name: string, steady: number, whole: number, p50: number, meanLimit: number, refusals: number }

async function run (minutes: number, make: (clock: ManualClock) => SimServer, limiter: (now: () => number) => AdaptiveLimit, name: string): Promise<Result> {
  const clock = new ManualClock()
  const lim = limiter(clock.now)
  const backlog = new Backlog(clock, lim, make(clock), CALLERS)
  const limits = sampler(clock, 1000, () => lim.limit)
  const end = minutes * 60_000
  const from = end / 4
  await clock.advance(end)
  backlog.stop()
  const measured = backlog.completions.filter((c) => c.at >= from)
  const late = limits.filter((s) => s.at >= from).map((s) => s.value)
  return {
    name,
    steady: measured.length / ((end - from) / 1000),
    whole: backlog.completions.length / (end / 1000),
    p50: percentile(measured.map((c) => c.latencyMs), 0.5) / 1000,
    meanLimit: late.reduce((a, b) => a + b, 0) / late.length,
    refusals: backlog.refusals,
  }
}

const out = (s: string): void => { process.stdout.write(s + '\n') }
const t0 = Date.now()
out(`llm-flow bench: simulated time, ${CALLERS} callers with a backlog; steady = after the first quarter of each run`)
const ratios: number[] = []
for (const sc of scenarios) {
  const results: Result[] = []
  for (const n of sc.sweep) results.push(await run(sc.minutes, sc.server, () => new AdaptiveLimit({ initial: n, min: n, max: n }), `fixed ${n}`))
  const adaptive = await run(sc.minutes, sc.server, (now) => new AdaptiveLimit({ now }), 'adaptive')
  results.push(adaptive)
  const fixed = results.filter((r) => r.name.startsWith('fixed'))
  const best = fixed.reduce((a, b) => (b.steady > a.steady ? b : a))
  ratios.push(adaptive.steady / best.steady)
  out('')
  out(`${sc.name}: ${sc.minutes} min   (best fixed: ${best.name})`)
  out(`${'strategy'.padEnd(10)} ${'limit'.padStart(6)} ${'req/s'.padStart(8)} ${'x best'.padStart(7)} ${'whole'.padStart(8)} ${'x best'.padStart(7)} ${'p50 s'.padStart(7)} ${'429s'.padStart(7)}`)
  for (const r of results) {
    out(`${r.name.padEnd(10)} ${r.meanLimit.toFixed(0).padStart(6)} ${r.steady.toFixed(2).padStart(8)} ${(r.steady / best.steady).toFixed(2).padStart(7)} ${r.whole.toFixed(2).padStart(8)} ${(r.whole / best.whole).toFixed(2).padStart(7)} ${r.p50.toFixed(2).padStart(7)} ${String(r.refusals).padStart(7)}`)
  }
}

// Faults on h100-8b: random 429s all along, and a burst of 429s on every call.
async function faults (): Promise<{ randomRatio: number, recoverySeconds: number, burstDip: number }> {
  const minutes = 4
  const clean = await run(minutes, (c) => new ProfileServer(c, PROFILES['h100-8b'], { ...chatTokens, seed: 7 }), (now) => new AdaptiveLimit({ now }), 'clean')
  const random = await run(minutes, (c) => new ProfileServer(c, PROFILES['h100-8b'], { ...chatTokens, seed: 7, refuse: 0.1, retryAfterMs: 1000 }), (now) => new AdaptiveLimit({ now }), '10 % 429')
  // The burst: every call refused from 120 s to 130 s; throughput per second after it.
  const clock = new ManualClock()
  const server = new ProfileServer(clock, PROFILES['h100-8b'], { ...chatTokens, seed: 8, retryAfterMs: 1000 })
  const lim = new AdaptiveLimit({ now: clock.now })
  const backlog = new Backlog(clock, lim, server, CALLERS)
  clock.setTimer(() => { server.refuse = 1 }, 120_000)
  clock.setTimer(() => { server.refuse = 0 }, 130_000)
  await clock.advance(200_000)
  backlog.stop()
  const rate = (from: number, to: number): number => backlog.completions.filter((c) => c.at >= from && c.at < to).length / ((to - from) / 1000)
  const before = rate(90_000, 120_000)
  let back = Infinity
  // The first second from which a 5 s window holds 95 % of the rate before the burst.
  for (let t = 130_000; t <= 195_000; t += 1000) if (rate(t, t + 5000) >= 0.95 * before) { back = (t - 130_000) / 1000; break }
  out('')
  out('faults on h100-8b, adaptive limit')
  out(`  10 % of calls refused (429, Retry-After 1 s): ${random.steady.toFixed(2)} req/s vs ${clean.steady.toFixed(2)} clean = ${(random.steady / clean.steady).toFixed(2)} (limit ${random.meanLimit.toFixed(0)} vs ${clean.meanLimit.toFixed(0)})`)
  out(`  every call refused for 10 s: ${before.toFixed(1)} req/s before; back to 95 % of it ${back === Infinity ? 'not within 65 s' : `${back} s after the burst`}`)
  return { randomRatio: random.steady / clean.steady, recoverySeconds: back, burstDip: rate(130_000, 135_000) / before }
}
const f = await faults()
out('')
out(`(${((Date.now() - t0) / 1000).toFixed(1)} s of wall time)`)
out(`adaptive_vs_best_fixed_min=${Math.min(...ratios).toFixed(2)} adaptive_vs_best_fixed_median=${[...ratios].sort((a, b) => a - b)[ratios.length >> 1]!.toFixed(2)} random_429_ratio=${f.randomRatio.toFixed(2)} burst_recovery_s=${f.recoverySeconds}`)
