/**
 * How the kept sample is spread, for the dataset card, `status` and the health checks: the
 * entropy of its topic distribution and the histogram of its scores.
 *
 * Topic entropy: H = −Σ p_t ln p_t over topics with at least one item (nats). `normalized` is
 * H / ln T for T such topics (1: perfectly even, 0: everything in one topic; 0 too when T ≤ 1,
 * which is as collapsed as a sample gets), and `effective` = e^H the "effective number of
 * topics" (Hill number of order 1) — on the same scale as the topic count, which makes a collapse
 * easy to read: 200 topics but e^H = 3 means three topics hold nearly everything.
 */
import { RecordInvalidError } from '../../errors.ts'

export interface TopicEntropy {
  /** Topics with a count > 0. */
  topics: number
  total: number
  /** Shannon entropy, nats. */
  nats: number
  /** nats / ln(topics); 0 when topics ≤ 1. */
  normalized: number
  /** exp(nats): effective number of topics. */
  effective: number
}

/** Entropy of a distribution given as counts (any iterable, or a Map's values). */
export function topicEntropy (counts: Iterable<number> | ReadonlyMap<unknown, number>): TopicEntropy {
  const values = counts instanceof Map ? [...counts.values()] : [...(counts as Iterable<number>)]
  let total = 0
  let topics = 0
  for (const c of values) {
    if (!(c >= 0) || !Number.isFinite(c)) throw new RecordInvalidError(`topicEntropy: counts must be finite and ≥ 0, got ${String(c)}`, [])
    if (c > 0) { total += c; topics++ }
  }
  let nats = 0
  for (const c of values) if (c > 0) nats -= (c / total) * Math.log(c / total)
  return { topics, total, nats, normalized: topics > 1 ? nats / Math.log(topics) : 0, effective: topics > 0 ? Math.exp(nats) : 0 }
}

export interface ScoreBin {
  score: number
  count: number
  /** count / total (0 when there are no scores). */
  share: number
}

export interface ScoreHistogram {
  total: number
  /** Mean score (0 when there are none). */
  mean: number
  /** One bin per integer score from min to max, empty bins included. */
  bins: ScoreBin[]
}

/**
 * Histogram of integer scores (the 0–7 totals by default). Bins run from `min` to `max`, widened
 * to any score outside them, so nothing is dropped; a non-integer score is an error.
 */
export function scoreHistogram (scores: Iterable<number>, range: { min?: number, max?: number } = {}): ScoreHistogram {
  let lo = range.min ?? 0
  let hi = range.max ?? 7
  const counts = new Map<number, number>()
  let total = 0
  let sum = 0
  for (const s of scores) {
    if (!Number.isSafeInteger(s)) throw new RecordInvalidError(`scoreHistogram: scores must be integers, got ${String(s)}`, [])
    counts.set(s, (counts.get(s) ?? 0) + 1)
    total++
    sum += s
    if (s < lo) lo = s
    if (s > hi) hi = s
  }
  const bins: ScoreBin[] = []
  for (let s = lo; s <= hi; s++) {
    const count = counts.get(s) ?? 0
    bins.push({ score: s, count, share: total > 0 ? count / total : 0 })
  }
  return { total, mean: total > 0 ? sum / total : 0, bins }
}
