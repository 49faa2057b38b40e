/**
 * Streaming topic assignment with topic ids that never change meaning. The paper clusters its
 * whole pool at once (BERTopic: UMAP + HDBSCAN); a continuous sink cannot, and re-clustering
 * from time to time would renumber topics under the reservoir's quotas. So topics here are only
 * ever created, never merged, split, renumbered or reused:
 *
 * 1. Warm-up. The first `warmup` vectors (default 500) are buffered; then spherical k-means
 *    (kmeans.ts: cosine, k-means++ seeded, deterministic for `seed`) seeds k topics. k is
 *    `'sqrt'` (default: clamp(round(√(W/2)), 2, maxTopics), 16 for W = 500), `'silhouette'`
 *    (the k in 2 … that bound with the best simplified silhouette) or a number. Why not the
 *    silhouette by default: with real embeddings (all-MiniLM-L6-v2) it picked the bound anyway,
 *    with weak vectors (the simulator's) it picked 2 — and two topics make balancing pointless.
 *    So W sets the granularity: a larger warm-up seeds finer topics. Topic ids 0 … k−1
 *    follow the order in which the clusters first occur in the buffer. Warm-up also ends when
 *    the oldest buffered vector is `maxWarmupMs` old (by the `now` the caller passes), on
 *    flushWarmup() (an idle timer: see warmupDeadline()) and on finish() (end of input), so a
 *    sink never holds records indefinitely; k-means then runs on what is buffered (fewer
 *    vectors than k: one topic each; none: the first vector opens topic 0).
 * 2. Online. Each vector goes to the topic whose centroid is nearest by cosine, if that cosine
 *    is ≥ the new-topic threshold; otherwise it opens a new topic (next id), while there are
 *    fewer than `maxTopics`; beyond that it goes to the nearest topic anyway (counted as
 *    `forced`). The topic's centroid is its running mean, renormalised when compared:
 *    mean += η (x − mean) with η = max(1/count, minLearningRate) — the exact mean by default,
 *    a slowly forgetting one if minLearningRate > 0 (lets a topic follow drift).
 *
 * The threshold: a number, or `'auto'` (default): the `thresholdQuantile` (default 0.05)
 * quantile of the warm-up members' cosines to their own centroids, each computed with the
 * member left out of its centroid — "less like its nearest topic than 95 % of the warm-up data
 * was like the rest of its own". A fixed default would suit one embedding model only: on the
 * shipped corpora the mean cosine between a web page and a math question is 0.002 with
 * all-MiniLM-L6-v2 and 0.031 with the simulator, and E5 models put unrelated texts near 0.7 (their
 * model card says so). Measured thresholds: 0.103 (MiniLM), 0.093 (simulator), 0.030 (lexical).
 * A warm-up of fewer than 20 vectors cannot estimate it; then `fallbackThreshold` (0.3) is used.
 *
 * assign() returns the assignments that became final with that call, in input order: none while
 * buffering, the whole buffer (this vector last) when warm-up ends, exactly one afterwards. The
 * caller emits what it gets back. Pure: no clock (time comes in as `now`), no I/O, no
 * Math.random; snapshot() is JSON (vectors as exact base64 float64), restore() continues
 * bit-for-bit where the original would have, including a half-filled warm-up buffer. Its size
 * is about 11·d bytes per topic and per buffered vector: 256 topics of 384 dimensions ≈ 1 MB,
 * a full 500-vector buffer ≈ 2 MB more.
 */
import { ConfigError, RecordInvalidError } from '../../errors.ts'
import { candidateKs, simplifiedSilhouette, sphericalKMeans } from './kmeans.ts'
import { decodeF64, dot, encodeF64, seededRandom, unitCopy, type Vector } from './vectors.ts'

export type KRule = number | 'silhouette' | 'sqrt'

