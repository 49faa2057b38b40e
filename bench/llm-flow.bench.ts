/**
 * The adaptive concurrency limit (src/llm/flow/adaptive-limit.ts) against fixed limits, on a
 * simulated LLM server in simulated time: the same seeded run every time, minutes of traffic in
 * a second, no server needed. 2048 callers with a backlog each loop acquire → call → release.
 *
 *   npx tsx bench/llm-flow.bench.ts
 *   BENCH_MINUTES=60 BENCH_WARMUP_MINUTES=10 npx tsx bench/llm-flow.bench.ts
 *
 * Servers:
 * - knee 200: full speed up to 200 concurrent calls, then shared among all of them (latency =
 *   work × max(1, inFlight / 200)): an 8B model on one H100, which saturates at 200–250
 *   (/work/shared/notes/serving.md). Answers of 100–700 tokens, 200 ms + 10 ms per token unloaded.
 * - gradual: latency rising with every call added, shaped on NVIDIA NIM's published
 *   Llama-3.1-8B / H100 figures (TTFT 10 → 120 → 465 → 606 ms and 4.6 → 7.6 → 12.7 → 16.1 ms per
 *   token at 1, 100, 200, 250 concurrent; flat throughput beyond): an estimate, not a measurement.
 *   Answers of 200–600 tokens.
 *
 * Figures exclude the warm-up (the adaptive limit starts at 16); the last column covers the
 * whole run. Ratios are to the fixed limit with the best throughput.
 */
import { AdaptiveLimit } from '../src/llm/flow/adaptive-limit.ts'
import { ManualClock } from '../test/llm/flow/manual-clock.ts'
import { Backlog, QueueingServer, percentile, sampler, type ServerOptions } from '../test/llm/flow/sim.ts'

const MINUTES = Number(process.env.BENCH_MINUTES ?? 30)
const WARMUP_MINUTES = Number(process.env.BENCH_WARMUP_MINUTES ?? 5)
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

interface Scenario { name: string, server: ServerOptions }

const scenarios: Scenario[] = [
  { name: 'queueing server, knee 200', server: { knee: 200, tokens: { min: 100, max: 700, ttftMs: 200, perTokenMs: 10 }, seed: 1 } },
  { name: 'gradual server (NIM-shaped estimate)', server: { knee: 250, tokens: { min: 200, max: 600, ttftMs: 0, perTokenMs: 0 }, latency: (n, t) => ttft(n) + t * perToken(n), seed: 2 } },
]

interface Strategy { name: string, make: (now: () => number) => AdaptiveLimit }

const fixed = (n: number): Strategy => ({ name: `fixed ${n}`, make: () => new AdaptiveLimit({ initial: n, min: n, max: n }) })
const strategies: Strategy[] = [
  fixed(8), fixed(64), fixed(200), fixed(512),
  { name: 'adaptive', make: (now) => new AdaptiveLimit({ now }) },
  // The default tolerance is 1.5; these show what moving it trades.
  { name: 'adaptive tol 1.25', make: (now) => new AdaptiveLimit({ now, tolerance: 1.25 }) },
  { name: 'adaptive tol 2', make: (now) => new AdaptiveLimit({ now, tolerance: 2 }) },
]

interface Result { name: string, rps: number, p50: number, p99: number, meanLimit: number, wholeRps: number }

async function run (scenario: Scenario, strategy: Strategy): Promise<Result> {
  const clock = new ManualClock()
  const server = new QueueingServer(clock, scenario.server)
  const limiter = strategy.make(clock.now)
  const backlog = new Backlog(clock, limiter, server, CALLERS)
  const limits = sampler(clock, 1000, () => limiter.limit)
  const end = MINUTES * 60_000
  const from = WARMUP_MINUTES * 60_000
  await clock.advance(end)
  backlog.stop()
  const measured = backlog.completions.filter((c) => c.at >= from && c.at <= end)
  const latencies = measured.map((c) => c.latencyMs)
  const late = limits.filter((s) => s.at >= from).map((s) => s.value)
  return {
    name: strategy.name,
    rps: measured.length / ((end - from) / 1000),
    p50: percentile(latencies, 0.5) / 1000,
    p99: percentile(latencies, 0.99) / 1000,
    meanLimit: late.reduce((a, b) => a + b, 0) / late.length,
    wholeRps: backlog.completions.length / (end / 1000),
  }
}

const out = (s: string): void => { process.stdout.write(s + '\n') }
const t0 = Date.now()
out(`llm-flow bench: ${MINUTES} min of simulated time per run (figures after a ${WARMUP_MINUTES} min warm-up), ${CALLERS} callers with a backlog`)
for (const scenario of scenarios) {
  const results: Result[] = []
  for (const s of strategies) results.push(await run(scenario, s))
  // The best fixed limit: the highest throughput, and of those within 0.5 % of it the lowest latency.
  const fixedResults = results.filter((r) => r.name.startsWith('fixed'))
  const top = Math.max(...fixedResults.map((r) => r.rps))
  const best = fixedResults.filter((r) => r.rps >= top * 0.995).reduce((a, b) => (b.p50 < a.p50 ? b : a))
  out('')
  out(`${scenario.name}   (best fixed limit: ${best.name})`)
  out(`${'strategy'.padEnd(17)} ${'limit'.padStart(7)} ${'req/s'.padStart(8)} ${'x best'.padStart(7)} ${'p50 s'.padStart(7)} ${'x best'.padStart(7)} ${'p99 s'.padStart(7)} ${'x best'.padStart(7)} ${'req/s whole run'.padStart(16)}`)
  for (const r of results) {
    out(`${r.name.padEnd(17)} ${r.meanLimit.toFixed(0).padStart(7)} ${r.rps.toFixed(1).padStart(8)} ${(r.rps / best.rps).toFixed(2).padStart(7)} ${r.p50.toFixed(2).padStart(7)} ${(r.p50 / best.p50).toFixed(2).padStart(7)} ${r.p99.toFixed(2).padStart(7)} ${(r.p99 / best.p99).toFixed(2).padStart(7)} ${r.wholeRps.toFixed(1).padStart(16)}`)
  }
}
out('')
out(`(limit: mean over the measured part; ${((Date.now() - t0) / 1000).toFixed(1)} s of wall time)`)
