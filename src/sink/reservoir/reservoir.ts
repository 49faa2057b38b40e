/**
 * The topic-balanced reservoir: a sample of total budget K from an unbounded stream of scored,
 * topic-labelled items, with each topic's share set by water-filling (water-fill.ts) and, within
 * a topic, the items with the largest keys (keys.ts: uniform, weighted or top). Pure: no I/O, no
 * clock, no Math.random; the transport (Kafka, the embedded runner) feeds offer() and persists
 * snapshot() together with its consumed offsets.
 *
 * What the sample is. For each topic t with seen count n_t and quota q_t, the kept items are the
 * q_t largest keys among all n_t items ever offered to t. This holds exactly because a topic that
 * has ever evicted never sees its quota grow again (shown below): an evicted item could never
 * have come back anyway. Since a key depends only on (seed, id, score) and the final quotas only
 * on the final seen counts, the sample does not depend on arrival order.
 *
 * Quotas, maintained incrementally in O(1) amortised per offer (plus O(T) when a topic first
 * saturates). Let ℓ be the water level and r the remainder (water-fill.ts); E is the set of
 * topics with n_t > ℓ, sorted by a fixed seeded ranking (hash of seed and topic id, then id);
 * the first r of E get ℓ + 1, the rest ℓ, topics outside E get n_t. One offer raises one n_t by
 * one; Σ_t min(n_t, ℓ) rises by 1 if n_t was below ℓ, else stays:
 *   n_t < ℓ, r > 0   t gets one more unit; r drops by 1: the r-th topic of E gives one up.
 *   n_t < ℓ, r = 0   ℓ drops by 1; the topics whose count is now the old ℓ join E; r becomes
 *                    |E| − 1: everyone in E keeps the old ℓ except the last-ranked, which gives
 *                    one unit up.
 *   n_t = ℓ          t joins E at its rank; if that is among the first r it takes ℓ + 1 and
 *                    the topic pushed out of the first r gives one unit up.
 *   n_t > ℓ          nothing changes.
 * So one offer moves at most one unit of quota, from one topic to the offered one, and ℓ never
 * rises while K is fixed. A topic that has evicted is in E; inside E, with r only falling and E
 * only growing, a topic outside the first r never enters them; so its quota never rises. The
 * incremental state always equals the from-scratch one (rebalance()), which restore() uses; the
 * tests check both after every offer.
 *
 * Memory O(K): each topic holds at most its quota (Σ = K) in a bounded min-heap (heap.ts), an
 * id → item map over the kept items, and per topic a few numbers (seen count, quota, rank).
 *
 * Ids. An id names one item: offered again, it must carry the same topic and score (a replay
 * of the same record does). Offering an id that is currently kept is then a no-op (counted as
 * a duplicate; its topic's seen count does not move), so a replay of already-sampled records
 * cannot double-count them. An id that is not kept (rejected or evicted earlier) cannot be
 * recognised without remembering the whole stream: it gets the same key as before, so it is
 * rejected again — its topic's threshold only rises — and the sample does not change; but its
 * topic's seen count rises by one, which can move one unit of quota between topics.
 * Exactly-once input (snapshot checkpointed with the consumed offsets) is what prevents that.
 * A kept id re-offered under another topic or score is a no-op too, unless it would be
 * rejected outright in that topic (offer() skips the id lookup then): it is then counted as a
 * new rejected item of that topic. Either way the sample never holds an id twice.
 *
 * setBudget(k). Shrinking evicts the lowest keys wherever quotas fall: the result is exactly
 * what an uninterrupted run with the smaller K would hold. Growing raises quotas, but evicted
 * items are gone: topics keep what they have and fill the room from items offered afterwards,
 * so from then on a topic's sample is the top keys of what it still held plus what came after,
 * not of its whole stream.
 *
 * Snapshots are plain JSON data: per topic (in first-seen order) its id, seen count and kept
 * items [id, score, payload] in heap order; keys are recomputed from the seed on restore (they
 * are deterministic), quotas from the seen counts. Payloads are stored as given, so T should be
 * JSON data (a record key, an offset, the record itself). restore(snapshot()) is the same
 * reservoir: snapshot() of it is deep-equal, and offering the same items afterwards gives the
 * same results as the uninterrupted instance.
 */