export interface OnlineTopicOptions {
  /** Vectors buffered before topics are seeded (default 500; 0 = no warm-up). */
  warmup?: number
  /** Warm-up also ends once its oldest vector is this many ms old (by `now`; default: never). */
  maxWarmupMs?: number
  /** Most topics ever opened (default 256). */
  maxTopics?: number
  /** How many topics warm-up seeds (default 'sqrt'). */
  k?: KRule
  /** Cosine below which a vector opens a new topic (default 'auto'). */
  newTopicThreshold?: number | 'auto'
  /** Quantile of warm-up member cosines that 'auto' takes (default 0.05). */
  thresholdQuantile?: number
  /** Threshold used by 'auto' when warm-up had fewer than 20 vectors (default 0.3). */
  fallbackThreshold?: number
  /** Floor of the online learning rate (default 0: exact running mean). */
  minLearningRate?: number
  /** Seed of k-means++ (default 0). */
  seed?: number
  /** k-means restarts per candidate k (default 3). */
  kmeansRestarts?: number
}

export type ResolvedTopicOptions = Required<Omit<OnlineTopicOptions, 'maxWarmupMs'>> & { maxWarmupMs: number | null }

export interface Assignment {
  /** The caller's record id, as given to assign(). */
  id: string
  /** Topic id: an integer from 0, never reused. */
  topic: number
  /** Cosine of the vector to the topic's centroid before this vector updated it (1 if it opened the topic). */
  similarity: number
  /** This assignment created the topic (its first member). */
  isNew: boolean
}

export interface OnlineTopicStats {
  phase: 'warmup' | 'online'
  dims: number | null
  /** Vectors held in the warm-up buffer. */
  buffered: number
  /** Topics seeded by warm-up (null before it ends). */
  warmupTopics: number | null
  /** The new-topic threshold in force (null before warm-up ends when it is 'auto'). */
  threshold: number | null
  topics: number
  /** Assignments returned so far. */
  assigned: number
  /** Topics opened after warm-up. */
  openedOnline: number
  /** Vectors below the threshold put in their nearest topic because maxTopics was reached. */
  forced: number
  /** Members per topic, indexed by topic id. */
  counts: number[]
}

export interface OnlineTopicSnapshot {
  format: 'synthq.online-topics/1'
  options: ResolvedTopicOptions
  phase: 'warmup' | 'online'
  dims: number | null
  threshold: number | null
  warmupTopics: number | null
  warmupStartedAt: number | null
  assigned: number
  openedOnline: number
  forced: number
  /** Buffered warm-up vectors: [id, base64 float64]. */
  buffer: Array<[string, string]>
  /** Topics by id: [count, base64 float64 running mean]. */
  topics: Array<[number, string]>
}

interface Topic {
  count: number
  /** Running mean of the member unit vectors (not unit itself). */
  mean: Float64Array
  /** |mean|, kept up to date so cosine is one dot product. */
  norm: number
}

const MIN_AUTO_SAMPLE = 20

function resolveOptions (o: OnlineTopicOptions): ResolvedTopicOptions {
  const r: ResolvedTopicOptions = {
    warmup: o.warmup ?? 500,
    maxWarmupMs: o.maxWarmupMs ?? null,
    maxTopics: o.maxTopics ?? 256,
    k: o.k ?? 'sqrt',
    newTopicThreshold: o.newTopicThreshold ?? 'auto',
    thresholdQuantile: o.thresholdQuantile ?? 0.05,
    fallbackThreshold: o.fallbackThreshold ?? 0.3,
    minLearningRate: o.minLearningRate ?? 0,
    seed: o.seed ?? 0,
    kmeansRestarts: o.kmeansRestarts ?? 3,
  }
  const intIn = (name: string, v: number, min: number): void => {
    if (!Number.isSafeInteger(v) || v < min) throw new ConfigError(`topics: ${name} must be an integer ≥ ${min}, got ${String(v)}`)
  }
  intIn('warmup', r.warmup, 0)
  intIn('maxTopics', r.maxTopics, 1)
  intIn('seed', r.seed, 0)
  intIn('kmeansRestarts', r.kmeansRestarts, 1)
  if (r.maxWarmupMs !== null && !(r.maxWarmupMs >= 0)) throw new ConfigError(`topics: maxWarmupMs must be ≥ 0, got ${String(r.maxWarmupMs)}`)
  if (typeof r.k === 'number') intIn('k', r.k, 1)
  else if (r.k !== 'silhouette' && r.k !== 'sqrt') throw new ConfigError(`topics: k must be a number, 'silhouette' or 'sqrt', got ${String(r.k)}`)
  const t = r.newTopicThreshold
  if (t !== 'auto' && !(typeof t === 'number' && t >= -1 && t <= 1)) throw new ConfigError(`topics: newTopicThreshold must be 'auto' or a cosine in [-1, 1], got ${String(t)}`)
  if (!(r.thresholdQuantile >= 0 && r.thresholdQuantile <= 1)) throw new ConfigError(`topics: thresholdQuantile must be in [0, 1], got ${String(r.thresholdQuantile)}`)
  if (!(r.fallbackThreshold >= -1 && r.fallbackThreshold <= 1)) throw new ConfigError(`topics: fallbackThreshold must be in [-1, 1], got ${String(r.fallbackThreshold)}`)
  if (!(r.minLearningRate >= 0 && r.minLearningRate <= 1)) throw new ConfigError(`topics: minLearningRate must be in [0, 1], got ${String(r.minLearningRate)}`)
  return r
}

