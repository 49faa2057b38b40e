/**
 * Spherical k-means (Dhillon & Modha 2001, "Concept decompositions for large sparse text data
 * using clustering"): k-means on unit vectors with cosine similarity, centroids being the
 * renormalised means of their members. The online topic model runs it once, on its warm-up
 * window, to seed topics; it is batch, deterministic for a seed, and small (W ≈ 500 vectors).
 *
 * Seeding: k-means++ (Arthur & Vassilvitskii 2007) with distance 1 − cosine; a few seeded
 * restarts, the one with the highest total member-to-centroid cosine wins. An emptied cluster is
 * re-seeded with the member worst served by its centroid, so k clusters always come back.
 *
 * Choosing k ("silhouette-lite"): the simplified silhouette (Hruschka, Campello & de Castro
 * 2004): for each point, a = 1 − cos to its own centroid, b = 1 − cos to the nearest other
 * centroid, s = (b − a) / max(a, b); the k with the highest mean s over a grid of candidates
 * wins. It costs one assignment pass per candidate instead of the O(n²) pairwise silhouette.
 */
import { dot } from './vectors.ts'

export interface KMeansResult {
  /** Unit centroids, k of them. */
  centroids: Float64Array[]
  /** Cluster of each point. */
  labels: Int32Array
  /** Cosine of each point to its centroid. */
  sims: Float64Array
  /** Σ sims: the spherical k-means objective (higher is better). */
  objective: number
  iterations: number
}

export interface KMeansOptions {
  /** Restarts from different k-means++ seeds; the best objective wins (default 3). */
  restarts?: number
  /** Iteration cap per restart (default 50); it usually converges in 10–20. */
  maxIterations?: number
}

function normalise (v: Float64Array): void {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!
  if (s === 0) return
  const n = Math.sqrt(s)
  for (let i = 0; i < v.length; i++) v[i]! /= n
}

/** The index and cosine of the centroid nearest to x (ties: lowest index). */
export function nearestCentroid (x: Float64Array, centroids: readonly Float64Array[]): { index: number, sim: number, second: number } {
  let index = -1
  let sim = -Infinity
  let second = -Infinity
  for (let j = 0; j < centroids.length; j++) {
    const s = dot(x, centroids[j]!)
    if (s > sim) {
      second = sim
      sim = s
      index = j
    } else if (s > second) {
      second = s
    }
  }
  return { index, sim, second }
}

function kmeansPlusPlus (points: readonly Float64Array[], k: number, rand: () => number): Float64Array[] {
  const n = points.length
  const chosen: Float64Array[] = [Float64Array.from(points[Math.floor(rand() * n)]!)]
  const d2 = new Float64Array(n)
  for (let i = 0; i < n; i++) d2[i] = (1 - dot(points[i]!, chosen[0]!)) ** 2
  while (chosen.length < k) {
    let total = 0
    for (let i = 0; i < n; i++) total += Math.max(0, d2[i]!)
    let pick = -1
    if (total > 0) {
      let r = rand() * total
      for (let i = 0; i < n; i++) {
        r -= Math.max(0, d2[i]!)
        if (r < 0) { pick = i; break }
      }
      if (pick < 0) pick = n - 1
    } else {
      // Every point coincides with a chosen centre: duplicates only; any point will do.
      pick = Math.floor(rand() * n)
    }
    const c = Float64Array.from(points[pick]!)
    chosen.push(c)
    for (let i = 0; i < n; i++) {
      const d = (1 - dot(points[i]!, c)) ** 2
      if (d < d2[i]!) d2[i] = d
    }
  }
  return chosen
}

function runOnce (points: readonly Float64Array[], k: number, rand: () => number, maxIterations: number): KMeansResult {
  const n = points.length
  const dims = points[0]!.length
  let centroids = kmeansPlusPlus(points, k, rand)
  const labels = new Int32Array(n).fill(-1)
  const sims = new Float64Array(n)
  let iterations = 0
  for (; iterations < maxIterations; iterations++) {
    let changed = false
    for (let i = 0; i < n; i++) {
      const { index, sim } = nearestCentroid(points[i]!, centroids)
      if (labels[i] !== index) { labels[i] = index; changed = true }
      sims[i] = sim
    }
    if (!changed && iterations > 0) break
    const sums = Array.from({ length: k }, () => new Float64Array(dims))
    const counts = new Int32Array(k)
    for (let i = 0; i < n; i++) {
      const c = labels[i]!
      counts[c]!++
      const s = sums[c]!
      const p = points[i]!
      for (let j = 0; j < dims; j++) s[j]! += p[j]!
    }
    // An empty cluster takes the point worst served by its centroid (from a cluster of ≥ 2).
    for (let c = 0; c < k; c++) {
      if (counts[c] !== 0) continue
      let worst = -1
      for (let i = 0; i < n; i++) {
        if (counts[labels[i]!]! > 1 && (worst < 0 || sims[i]! < sims[worst]!)) worst = i
      }
      if (worst < 0) break
      const from = labels[worst]!
      const p = points[worst]!
      const sf = sums[from]!
      for (let j = 0; j < dims; j++) sf[j]! -= p[j]!
      counts[from]!--
      sums[c]!.set(p)
      counts[c] = 1
      labels[worst] = c
      sims[worst] = 1
    }
    for (const s of sums) normalise(s)
    centroids = sums
  }
  let objective = 0
  for (let i = 0; i < n; i++) {
    sims[i] = dot(points[i]!, centroids[labels[i]!]!)
    objective += sims[i]!
  }
  return { centroids, labels, sims, objective, iterations }
}

/** Spherical k-means of unit `points` into min(k, n) clusters; n ≥ 1. */
export function sphericalKMeans (points: readonly Float64Array[], k: number, rand: () => number, opts: KMeansOptions = {}): KMeansResult {
  const restarts = Math.max(1, opts.restarts ?? 3)
  const maxIterations = Math.max(1, opts.maxIterations ?? 50)
  const kk = Math.max(1, Math.min(k, points.length))
  let best: KMeansResult | undefined
  for (let r = 0; r < restarts; r++) {
    const res = runOnce(points, kk, rand, maxIterations)
    if (best === undefined || res.objective > best.objective) best = res
  }
  return best!
}

/** Mean simplified silhouette of a clustering (1 cluster: 0). */
export function simplifiedSilhouette (points: readonly Float64Array[], centroids: readonly Float64Array[], labels: Int32Array): number {
  if (centroids.length < 2 || points.length === 0) return 0
  let total = 0
  for (let i = 0; i < points.length; i++) {
    const own = labels[i]!
    const a = 1 - dot(points[i]!, centroids[own]!)
    let b = Infinity
    for (let j = 0; j < centroids.length; j++) {
      if (j !== own) b = Math.min(b, 1 - dot(points[i]!, centroids[j]!))
    }
    const m = Math.max(a, b)
    total += m > 0 ? (b - a) / m : 0
  }
  return total / points.length
}

/** Candidate k values for the silhouette search: 2 … kMax on a grid growing ~25 % a step. */
export function candidateKs (kMax: number): number[] {
  const out: number[] = []
  for (let k = 2; k <= kMax; k = Math.max(k + 1, Math.round(k * 1.25))) out.push(k)
  if (kMax >= 2 && out[out.length - 1] !== kMax) out.push(kMax)
  return out
}
