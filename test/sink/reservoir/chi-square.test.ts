/**
 * The tests' chi-square machinery against tabulated critical values (exact upper 0.1 % points
 * of χ², from the incomplete gamma function), and the inclusion statistic's calibration: on
 * exactly uniform without-replacement samples (a seeded Fisher–Yates prefix) its mean is the
 * degrees of freedom, which Pearson's uncorrected statistic misses by the factor (1 − p)·N/(N − 1).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chiSquare, chiSquareCritical, inclusionChiSquare, prng, shuffle } from './stats.ts'

const EXACT_999: Array<[number, number]> = [[1, 10.828], [5, 20.515], [7, 24.322], [10, 29.588], [20, 45.315], [49, 85.351], [55, 93.168], [99, 148.230], [199, 266.386]]

test('Wilson–Hilferty critical values at p = 0.001 are within 3 % (dof 1), 1.2 % (dof ≥ 5) and 0.1 % (dof ≥ 49) of the exact ones, never below', (t) => {
  for (const [dof, exact] of EXACT_999) {
    const wh = chiSquareCritical(dof)
    const rel = wh / exact - 1
    t.diagnostic(`dof ${dof}: exact ${exact}, Wilson–Hilferty ${wh.toFixed(3)} (${(rel * 100).toFixed(2)} %)`)
    assert.ok(rel >= 0, `dof ${dof}`)
    assert.ok(rel < (dof === 1 ? 0.031 : dof < 49 ? 0.012 : 0.001), `dof ${dof}: ${rel}`)
  }
})

test('the inclusion statistic averages its degrees of freedom on exactly uniform samples; uncorrected Pearson does not', () => {
  const N = 20
  const K = 8
  const R = 500
  const rnd = prng(11)
  const reps = 200
  let meanCorrected = 0
  let meanPearson = 0
  for (let rep = 0; rep < reps; rep++) {
    const counts = new Array<number>(N).fill(0)
    for (let r = 0; r < R; r++) {
      const perm = shuffle(Array.from({ length: N }, (_, i) => i), rnd)
      for (const i of perm.slice(0, K)) counts[i]!++
    }
    meanCorrected += inclusionChiSquare(counts, R, K).statistic / reps
    meanPearson += chiSquare(counts, counts.map(() => (R * K) / N)) / reps
  }
  // E = N − 1 = 19 for the corrected one; (1 − p)·N/(N − 1)·19 = 12 for Pearson's.
  assert.ok(Math.abs(meanCorrected - 19) < 1.5, `corrected mean ${meanCorrected}`)
  assert.ok(Math.abs(meanPearson - 12) < 1, `Pearson mean ${meanPearson}`)
})
