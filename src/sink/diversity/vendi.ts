/**
 * The Vendi score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for
 * Machine Learning", TMLR): the exponential of the Shannon entropy of the eigenvalues of K/n,
 * where K is the n×n similarity matrix of the sample with K_ii = 1. With the cosine kernel it is
 * the "effective number of distinct items": n identical vectors score 1, n orthogonal ones n,
 * k equal-size groups of identical, mutually orthogonal vectors k. The paper reports it for
 * SynthQuestions; the sink reports it for its kept sample.
 *
 * Computation. With X the n×d matrix of unit rows, K = X·Xᵀ, and K/n = X·Xᵀ/n has the same
 * non-zero eigenvalues as the d×d matrix Xᵀ·X/n (both are products of the same two factors). So
 * the eigenvalues come from whichever is smaller — for 1,000 sampled 384-dimensional embeddings,
 * a 384×384 matrix instead of 1,000×1,000 — by Householder tridiagonalisation and implicit QL
 * (eigen.ts). Round-off can leave eigenvalues like −1e−17; they are clamped to 0, and the rest
 * renormalised to sum 1 (their exact sum is trace(K)/n = 1).
 *
 * Large samples: the score is computed on at most `maxSamples` vectors (default 1,000) drawn
 * uniformly without replacement with a seeded generator (partial Fisher–Yates), so figures are
 * reproducible and cost is bounded (the d×d route makes it O(n·d² + d³)). The score of a subset
 * is at most its size, so compare Vendi scores only at the same n: the result says which n.
 */
import { RecordInvalidError } from '../../errors.ts'
import { seededRandom, unitCopy, type Vector } from '../clusters/vectors.ts'
import { symmetricEigenvalues } from './eigen.ts'

export interface VendiOptions {
  /** Most vectors used (default 1,000); a seeded uniform subset above that. */
  maxSamples?: number
  /** Seed of the subset (default 0). */
  seed?: number
}

export interface VendiResult {
  /** exp(entropy of the eigenvalues of K/n); 0 for no vectors. */
  score: number
  /** Vectors used. */
  n: number
  /** Vectors given. */
  total: number
  sampled: boolean
  dims: number
  /** Which Gram matrix was decomposed: 'features' (d×d, XᵀX/n) or 'items' (n×n, XXᵀ/n). */
  via: 'features' | 'items'
}

/** exp(−Σ λ ln λ) over the eigenvalues, clamped at 0 and normalised to sum 1. */
export function vendiFromEigenvalues (eigenvalues: ArrayLike<number>): number {
  let sum = 0
  for (let i = 0; i < eigenvalues.length; i++) sum += Math.max(0, eigenvalues[i]!)
  if (sum <= 0) return 0
  let h = 0
  for (let i = 0; i < eigenvalues.length; i++) {
    const p = Math.max(0, eigenvalues[i]!) / sum
    if (p > 0) h -= p * Math.log(p)
  }
  return Math.exp(h)
}

/** `k` distinct indices of 0 … total−1, uniform without replacement, seeded; ascending. */
export function sampleIndices (total: number, k: number, seed: number): number[] {
  const idx = Array.from({ length: total }, (_, i) => i)
  if (k >= total) return idx
  const rand = seededRandom(seed)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (total - i))
    const t = idx[i]!
    idx[i] = idx[j]!
    idx[j] = t
  }
  return idx.slice(0, k).sort((a, b) => a - b)
}

/** The Vendi score of `vectors` under the cosine kernel (vectors are normalised here). */
export function vendiScore (vectors: readonly Vector[], opts: VendiOptions = {}): VendiResult {
  const maxSamples = opts.maxSamples ?? 1000
  if (!Number.isSafeInteger(maxSamples) || maxSamples < 1) throw new RangeError(`vendiScore: maxSamples must be an integer ≥ 1, got ${String(maxSamples)}`)
  const total = vectors.length
  if (total === 0) return { score: 0, n: 0, total, sampled: false, dims: 0, via: 'items' }
  const dims = vectors[0]!.length
  const chosen = sampleIndices(total, maxSamples, opts.seed ?? 0)
  const X = chosen.map((i) => {
    const v = vectors[i]!
    if (v.length !== dims) throw new RecordInvalidError(`vendiScore: vector ${i} has ${v.length} dimensions, the first has ${dims}`, [String(i)])
    return unitCopy(v, `vendiScore: vector ${i}`)
  })
  const n = X.length
  const base = { n, total, sampled: n < total, dims }
  if (dims < n) {
    // Xᵀ·X / n, d×d: accumulate outer products of rows, upper triangle, then mirror.
    const C = new Float64Array(dims * dims)
    for (const x of X) {
      for (let a = 0; a < dims; a++) {
        const xa = x[a]!
        if (xa === 0) continue
        const row = a * dims
        for (let b = a; b < dims; b++) C[row + b]! += xa * x[b]!
      }
    }
    for (let a = 0; a < dims; a++) {
      for (let b = a; b < dims; b++) {
        const v = C[a * dims + b]! / n
        C[a * dims + b] = v
        C[b * dims + a] = v
      }
    }
    return { score: vendiFromEigenvalues(symmetricEigenvalues(C, dims)), ...base, via: 'features' }
  }
  const K = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    const xi = X[i]!
    K[i * n + i] = 1 / n
    for (let j = i + 1; j < n; j++) {
      const xj = X[j]!
      let s = 0
      for (let t = 0; t < dims; t++) s += xi[t]! * xj[t]!
      K[i * n + j] = s / n
      K[j * n + i] = s / n
    }
  }
  return { score: vendiFromEigenvalues(symmetricEigenvalues(K, n)), ...base, via: 'items' }
}

/**
 * n vectors of `dims` float32 components laid end to end in one buffer: the form the diversity
 * probe hands to a worker thread (one transferable ArrayBuffer instead of n structured clones).
 */
export interface VectorMatrix {
  data: Float32Array
  n: number
  dims: number
}

/** Packs vectors of equal length into one VectorMatrix (a copy: the caller may go on changing its own). */
export function packVectors (vectors: readonly Vector[]): VectorMatrix {
  const n = vectors.length
  const dims = n > 0 ? vectors[0]!.length : 0
  const data = new Float32Array(n * dims)
  vectors.forEach((v, i) => {
    if (v.length !== dims) throw new RecordInvalidError(`packVectors: vector ${i} has ${v.length} dimensions, the first has ${dims}`, [String(i)])
    data.set(v, i * dims)
  })
  return { data, n, dims }
}

/**
 * vendiScore of a packed matrix's rows. The rows are views of the same float32 values the probe
 * holds, so the score is bit-for-bit the one vendiScore gives on the vectors themselves — in this
 * thread or in a worker.
 */
export function vendiScoreOfMatrix (m: VectorMatrix, opts: VendiOptions = {}): VendiResult {
  if (m.data.length !== m.n * m.dims) throw new RangeError(`vendiScoreOfMatrix: ${m.data.length} values for ${m.n}×${m.dims}`)
  const rows = Array.from({ length: m.n }, (_, i) => m.data.subarray(i * m.dims, (i + 1) * m.dims))
  return vendiScore(rows, opts)
}
