/**
 * Statistics for the reservoir's tests: chi-square statistics and critical values, a seeded
 * PRNG and shuffle, and subset enumeration — small enough to write here rather than add a
 * statistics dependency.
 *
 * Critical values: the Wilson–Hilferty approximation (Wilson & Hilferty 1931, "The distribution
 * of chi-square", PNAS 17): (X/ν)^(1/3) is nearly normal with mean 1 − 2/(9ν) and variance
 * 2/(9ν), so the upper-α point is ν·(1 − 2/(9ν) + z_α·√(2/(9ν)))³ with z_α the standard normal
 * upper-α quantile. Against exact values (incomplete gamma, inverted by bisection) at α = 0.001
 * it is high by 3.0 % at ν = 1, 1.2 % at ν = 5, 0.6 % at ν = 10, 0.09 % at ν = 49 and 0.04 % at
 * ν = 99: slightly conservative, and exact enough for ν ≥ 5, where the tests use it
 * (chi-square.test.ts checks these figures against tabulated values).
 */

/** Standard normal upper quantiles z_α (P(Z > z_α) = α). */
const Z_UPPER: ReadonlyMap<number, number> = new Map([
  [0.05, 1.6448536269514722],
  [0.01, 2.3263478740408408],
  [0.001, 3.090232306167813],
  [0.0001, 3.719016485455709],
])

export function chiSquareCritical (dof: number, alpha = 0.001): number {
  const z = Z_UPPER.get(alpha)
  if (z === undefined) throw new Error(`no normal quantile tabulated for alpha ${alpha}`)
  const v = 2 / (9 * dof)
  return dof * (1 - v + z * Math.sqrt(v)) ** 3
}

/** Pearson's Σ (O − E)² / E. */
export function chiSquare (observed: readonly number[], expected: readonly number[]): number {
  let x = 0
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i]!
    const d = observed[i]! - e
    x += (d * d) / e
  }
  return x
}

export interface ChiSquareResult {
  statistic: number
  dof: number
  critical: number
  pass: boolean
}

export function chiSquareTest (observed: readonly number[], expected: readonly number[], dof = observed.length - 1, alpha = 0.001): ChiSquareResult {
  const statistic = chiSquare(observed, expected)
  const critical = chiSquareCritical(dof, alpha)
  return { statistic, dof, critical, pass: statistic < critical }
}

/**
 * Inclusion counts of N items over R independent samples of K distinct items each, tested
 * against equal inclusion probability p = K/N. The counts are not multinomial: within one
 * sample the indicators are negatively correlated (Cov = −p(1−p)/(N−1)), so the covariance of
 * the count vector is R·p(1−p)·N/(N−1)·(I − J/N), and
 *   X² = Σ (c_i − R·p)² / (R·p·(1 − p)) · (N − 1)/N
 * is asymptotically χ² with N − 1 degrees of freedom. (Pearson's Σ (c − E)²/E without this
 * factor would be (1 − p)·N/(N − 1) times too small: a weaker test.)
 */
export function inclusionChiSquare (counts: readonly number[], runs: number, k: number, alpha = 0.001): ChiSquareResult {
  const n = counts.length
  const p = k / n
  const e = runs * p
  let s = 0
  for (const c of counts) s += (c - e) ** 2
  const statistic = (s / (runs * p * (1 - p))) * ((n - 1) / n)
  const critical = chiSquareCritical(n - 1, alpha)
  return { statistic, dof: n - 1, critical, pass: statistic < critical }
}

export const fmtChi = (r: ChiSquareResult): string =>
  `χ² = ${r.statistic.toFixed(2)} (dof ${r.dof}, critical ${r.critical.toFixed(2)} at p = 0.001)`

/** Deterministic pseudo-random numbers for the tests (mulberry32). */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Fisher–Yates shuffle, in place. */
export function shuffle<X> (xs: X[], rnd: () => number): X[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    const t = xs[i]!
    xs[i] = xs[j]!
    xs[j] = t
  }
  return xs
}

/** All k-subsets of 0..n−1, in lexicographic order. */
export function subsets (n: number, k: number): number[][] {
  const out: number[][] = []
  const cur: number[] = []
  const rec = (start: number): void => {
    if (cur.length === k) { out.push([...cur]); return }
    for (let i = start; i < n; i++) { cur.push(i); rec(i + 1); cur.pop() }
  }
  rec(0)
  return out
}
