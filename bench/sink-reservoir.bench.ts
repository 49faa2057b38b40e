/**
 * The topic-balanced reservoir alone (src/sink/reservoir): offers/s for K = 100,000 and
 * K = 1,000,000 over 3,000,000 scored items in 200 topics with Zipf(1) sizes (the largest topic
 * ≈ 510,000 items, the smallest ≈ 2,550), for each sampling policy; heap held by the full
 * reservoir; the checkpoint's JSON size, serialise time and restore time.
 *
 *   node --expose-gc --import tsx bench/sink-reservoir.bench.ts     (tsx bench/sink-reservoir.bench.ts
 *                                                                    works too; --expose-gc makes the
 *                                                                    memory figures exact)
 *
 * Items: 20-character ids ("synthq-inst-00000042"), scores drawn like the paper's totals (7: 45 %,
 * 6: 39 %, 5: 13 %, below: 3 %), payload = a number (a Kafka offset, as the sink will store).
 * The id string is built inside the timed loop, as the sink would receive it; the loop without
 * offer() is timed too and reported as overhead. BENCH_ITEMS (default 3,000,000) and
 * BENCH_POLICIES (default uniform,weighted,top) change the run.
 */
import { performance } from 'node:perf_hooks'
import { TopicBalancedReservoir, type ReservoirSnapshot } from '../src/sink/reservoir/index.ts'
import type { Policy } from '../src/sink/reservoir/keys.ts'

const ITEMS = Number(process.env.BENCH_ITEMS ?? 3_000_000)
const POLICIES = (process.env.BENCH_POLICIES ?? 'uniform,weighted,top').split(',') as Policy[]
const TOPICS = 200
const out = (s: string): void => { process.stdout.write(`${s}\n`) }
const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const gc = (globalThis as { gc?: () => void }).gc
const heap = (): number => { gc?.(); gc?.(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
const MiB = 1048576

/** Deterministic inputs (mulberry32): topic by Zipf(1) over 200 topics, score like the paper's totals. */
function inputs (n: number): { topic: Uint16Array, score: Uint8Array } {
  let a = 12345
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const cdf: number[] = []
  let h = 0
  for (let i = 1; i <= TOPICS; i++) { h += 1 / i; cdf.push(h) }
  const topic = new Uint16Array(n)
  const score = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const x = rnd() * h
    let lo = 0
    let hi = TOPICS - 1
    while (lo < hi) { const m = (lo + hi) >> 1; if (cdf[m]! < x) lo = m + 1; else hi = m }
    topic[i] = lo
    const s = rnd()
    score[i] = s < 0.45 ? 7 : s < 0.84 ? 6 : s < 0.97 ? 5 : Math.floor(rnd() * 5)
  }
  return { topic, score }
}

const idOf = (i: number): string => `synthq-inst-${String(i).padStart(8, '0')}`

const { topic, score } = inputs(ITEMS)
out(`sink-reservoir bench: ${fmt(ITEMS)} items, ${TOPICS} topics (Zipf 1), policies ${POLICIES.join(', ')}${gc ? '' : ' (no --expose-gc: memory figures approximate)'}`)

// The loop's own cost: building ids and item objects, no reservoir.
{
  let sink = 0
  const t0 = performance.now()
  for (let i = 0; i < ITEMS; i++) {
    const it = { id: idOf(i), topic: topic[i]!, score: score[i]!, payload: i }
    sink += it.id.length
  }
  const s = (performance.now() - t0) / 1000
  out(`loop overhead (ids + objects, no offer): ${fmt(s, 2)} s = ${fmt(ITEMS / s)} items/s ${sink > 0 ? '' : '!'}`)
}
out('')

/** One run; its reservoir is unreachable once this returns, so the next run's baseline excludes it. */
function run (k: number, policy: Policy, checkpoint: boolean): void {
  const h0 = heap()
  const r = new TopicBalancedReservoir<number>({ k, policy, seed: 7 })
  const t0 = performance.now()
  for (let i = 0; i < ITEMS; i++) r.offer({ id: idOf(i), topic: topic[i]!, score: score[i]!, payload: i })
  const secs = (performance.now() - t0) / 1000
  const held = heap() - h0
  const s = r.stats()
  out(`K=${fmt(k).padStart(9)} ${policy.padEnd(8)}  ${fmt(ITEMS / secs).padStart(9)} offers/s (${fmt(secs, 2)} s)   heap ${fmt(held / MiB, 1)} MiB = ${fmt(held / s.size)} B/item   ` +
    `kept ${fmt(s.size)}, evicted ${fmt(s.evicted)}, level ${s.level}, ${s.perTopic.filter((p) => p.seen > s.level!).length} saturated topics, balance ratio ${s.balanceRatio?.toFixed(4)}`)
  if (!checkpoint) return
  const t1 = performance.now()
  const snap = r.snapshot()
  const t2 = performance.now()
  const json = JSON.stringify(snap)
  const t3 = performance.now()
  const parsed = JSON.parse(json) as ReservoirSnapshot<number>
  const t4 = performance.now()
  const back = TopicBalancedReservoir.restore(parsed)
  const t5 = performance.now()
  if (back.size !== r.size) throw new Error('restore lost items')
  const bytes = Buffer.byteLength(json)
  out(`K=${fmt(k).padStart(9)} snapshot ${fmt(bytes / MiB, 1)} MiB JSON (${fmt(bytes / s.size, 1)} B/item): ` +
    `snapshot() ${fmt(t2 - t1)} ms + JSON.stringify ${fmt(t3 - t2)} ms; JSON.parse ${fmt(t4 - t3)} ms + restore() ${fmt(t5 - t4)} ms`)
}

for (const k of [100_000, 1_000_000]) {
  POLICIES.forEach((policy, i) => run(k, policy, i === POLICIES.length - 1))
}