import { ConfigError } from '../../errors.ts'
import { deriveSeeds, hash32, uniformOf, type DerivedSeeds } from './hash.ts'
import { MinHeap } from './heap.ts'
import { below, checkPolicy, defaultWeight, keyOf, type Policy, type WeightFn } from './keys.ts'
import { waterFill } from './water-fill.ts'

export type TopicId = string | number

export interface ReservoirOptions {
  /** Total budget K (non-negative integer). */
  k: number
  policy: Policy
  /** Non-negative safe integer; the sample is a function of seed and input. */
  seed: number
  /** Weighted policy only: weight of a score, positive and finite (default score + 1). */
  weight?: WeightFn
}

export interface OfferedItem<T> {
  id: string
  topic: TopicId
  /** Score total (0–7 in synthq; any finite number works). */
  score: number
  payload: T
}

export interface KeptItem<T> extends OfferedItem<T> {
  /** The item's key under the policy (larger is kept first). */
  key: number
}

export interface EvictedItem<T> {
  id: string
  topic: TopicId
  payload: T
}

export interface OfferResult<T> {
  /** The offered item is in the sample now. */
  admitted: boolean
  /** The id was already in the sample: nothing changed. */
  duplicate: boolean
  /** Items that left the sample because of this offer (at most one, in the incremental path). */
  evicted: Array<EvictedItem<T>>
}

export interface TopicStats {
  topic: TopicId
  seen: number
  kept: number
  quota: number
}

export interface ReservoirStats {
  k: number
  policy: Policy
  seed: number
  /** Items kept. */
  size: number
  topics: number
  /** Σ seen counts (items offered, minus duplicates). */
  seen: number
  /** Water level ℓ; null while everything fits (Σ seen ≤ K). */
  level: number | null
  minQuota: number
  maxQuota: number
  /**
   * Max/min items kept among the saturated topics (seen > ℓ: those that have more than the
   * water-filled equal share available). ≤ (ℓ + 1)/ℓ. null while nothing is capped, or when the
   * smallest is 0 (K smaller than the number of topics).
   */
  balanceRatio: number | null
  offered: number
  admitted: number
  rejected: number
  duplicates: number
  evicted: number
  /** Per topic, in canonical topic order (numbers ascending, then strings). */
  perTopic: TopicStats[]
}

export interface ReservoirSnapshot<T> {
  format: 'synthq.topic-balanced-reservoir'
  version: 1
  k: number
  policy: Policy
  seed: number
  /** 'score+1' for the default weight, 'custom' when a weight function was given. */
  weight: 'score+1' | 'custom'
  counters: { offered: number, admitted: number, rejected: number, duplicates: number, evicted: number }
  topics: Array<{ topic: TopicId, seen: number, items: Array<[id: string, score: number, payload: T]> }>
}

interface Entry<T> {
  readonly id: string
  readonly topic: TopicId
  readonly score: number
  readonly payload: T
  readonly key: number
  readonly u: number
}

interface TopicState<T> {
  readonly topic: TopicId
  /** Fixed seeded rank: who gets the remainder's extra units. */
  readonly rank: number
  readonly rankKey: string
  seen: number
  quota: number
  readonly heap: MinHeap<Entry<T>>
}

/** Canonical topic order: numbers ascending, then strings by code unit. */
export function compareTopics (a: TopicId, b: TopicId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1
  if (typeof b === 'number') return 1
  return a < b ? -1 : a > b ? 1 : 0
}

function byRank<T> (a: TopicState<T>, b: TopicState<T>): number {
  if (a.rank !== b.rank) return a.rank - b.rank
  return a.rankKey < b.rankKey ? -1 : a.rankKey > b.rankKey ? 1 : 0
}

function checkK (k: unknown): number {
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0) {
    throw new ConfigError(`reservoir budget k must be a non-negative integer, got ${String(k)}`)
  }
  return k
}

export class TopicBalancedReservoir<T = unknown> {
  readonly policy: Policy
  readonly seed: number
  private k: number
  private readonly seeds: DerivedSeeds
  private readonly weight: WeightFn
  private readonly customWeight: boolean
  private readonly topics = new Map<TopicId, TopicState<T>>()
  private readonly byId = new Map<string, Entry<T>>()
  private total = 0
  private capped = false
  private level = Infinity
  private remainder = 0
  /** E: topics with seen > level, by rank (only while capped). */
  private saturated: Array<TopicState<T>> = []
  /** Topics with seen ≤ level, by seen count (only while capped). */
  private readonly small = new Map<number, Set<TopicState<T>>>()
  private offered = 0
  private admitted = 0
  private rejected = 0
  private duplicates = 0
  private evictedCount = 0

