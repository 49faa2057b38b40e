/**
 * The Vendi score's symmetric eigenvalue solver: synthq's hand-written one
 * (src/sink/diversity/eigen.ts: Householder tridiagonalisation + implicit QL, eigenvalues only)
 * against a maintained package, ml-matrix's EigenvalueDecomposition (JAMA's tred2 + tql2, which
 * also accumulates the eigenvectors), measured side by side in one run.
 *
 *   npm run bench:vendi                 (BENCH_REPS=N timed runs per solver and size, default 3)
 *
 * Matrices, at m = 200, 500 and 1,000 items:
 *   kernel    the Vendi kernel K = X·Xᵀ/m of m unit vectors of 1,024 dims (the sink's lexical
 *             vectors are 1,024-dimensional, so a full probe of 1,000 decomposes exactly this):
 *             accuracy is solver against solver, since the true spectrum is unknown;
 *   known     Q·Λ·Qᵀ with a prescribed spectrum Λ (a decaying run, a cluster of equal values and
 *             a block of zeros, like a rank-deficient kernel's) and Q a product of 3 Householder
 *             reflections: accuracy against the truth.
 * Accuracy: the largest eigenvalue error over the largest eigenvalue (relative to the spectrum's
 * scale: a relative error per eigenvalue means nothing for the zeros), and the relative
 * difference of the Vendi scores the two spectra give. Time: the median of BENCH_REPS runs,
 * solvers interleaved; ml-matrix's time includes building its Matrix from the Float64Array.
 *
 * The rule (issue 15): use the package if it is as good — Vendi scores equal within 1e-9
 * relative and no more than ~1.5× slower — else keep the hand-written solver. The last line
 * says which.
 */
import { performance } from 'node:perf_hooks'
import { EigenvalueDecomposition, Matrix } from 'ml-matrix'
import { seededRandom } from '../src/sink/clusters/vectors.ts'
import { symmetricEigenvalues } from '../src/sink/diversity/eigen.ts'
import { vendiFromEigenvalues } from '../src/sink/diversity/vendi.ts'

const SIZES = [200, 500, 1000]
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3))
const DIMS = 1024
const ACCURACY = 1e-9
const SLOWER = 1.5
const out = (s: string): void => { process.stdout.write(`${s}\n`) }

function kernel (m: number, seed: number): Float64Array {
  const rand = seededRandom(seed)
  const X = Array.from({ length: m }, () => {
    const v = Float64Array.from({ length: DIMS }, () => rand() - 0.5)
    let s = 0
    for (const x of v) s += x * x
    return v.map((x) => x / Math.sqrt(s))
  })
  const K = new Float64Array(m * m)
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0
      for (let t = 0; t < DIMS; t++) s += X[i]![t]! * X[j]![t]!
      K[i * m + j] = s / m
      K[j * m + i] = s / m
    }
  }
  return K
}

/** Q·diag(λ)·Qᵀ, Q = H₁H₂H₃ (Householder reflections of random unit vectors): symmetric, spectrum λ. */
function known (m: number, seed: number): { a: Float64Array, spectrum: Float64Array } {
  const rand = seededRandom(seed)
  const spectrum = Float64Array.from({ length: m }, (_, i) => i < m / 2 ? Math.exp(-i / 40) : i < (3 * m) / 4 ? 0.25 : 0)
  const a = new Float64Array(m * m)
  for (let i = 0; i < m; i++) a[i * m + i] = spectrum[i]!
  for (let r = 0; r < 3; r++) {
    const v = Float64Array.from({ length: m }, () => rand() - 0.5)
    let s = 0
    for (const x of v) s += x * x
    for (let i = 0; i < m; i++) v[i] = v[i]! / Math.sqrt(s)
    reflect(a, v, m)
  }
  return { a, spectrum: spectrum.slice().sort() }
}