/** The q-quantile of values (nearest rank on the sorted copy). */
function quantile (values: ArrayLike<number>, q: number): number {
  const s = Array.from(values).sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.floor(q * (s.length - 1))))]!
}

/**
 * Each clustered point's cosine to its cluster's centroid computed without it (clusters of ≥ 2).
 * A member's own weight pulls its centroid towards it — strongly for sparse or high-dimensional
 * vectors, where a point shares little with anything else — so member-to-own-centroid cosines
 * overstate how close a *new* vector of the same kind will be to that centroid; left-out cosines
 * are what the threshold must be compared with. With S the members' sum and |x| = 1:
 * cos(x, S − x) = (x·S − 1) / √(|S|² − 2 x·S + 1).
 */
function leaveOneOutSimilarities (points: readonly Float64Array[], labels: Int32Array): number[] {
  const dims = points[0]!.length
  const sums = new Map<number, { s: Float64Array, n: number }>()
  for (let i = 0; i < points.length; i++) {
    let c = sums.get(labels[i]!)
    if (c === undefined) { c = { s: new Float64Array(dims), n: 0 }; sums.set(labels[i]!, c) }
    c.n++
    const p = points[i]!
    for (let j = 0; j < dims; j++) c.s[j]! += p[j]!
  }
  const out: number[] = []
  for (let i = 0; i < points.length; i++) {
    const c = sums.get(labels[i]!)!
    if (c.n < 2) continue
    const xs = dot(points[i]!, c.s)
    const rest2 = dot(c.s, c.s) - 2 * xs + 1
    out.push(rest2 > 1e-12 ? (xs - 1) / Math.sqrt(rest2) : 1)
  }
  return out
}

export class OnlineTopicModel {
  readonly options: Readonly<ResolvedTopicOptions>
  private phase: 'warmup' | 'online' = 'warmup'
  private dims: number | null = null
  private threshold: number | null
  private warmupTopics: number | null = null
  private warmupStartedAt: number | null = null
  private buffer: Array<{ id: string, x: Float64Array }> = []
  private readonly topics: Topic[] = []
  private assigned = 0
  private openedOnline = 0
  private forced = 0

  constructor (options: OnlineTopicOptions = {}) {
    this.options = resolveOptions(options)
    this.threshold = typeof this.options.newTopicThreshold === 'number' ? this.options.newTopicThreshold : null
    if (this.options.warmup === 0) this.phase = 'online'
  }

  get topicCount (): number { return this.topics.length }
  get inWarmup (): boolean { return this.phase === 'warmup' }

  /**
   * Assigns `vector` (any length > 0, normalised here) of record `id`. Returns the assignments
   * made final by this call: [] while warm-up buffers, the buffer when it ends, else one.
   * `now` (ms, any monotone clock) is needed only for `maxWarmupMs`.
   */
  assign (id: string, vector: Vector, now?: number): Assignment[] {
    const x = this.check(vector)
    if (this.phase === 'online') return [this.place(id, x)]
    if (this.buffer.length === 0) this.warmupStartedAt = now ?? null
    this.buffer.push({ id, x })
    const max = this.options.maxWarmupMs
    const timedOut = max !== null && now !== undefined && this.warmupStartedAt !== null && now - this.warmupStartedAt >= max
    if (this.buffer.length >= this.options.warmup || timedOut) return this.endWarmup()
    return []
  }