  constructor (opts: ReservoirOptions) {
    this.k = checkK(opts.k)
    this.policy = checkPolicy(opts.policy)
    this.seeds = deriveSeeds(opts.seed)
    this.seed = opts.seed
    if (opts.weight !== undefined && typeof opts.weight !== 'function') throw new ConfigError('reservoir weight must be a function of the score')
    this.customWeight = opts.weight !== undefined
    this.weight = opts.weight ?? defaultWeight
  }

  get budget (): number { return this.k }
  get size (): number { return this.byId.size }

  has (id: string): boolean { return this.byId.has(id) }

  /** The key `item` gets (or got) under this reservoir's seed and policy. */
  keyOf (item: { id: string, score: number }): number {
    return keyOf(this.policy, item.score, uniformOf(this.seeds, item.id), this.weight, item.id)
  }

  offer (item: OfferedItem<T>): OfferResult<T> {
    const { id, topic, score, payload } = item
    if (typeof id !== 'string') throw new TypeError(`reservoir item id must be a string, got ${typeof id}`)
    if (!(typeof topic === 'string' || (typeof topic === 'number' && Number.isFinite(topic)))) {
      throw new TypeError(`reservoir item ${id}: topic must be a string or a finite number, got ${String(topic)}`)
    }
    const u = uniformOf(this.seeds, id)
    const key = keyOf(this.policy, score, u, this.weight, id) // throws on a bad score before any state changes
    const entry: Entry<T> = { id, topic, score, payload, key, u }
    let t = this.topics.get(topic)
    // The id lookup is skipped when the item is certainly rejected: its topic is saturated and
    // full (this offer cannot change its quota) and the item ranks below the topic's lowest
    // kept item — then it is not kept there, and under the id contract (see the header) not
    // anywhere. Once the sample is full that is most offers: 1.4–1.6× the throughput at K = 100k,
    // 1.1× at K = 1M (bench/sink-reservoir.bench.ts).
    const certainlyRejected = t !== undefined && this.capped && t.seen > this.level && t.heap.size >= t.quota &&
      (t.quota === 0 || below(entry, t.heap.peek()!))
    if (!certainlyRejected && this.byId.has(id)) {
      this.offered++
      this.duplicates++
      return { admitted: false, duplicate: true, evicted: [] }
    }
    this.offered++
    t ??= this.addTopic(topic)
    const evicted: Array<EvictedItem<T>> = []
    this.grow(t, evicted)
    const admitted = this.insert(t, entry, evicted)
    return { admitted, duplicate: false, evicted }
  }

  /** Changes K. Returns the items evicted when it shrinks (growing evicts nothing; see the header). */
  setBudget (k: number): Array<EvictedItem<T>> {
    this.k = checkK(k)
    const evicted: Array<EvictedItem<T>> = []
    this.rebalance(evicted)
    return evicted
  }

  /** The sample, by topic (canonical order), best key first within a topic. O(K log K). */
  sample (): Array<KeptItem<T>> {
    const out: Array<KeptItem<T>> = []
    for (const t of this.orderedTopics()) {
      const es = [...t.heap.entries].sort((a, b) => below(b, a) ? -1 : below(a, b) ? 1 : 0)
      for (const e of es) out.push({ id: e.id, topic: e.topic, score: e.score, payload: e.payload, key: e.key })
    }
    return out
  }

  /** Each topic's quota, in canonical topic order. */
  quotas (): Map<TopicId, number> {
    return new Map(this.orderedTopics().map((t) => [t.topic, t.quota]))
  }

