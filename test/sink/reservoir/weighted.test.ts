/**
 * The weighted policy is Efraimidis–Spirakis A-Res: with K = 1 item i is kept with probability
 * exactly w_i / Σw (chi-square over 20,000 seeds, weights 1–8 from scores 0–7); with K = 3 the
 * sample is distributed as 3 successive draws without replacement proportional to weight, so
 * every 3-subset's probability is known exactly and the 56 subset frequencies pass a chi-square
 * test; inclusion frequencies rise with weight and match the exact first-order inclusion
 * probabilities. The test can fail: the common mistake key = u·w is rejected.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RecordInvalidError } from '../../../src/errors.ts'
import { deriveSeeds, uniformOf } from '../../../src/sink/reservoir/hash.ts'
import { TopicBalancedReservoir } from '../../../src/sink/reservoir/reservoir.ts'
import { chiSquareTest, fmtChi, subsets } from './stats.ts'

const SCORES = [0, 1, 2, 3, 4, 5, 6, 7]
const W = SCORES.map((s) => s + 1)
const SUM_W = W.reduce((a, b) => a + b, 0)
const RUNS = 20_000

function weightedSample (seed: number, k: number, scores = SCORES, weight?: (s: number) => number): number[] {
  const r = new TopicBalancedReservoir<number>({ k, policy: 'weighted', seed, weight })
  scores.forEach((score, i) => r.offer({ id: `q-${i}`, topic: 't', score, payload: i }))
  return r.sample().map((x) => x.payload)
}

/** Exact probability of each k-subset under k successive draws without replacement ∝ weight. */
function exactSubsetProbabilities (w: readonly number[], k: number): Map<string, number> {
  const out = new Map<string, number>()
  const total = w.reduce((a, b) => a + b, 0)
  const rec = (chosen: number[], p: number, left: number): void => {
    if (chosen.length === k) {
      const key = [...chosen].sort((a, b) => a - b).join(',')
      out.set(key, (out.get(key) ?? 0) + p)
      return
    }
    for (let i = 0; i < w.length; i++) {
      if (chosen.includes(i)) continue
      rec([...chosen, i], p * (w[i]! / left), left - w[i]!)
    }
  }
  rec([], 1, total)
  return out
}

test(`weighted, K = 1: P(item i) = w_i / Σw (chi-square over ${RUNS} seeds, weights 1–8)`, (t) => {
  const counts = new Array<number>(W.length).fill(0)
  for (let s = 0; s < RUNS; s++) counts[weightedSample(s, 1)[0]!]!++
  const r = chiSquareTest(counts, W.map((w) => (RUNS * w) / SUM_W))
  t.diagnostic(`${fmtChi(r)}; observed ${counts.map((c) => (c / RUNS).toFixed(4)).join(' ')} vs ${W.map((w) => (w / SUM_W).toFixed(4)).join(' ')}`)
  assert.ok(r.pass, fmtChi(r))
})

test('the test has power: key = u·w (a common mistake) fails it', (t) => {
  const counts = new Array<number>(W.length).fill(0)
  for (let s = 0; s < RUNS; s++) {
    const seeds = deriveSeeds(s)
    let best = -1
    let bestKey = -Infinity
    W.forEach((w, i) => {
      const key = uniformOf(seeds, `q-${i}`) * w
      if (key > bestKey) { bestKey = key; best = i }
    })
    counts[best]!++
  }
  const r = chiSquareTest(counts, W.map((w) => (RUNS * w) / SUM_W))
  t.diagnostic(`key = u·w: ${fmtChi(r)}`)
  assert.ok(!r.pass)
})

test('weighted, K = 1, custom weight 2^score: P(item i) = 2^s_i / Σ', (t) => {
  const scores = [0, 1, 2, 3, 4, 5]
  const w = scores.map((s) => 2 ** s)
  const counts = new Array<number>(scores.length).fill(0)
  for (let s = 0; s < RUNS; s++) counts[weightedSample(s, 1, scores, (x) => 2 ** x)[0]!]!++
  const r = chiSquareTest(counts, w.map((x) => (RUNS * x) / 63))
  t.diagnostic(fmtChi(r))
  assert.ok(r.pass, fmtChi(r))
})

test(`weighted, K = 3: the 56 subset frequencies follow successive sampling ∝ weight; inclusion rises with weight`, (t) => {
  const exact = exactSubsetProbabilities(W, 3)
  const all = subsets(W.length, 3).map((s) => s.join(','))
  assert.equal(exact.size, all.length)
  assert.ok(Math.abs([...exact.values()].reduce((a, b) => a + b, 0) - 1) < 1e-12)
  const counts = new Map(all.map((k) => [k, 0]))
  const incl = new Array<number>(W.length).fill(0)
  for (let s = 0; s < RUNS; s++) {
    const picked = weightedSample(s, 3).sort((a, b) => a - b)
    for (const i of picked) incl[i]!++
    const key = picked.join(',')
    counts.set(key, counts.get(key)! + 1)
  }
  const r = chiSquareTest(all.map((k) => counts.get(k)!), all.map((k) => RUNS * exact.get(k)!))
  t.diagnostic(`subsets: ${fmtChi(r)} (smallest expected count ${Math.min(...all.map((k) => RUNS * exact.get(k)!)).toFixed(1)})`)
  assert.ok(r.pass, fmtChi(r))

  // First-order inclusion probabilities: exact π_i, observed within 4.5 standard errors, and ordered by weight.
  const pi = W.map((_, i) => [...exact].filter(([k]) => k.split(',').includes(String(i))).reduce((a, [, p]) => a + p, 0))
  t.diagnostic(`inclusion observed ${incl.map((c) => (c / RUNS).toFixed(3)).join(' ')}; exact ${pi.map((p) => p.toFixed(3)).join(' ')}`)
  for (let i = 0; i < W.length; i++) {
    const se = Math.sqrt((pi[i]! * (1 - pi[i]!)) / RUNS)
    assert.ok(Math.abs(incl[i]! / RUNS - pi[i]!) < 4.5 * se, `item ${i}`)
    if (i > 0) {
      assert.ok(pi[i]! > pi[i - 1]!)
      assert.ok(incl[i]! > incl[i - 1]!, `inclusion not increasing at weight ${W[i]}`)
    }
  }
})

test('a weight that is not positive and finite is refused, with nothing changed', () => {
  const r = new TopicBalancedReservoir<null>({ k: 5, policy: 'weighted', seed: 1, weight: (s) => s - 3 })
  r.offer({ id: 'ok', topic: 1, score: 5, payload: null })
  assert.throws(() => r.offer({ id: 'zero', topic: 1, score: 3, payload: null }), RecordInvalidError)
  assert.throws(() => r.offer({ id: 'nan', topic: 1, score: Number.NaN, payload: null }), RecordInvalidError)
  const s = r.stats()
  assert.equal(s.seen, 1)
  assert.equal(s.offered, 1)
  assert.equal(s.topics, 1)
})