  /** When the buffered records must be released (ms, same clock as `now`), if a time limit applies. */
  warmupDeadline (): number | undefined {
    const max = this.options.maxWarmupMs
    if (this.phase !== 'warmup' || max === null || this.warmupStartedAt === null || this.buffer.length === 0) return undefined
    return this.warmupStartedAt + max
  }

  /** Ends warm-up now with what is buffered; returns their assignments ([] if already online). */
  flushWarmup (): Assignment[] {
    return this.phase === 'warmup' ? this.endWarmup() : []
  }

  /** End of input: releases anything still buffered (same as flushWarmup). */
  finish (): Assignment[] {
    return this.flushWarmup()
  }

  /** The nearest topic and its cosine, without assigning or updating anything (undefined: no topics yet). */
  nearest (vector: Vector): { topic: number, similarity: number } | undefined {
    if (this.topics.length === 0) return undefined
    const x = this.check(vector)
    const { topic, sim } = this.nearestTopic(x)
    return { topic, similarity: sim }
  }

  /** The unit centroid of a topic (a copy). */
  centroid (topic: number): Float64Array | undefined {
    const t = this.topics[topic]
    if (t === undefined) return undefined
    return t.mean.map((v) => v / t.norm)
  }

  stats (): OnlineTopicStats {
    return {
      phase: this.phase,
      dims: this.dims,
      buffered: this.buffer.length,
      warmupTopics: this.warmupTopics,
      threshold: this.threshold,
      topics: this.topics.length,
      assigned: this.assigned,
      openedOnline: this.openedOnline,
      forced: this.forced,
      counts: this.topics.map((t) => t.count),
    }
  }

  snapshot (): OnlineTopicSnapshot {
    return {
      format: 'synthq.online-topics/1',
      options: { ...this.options },
      phase: this.phase,
      dims: this.dims,
      threshold: this.threshold,
      warmupTopics: this.warmupTopics,
      warmupStartedAt: this.warmupStartedAt,
      assigned: this.assigned,
      openedOnline: this.openedOnline,
      forced: this.forced,
      buffer: this.buffer.map((b) => [b.id, encodeF64(b.x)]),
      topics: this.topics.map((t) => [t.count, encodeF64(t.mean)]),
    }
  }

  /** A model that continues exactly where the snapshot's left off (its options included). */
  static restore (snap: OnlineTopicSnapshot): OnlineTopicModel {
    if (snap?.format !== 'synthq.online-topics/1') throw new RecordInvalidError(`not an online topic model snapshot (format ${String(snap?.format)})`, ['format'])
    const m = new OnlineTopicModel({ ...snap.options, maxWarmupMs: snap.options.maxWarmupMs ?? undefined })
    const dims = snap.dims ?? undefined
    m.phase = snap.phase
    m.dims = snap.dims
    m.threshold = snap.threshold
    m.warmupTopics = snap.warmupTopics
    m.warmupStartedAt = snap.warmupStartedAt
    m.assigned = snap.assigned
    m.openedOnline = snap.openedOnline
    m.forced = snap.forced
    m.buffer = snap.buffer.map(([id, v]) => ({ id, x: decodeF64(v, dims) }))
    for (const [count, v] of snap.topics) {
      const mean = decodeF64(v, dims)
      m.topics.push({ count, mean, norm: Math.sqrt(dot(mean, mean)) })
    }
    return m
  }

  private check (vector: Vector): Float64Array {
    if (vector.length === 0) throw new RecordInvalidError('topic vector is empty', [])
    if (this.dims === null) this.dims = vector.length
    else if (vector.length !== this.dims) {
      throw new RecordInvalidError(`topic vector has ${vector.length} dimensions, the model has ${this.dims}`, [], { context: { dims: this.dims } })
    }
    return unitCopy(vector, 'topic vector')
  }