  stats (): ReservoirStats {
    const perTopic: TopicStats[] = this.orderedTopics().map((t) => ({ topic: t.topic, seen: t.seen, kept: t.heap.size, quota: t.quota }))
    let minQuota = Infinity
    let maxQuota = 0
    for (const p of perTopic) {
      if (p.quota < minQuota) minQuota = p.quota
      if (p.quota > maxQuota) maxQuota = p.quota
    }
    let balanceRatio: number | null = null
    if (this.capped && this.saturated.length > 0) {
      let lo = Infinity
      let hi = 0
      for (const t of this.saturated) {
        if (t.heap.size < lo) lo = t.heap.size
        if (t.heap.size > hi) hi = t.heap.size
      }
      balanceRatio = lo > 0 ? hi / lo : null
    }
    return {
      k: this.k,
      policy: this.policy,
      seed: this.seed,
      size: this.byId.size,
      topics: this.topics.size,
      seen: this.total,
      level: this.capped ? this.level : null,
      minQuota: perTopic.length > 0 ? minQuota : 0,
      maxQuota,
      balanceRatio,
      offered: this.offered,
      admitted: this.admitted,
      rejected: this.rejected,
      duplicates: this.duplicates,
      evicted: this.evictedCount,
      perTopic,
    }
  }

  snapshot (): ReservoirSnapshot<T> {
    return {
      format: 'synthq.topic-balanced-reservoir',
      version: 1,
      k: this.k,
      policy: this.policy,
      seed: this.seed,
      weight: this.customWeight ? 'custom' : 'score+1',
      counters: { offered: this.offered, admitted: this.admitted, rejected: this.rejected, duplicates: this.duplicates, evicted: this.evictedCount },
      topics: [...this.topics.values()].map((t) => ({
        topic: t.topic,
        seen: t.seen,
        items: t.heap.entries.map((e): [string, number, T] => [e.id, e.score, e.payload]),
      })),
    }
  }

  /**
   * Rebuilds a reservoir from snapshot(). A custom weight function is not data: pass the same
   * one again (required when the snapshot says 'custom', refused when it says 'score+1').
   */
  static restore<T> (snap: ReservoirSnapshot<T>, opts: { weight?: WeightFn } = {}): TopicBalancedReservoir<T> {
    if (snap?.format !== 'synthq.topic-balanced-reservoir' || snap.version !== 1) {
      throw new ConfigError('not a topic-balanced reservoir snapshot (format/version 1 expected)')
    }
    if (snap.weight === 'custom' && opts.weight === undefined) {
      throw new ConfigError('the snapshot was taken with a custom weight function: pass it to restore()')
    }
    if (snap.weight !== 'custom' && opts.weight !== undefined) {
      throw new ConfigError('the snapshot was taken with the default weight (score + 1), not a custom one')
    }
    const r = new TopicBalancedReservoir<T>({ k: snap.k, policy: snap.policy, seed: snap.seed, weight: opts.weight })
    for (const s of snap.topics) {
      if (r.topics.has(s.topic)) throw new ConfigError(`reservoir snapshot: topic ${String(s.topic)} appears twice`)
      if (!Number.isSafeInteger(s.seen) || s.seen < s.items.length) {
        throw new ConfigError(`reservoir snapshot: topic ${String(s.topic)} keeps ${s.items.length} items but has seen ${s.seen}`)
      }
      const entries: Array<Entry<T>> = []
      for (const [id, score, payload] of s.items) {
        if (r.byId.has(id)) throw new ConfigError(`reservoir snapshot: item ${id} appears twice`)
        const u = uniformOf(r.seeds, id)
        const e: Entry<T> = { id, topic: s.topic, score, payload, key: keyOf(r.policy, score, u, r.weight, id), u }
        entries.push(e)
        r.byId.set(id, e)
      }
      const t = r.addTopic(s.topic, new MinHeap(entries))
      t.seen = s.seen
      r.total += s.seen
    }
    const c = snap.counters
    r.offered = c.offered
    r.admitted = c.admitted
    r.rejected = c.rejected
    r.duplicates = c.duplicates
    r.evictedCount = c.evicted
    const evicted: Array<EvictedItem<T>> = []
    r.rebalance(evicted)
    if (evicted.length > 0) {
      throw new ConfigError(`reservoir snapshot: ${evicted.length} items exceed their topics' quotas (inconsistent snapshot)`)
    }
    return r
  }

  // --- internals ------------------------------------------------------------------------

  private addTopic (topic: TopicId, heap = new MinHeap<Entry<T>>()): TopicState<T> {
    const rankKey = typeof topic === 'number' ? `n${topic}` : `s${topic}`
    const t: TopicState<T> = { topic, rank: hash32(this.seeds.rank, rankKey), rankKey, seen: 0, quota: 0, heap }
    this.topics.set(topic, t)
    return t
  }