/** a ← H·a·H for H = I − 2vvᵀ (|v| = 1). */
function reflect (a: Float64Array, v: Float64Array, m: number): void {
  const av = new Float64Array(m)
  for (let i = 0; i < m; i++) { let s = 0; for (let j = 0; j < m; j++) s += a[i * m + j]! * v[j]!; av[i] = s }
  let vav = 0
  for (let i = 0; i < m; i++) vav += v[i]! * av[i]!
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) a[i * m + j] = a[i * m + j]! - 2 * v[i]! * av[j]! - 2 * av[i]! * v[j]! + 4 * vav * v[i]! * v[j]!
}

function handWritten (a: Float64Array, m: number): Float64Array {
  return symmetricEigenvalues(a, m)
}

function mlMatrix (a: Float64Array, m: number): Float64Array {
  const rows = Array.from({ length: m }, (_, i) => Array.from(a.subarray(i * m, (i + 1) * m)))
  return Float64Array.from(new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true }).realEigenvalues).sort()
}

/** max |x − y| over max |y|. */
function spectrumError (x: Float64Array, y: Float64Array): number {
  let err = 0
  let scale = 0
  for (let i = 0; i < y.length; i++) { err = Math.max(err, Math.abs(x[i]! - y[i]!)); scale = Math.max(scale, Math.abs(y[i]!)) }
  return err / scale
}

const relDiff = (x: number, y: number): number => Math.abs(x - y) / Math.abs(y)
const median = (xs: number[]): number => xs.slice().sort((p, q) => p - q)[Math.floor(xs.length / 2)]!
const e = (x: number): string => x.toExponential(1)

out(`vendi eigen bench: hand-written (eigen.ts) vs ml-matrix EigenvalueDecomposition, Node ${process.version}, median of ${REPS} interleaved runs`)
out('')
out('    m  matrix  hand ms     ml ms  ml/hand   spectrum err hand / ml (vs truth)   spectrum hand vs ml   Vendi hand vs ml (rel)')
let worstVendi = 0
let worstRatio = 0
for (const m of SIZES) {
  for (const kind of ['kernel', 'known'] as const) {
    const k = kind === 'kernel' ? { a: kernel(m, m), spectrum: null } : known(m, m + 1)
    const hand: number[] = []
    const ml: number[] = []
    let h: Float64Array = new Float64Array(0)
    let l: Float64Array = new Float64Array(0)
    for (let r = 0; r < REPS; r++) {
      let t0 = performance.now()
      h = handWritten(k.a, m)
      hand.push(performance.now() - t0)
      t0 = performance.now()
      l = mlMatrix(k.a, m)
      ml.push(performance.now() - t0)
    }
    const ratio = median(ml) / median(hand)
    const vendi = relDiff(vendiFromEigenvalues(l), vendiFromEigenvalues(h))
    worstVendi = Math.max(worstVendi, vendi)
    worstRatio = Math.max(worstRatio, ratio)
    const truth = k.spectrum ? `${e(spectrumError(h, k.spectrum))} / ${e(spectrumError(l, k.spectrum))}` : '–'
    out(`${String(m).padStart(5)}  ${kind.padEnd(6)}  ${median(hand).toFixed(0).padStart(7)}  ${median(ml).toFixed(0).padStart(8)}  ${ratio.toFixed(2).padStart(6)}x   ${truth.padEnd(34)}  ${e(spectrumError(l, h)).padEnd(20)}  ${e(vendi)}`)
  }
}
out('')
const accurate = worstVendi <= ACCURACY
const fast = worstRatio <= SLOWER
out(`accuracy: Vendi scores agree within ${e(worstVendi)} relative (rule: ≤ ${e(ACCURACY)}) — ${accurate ? 'as good' : 'not as good'}`)
out(`speed: ml-matrix is at worst ${worstRatio.toFixed(2)}× the hand-written solver's time (rule: ≤ ${SLOWER}×) — ${fast ? 'as good' : 'not as good'}`)
out(`verdict: ${accurate && fast ? 'ml-matrix is as good: use it and delete eigen.ts' : 'keep the hand-written solver (eigen.ts)'}`)