  private nearestTopic (x: Float64Array): { topic: number, sim: number } {
    let topic = -1
    let sim = -Infinity
    for (let j = 0; j < this.topics.length; j++) {
      const t = this.topics[j]!
      const s = t.norm > 0 ? dot(x, t.mean) / t.norm : 0
      if (s > sim) { sim = s; topic = j }
    }
    return { topic, sim }
  }

  private open (x: Float64Array, count = 1): number {
    this.topics.push({ count, mean: x, norm: Math.sqrt(dot(x, x)) })
    return this.topics.length - 1
  }

  private place (id: string, x: Float64Array): Assignment {
    this.assigned++
    const threshold = this.threshold ?? this.options.fallbackThreshold
    if (this.topics.length === 0) {
      this.openedOnline++
      return { id, topic: this.open(x), similarity: 1, isNew: true }
    }
    const { topic, sim } = this.nearestTopic(x)
    if (sim < threshold) {
      if (this.topics.length < this.options.maxTopics) {
        this.openedOnline++
        return { id, topic: this.open(x), similarity: 1, isNew: true }
      }
      this.forced++
    }
    const t = this.topics[topic]!
    t.count++
    const eta = Math.max(1 / t.count, this.options.minLearningRate)
    let s = 0
    for (let i = 0; i < t.mean.length; i++) {
      const v = t.mean[i]! + eta * (x[i]! - t.mean[i]!)
      t.mean[i] = v
      s += v * v
    }
    t.norm = Math.sqrt(s)
    return { id, topic, similarity: sim, isNew: false }
  }

  private endWarmup (): Assignment[] {
    const buffer = this.buffer
    this.buffer = []
    this.warmupStartedAt = null
    this.phase = 'online'
    const n = buffer.length
    if (n === 0) {
      this.warmupTopics = 0
      return []
    }
    const points = buffer.map((b) => b.x)
    const rand = seededRandom(this.options.seed)
    const restarts = this.options.kmeansRestarts
    const kMax = Math.max(1, Math.min(n, this.options.maxTopics, Math.max(2, Math.round(Math.sqrt(n / 2)))))
    const rule = this.options.k
    let result
    if (typeof rule === 'number' || rule === 'sqrt' || kMax < 3) {
      result = sphericalKMeans(points, typeof rule === 'number' ? Math.min(rule, this.options.maxTopics) : kMax, rand, { restarts })
    } else {
      let bestScore = -Infinity
      for (const k of candidateKs(kMax)) {
        const r = sphericalKMeans(points, k, rand, { restarts })
        const score = simplifiedSilhouette(points, r.centroids, r.labels)
        if (score > bestScore) { bestScore = score; result = r }
      }
    }
    const { labels, sims } = result!
    if (this.options.newTopicThreshold === 'auto') {
      const loo = leaveOneOutSimilarities(points, labels)
      this.threshold = loo.length >= MIN_AUTO_SAMPLE ? quantile(loo, this.options.thresholdQuantile) : this.options.fallbackThreshold
    }
    // Topic ids in order of first occurrence in the buffer; means are exact member means.
    const idOf = new Map<number, number>()
    const out: Assignment[] = []
    const members: number[][] = []
    for (let i = 0; i < n; i++) {
      const c = labels[i]!
      let topic = idOf.get(c)
      const isNew = topic === undefined
      if (topic === undefined) {
        topic = idOf.size
        idOf.set(c, topic)
        members.push([])
      }
      members[topic]!.push(i)
      out.push({ id: buffer[i]!.id, topic, similarity: sims[i]!, isNew })
    }
    const dims = points[0]!.length
    for (const m of members) {
      const mean = new Float64Array(dims)
      for (const i of m) {
        const p = points[i]!
        for (let j = 0; j < dims; j++) mean[j]! += p[j]!
      }
      for (let j = 0; j < dims; j++) mean[j]! /= m.length
      this.open(mean, m.length)
    }
    this.warmupTopics = this.topics.length
    this.assigned += n
    return out
  }
}
