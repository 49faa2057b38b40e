/**
 * The uniform policy is a uniform sample without replacement, over many seeds: each item's
 * inclusion frequency passes a chi-square test against K/N (stats.ts: the statistic corrected
 * for within-sample correlation, critical value by Wilson–Hilferty at p = 0.001), and so does
 * the frequency of every K-subset. The tests can fail: keeping the first K, and Algorithm R with
 * its classic off-by-one, are both rejected, while a correct Algorithm R passes the same test.
 * A topic whose quota shrinks as other topics arrive still ends with a uniform sample.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TopicBalancedReservoir } from '../../../src/sink/reservoir/reservoir.ts'
import { chiSquareTest, fmtChi, inclusionChiSquare, prng, subsets } from './stats.ts'

const N = 50
const K = 10
const RUNS = 4000

/** Inclusion counts over seeds 0..runs−1 of a sampler that returns item indices. */
function inclusion (sampler: (seed: number) => number[], n: number, runs: number): number[] {
  const counts = new Array<number>(n).fill(0)
  for (let s = 0; s < runs; s++) for (const i of sampler(s)) counts[i]!++
  return counts
}

function reservoirSample (seed: number, n: number, k: number): number[] {
  const r = new TopicBalancedReservoir<number>({ k, policy: 'uniform', seed })
  for (let i = 0; i < n; i++) r.offer({ id: `item-${i}`, topic: 0, score: 5, payload: i })
  return r.sample().map((x) => x.payload)
}

/** Vitter's Algorithm R with a seeded PRNG; `offByOne` draws j from [0, i) instead of [0, i]. */
function algorithmR (seed: number, n: number, k: number, offByOne: boolean): number[] {
  const rnd = prng(seed * 7919 + 1)
  const res: number[] = []
  for (let i = 0; i < n; i++) {
    if (i < k) { res.push(i); continue }
    const j = Math.floor(rnd() * (offByOne ? i : i + 1))
    if (j < k) res[j] = i
  }
  return res
}

test(`uniform: each of ${N} items is kept with probability ${K}/${N} (chi-square over ${RUNS} seeds)`, (t) => {
  const counts = inclusion((s) => reservoirSample(s, N, K), N, RUNS)
  assert.equal(counts.reduce((a, b) => a + b, 0), RUNS * K)
  const r = inclusionChiSquare(counts, RUNS, K)
  t.diagnostic(`reservoir: ${fmtChi(r)}; counts ${Math.min(...counts)}–${Math.max(...counts)}, expected ${RUNS * K / N}`)
  assert.ok(r.pass, fmtChi(r))
})

test('calibration: over 20 disjoint blocks of 1,000 seeds the statistic averages its 49 degrees of freedom (not only below the critical value)', (t) => {
  const blocks = 20
  const runs = 1000
  const xs: number[] = []
  for (let b = 0; b < blocks; b++) {
    const counts = inclusion((s) => reservoirSample(b * runs + s + 1_000_000, N, K), N, runs)
    xs.push(inclusionChiSquare(counts, runs, K).statistic)
  }
  const mean = xs.reduce((a, b) => a + b, 0) / blocks
  t.diagnostic(`mean χ² ${mean.toFixed(2)} (expected 49, standard error ≈ ${Math.sqrt(98 / blocks).toFixed(1)}): ${xs.map((x) => x.toFixed(0)).join(' ')}`)
  // 5 standard errors: a sampler that is too regular (e.g. correlated across seeds) fails as surely as a biased one.
  assert.ok(Math.abs(mean - 49) < 5 * Math.sqrt(98 / blocks), `mean ${mean}`)
})

test('the test has power: keeping the first K and the off-by-one Algorithm R fail it; a correct Algorithm R passes', (t) => {
  const first = inclusionChiSquare(inclusion(() => Array.from({ length: K }, (_, i) => i), N, RUNS), RUNS, K)
  const buggy = inclusionChiSquare(inclusion((s) => algorithmR(s, N, K, true), N, RUNS), RUNS, K)
  const good = inclusionChiSquare(inclusion((s) => algorithmR(s, N, K, false), N, RUNS), RUNS, K)
  t.diagnostic(`keep first K: ${fmtChi(first)}`)
  t.diagnostic(`Algorithm R off by one: ${fmtChi(buggy)}`)
  t.diagnostic(`Algorithm R: ${fmtChi(good)}`)
  assert.ok(!first.pass)
  assert.ok(!buggy.pass)
  assert.ok(good.pass)
})

test('uniform: every 3-subset of 8 items is equally likely (chi-square over 56 subsets, 20,000 seeds)', (t) => {
  const n = 8
  const k = 3
  const runs = 20_000
  const all = subsets(n, k)
  const index = new Map(all.map((s, i) => [s.join(','), i]))
  const counts = new Array<number>(all.length).fill(0)
  for (let s = 0; s < runs; s++) {
    const key = reservoirSample(s, n, k).sort((a, b) => a - b).join(',')
    counts[index.get(key)!]!++
  }
  const r = chiSquareTest(counts, counts.map(() => runs / all.length))
  t.diagnostic(fmtChi(r))
  assert.ok(r.pass, fmtChi(r))
})

test('uniform within a topic whose quota shrinks: 40 items of topic A, then 40 of topic B, K = 20 → A keeps a uniform 10 of 40', (t) => {
  const n = 40
  const counts = new Array<number>(n).fill(0)
  for (let s = 0; s < RUNS; s++) {
    const r = new TopicBalancedReservoir<number>({ k: 20, policy: 'uniform', seed: s })
    for (let i = 0; i < n; i++) r.offer({ id: `a${i}`, topic: 'A', score: 3, payload: i })
    for (let i = 0; i < n; i++) r.offer({ id: `b${i}`, topic: 'B', score: 3, payload: i })
    const kept = r.sample().filter((x) => x.topic === 'A')
    assert.equal(kept.length, 10)
    for (const x of kept) counts[x.payload]!++
  }
  const r = inclusionChiSquare(counts, RUNS, 10)
  t.diagnostic(fmtChi(r))
  assert.ok(r.pass, fmtChi(r))
})