  private orderedTopics (): Array<TopicState<T>> {
    return [...this.topics.values()].sort((a, b) => compareTopics(a.topic, b.topic))
  }

  /** One more item seen in t: updates the quotas (see the header) and evicts from the topic that gives a unit up. */
  private grow (t: TopicState<T>, evicted: Array<EvictedItem<T>>): void {
    const c = t.seen
    t.seen = c + 1
    this.total++
    if (!this.capped) {
      t.quota = c + 1
      if (this.total > this.k) this.rebalance(evicted)
      return
    }
    const L = this.level
    if (c < L) {
      this.moveSmall(t, c, c + 1)
      t.quota = c + 1
      if (this.remainder > 0) {
        this.remainder--
        const loser = this.saturated[this.remainder]!
        loser.quota = L
        this.shrink(loser, evicted)
      } else {
        const joining = this.small.get(L)
        this.small.delete(L)
        if (joining !== undefined) for (const j of joining) this.joinSaturated(j)
        this.level = L - 1
        this.remainder = this.saturated.length - 1
        const loser = this.saturated[this.remainder]!
        loser.quota = L - 1
        this.shrink(loser, evicted)
      }
    } else if (c === L) {
      if (c > 0) this.small.get(c)?.delete(t)
      const p = this.joinSaturated(t)
      if (p < this.remainder) {
        t.quota = L + 1
        const loser = this.saturated[this.remainder]!
        loser.quota = L
        this.shrink(loser, evicted)
      } else {
        t.quota = L
      }
    }
  }

  /** Offers `e` to its topic, whose quota is already updated. */
  private insert (t: TopicState<T>, e: Entry<T>, evicted: Array<EvictedItem<T>>): boolean {
    const heap = t.heap
    if (heap.size < t.quota) {
      heap.push(e)
      this.byId.set(e.id, e)
      this.admitted++
      return true
    }
    const root = heap.peek()
    if (root === undefined || !below(root, e)) {
      this.rejected++
      return false
    }
    heap.replaceTop(e)
    this.byId.delete(root.id)
    this.byId.set(e.id, e)
    evicted.push({ id: root.id, topic: root.topic, payload: root.payload })
    this.evictedCount++
    this.admitted++
    return true
  }

  private shrink (t: TopicState<T>, evicted: Array<EvictedItem<T>>): void {
    while (t.heap.size > t.quota) {
      const e = t.heap.pop()!
      this.byId.delete(e.id)
      evicted.push({ id: e.id, topic: e.topic, payload: e.payload })
      this.evictedCount++
    }
  }

  private moveSmall (t: TopicState<T>, from: number, to: number): void {
    if (from > 0) this.small.get(from)?.delete(t)
    let s = this.small.get(to)
    if (s === undefined) {
      s = new Set()
      this.small.set(to, s)
    }
    s.add(t)
  }

  /** Inserts t into E at its rank; returns its index. */
  private joinSaturated (t: TopicState<T>): number {
    const E = this.saturated
    let lo = 0
    let hi = E.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (byRank(E[mid]!, t) < 0) lo = mid + 1
      else hi = mid
    }
    E.splice(lo, 0, t)
    return lo
  }

  /** Quotas from scratch (water-fill.ts and the rank order), then evicts down to them. */
  private rebalance (evicted: Array<EvictedItem<T>>): void {
    const all = [...this.topics.values()]
    const { level, remainder } = waterFill(all.map((t) => t.seen), this.k)
    this.small.clear()
    this.saturated = []
    if (level === Infinity) {
      this.capped = false
      this.level = Infinity
      this.remainder = 0
      for (const t of all) t.quota = t.seen
    } else {
      this.capped = true
      this.level = level
      this.remainder = remainder
      for (const t of all) {
        if (t.seen > level) {
          this.saturated.push(t)
        } else {
          t.quota = t.seen
          if (t.seen > 0) this.moveSmall(t, 0, t.seen)
        }
      }
      this.saturated.sort(byRank)
      this.saturated.forEach((t, i) => { t.quota = level + (i < remainder ? 1 : 0) })
    }
    for (const t of all) this.shrink(t, evicted)
  }
}
