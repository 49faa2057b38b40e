/**
 * The three within-topic sampling policies as one mechanism: every item gets a key, and a topic
 * keeps the items with its `quota` largest keys. Only the key differs:
 *
 *   uniform   key = u. Keeping the k largest of n i.i.d. uniform keys keeps every k-subset with
 *             the same probability: a uniform random sample without replacement, i.e. what
 *             reservoir sampling (Vitter 1985, "Random sampling with a reservoir", Algorithm R)
 *             produces — but a quota that shrinks just drops the lowest keys, and the result
 *             does not depend on arrival order.
 *   weighted  key = ln(u) / w, the logarithm of Efraimidis & Spirakis's A-Res key u^(1/w)
 *             ("Weighted random sampling with a reservoir", Information Processing Letters 97,
 *             2006). ln is increasing, so the k largest keys are the same items; u^(1/w)
 *             itself underflows to 0 for small u or small w and would make ties. With k = 1 the
 *             item i is kept with probability w_i / Σw; with k > 1 the sample is distributed as
 *             k successive draws without replacement, each proportional to weight.
 *             Weight from score: w = score + 1 by default (scores 0–7 → weights 1–8): a 0-scored
 *             instruction keeps a small chance, a 7 is twice as likely as a 3 in a single draw.
 *             Any function returning a positive finite number can replace it.
 *   top       key = score: the highest scores, ties (frequent: totals are 0–7) broken by u,
 *             i.e. by a seeded random order — the paper's selection within a topic.
 *
 * Ties of key are broken by u, then by id (u collides with probability 2^-52): the order is total,
 * so "the quota largest keys" is always one well-defined set.
 */
import { ConfigError, RecordInvalidError } from '../../errors.ts'

export type Policy = 'uniform' | 'weighted' | 'top'
export const POLICIES: readonly Policy[] = ['uniform', 'weighted', 'top']

export type WeightFn = (score: number) => number

/** The default weight of the weighted policy: score + 1. */
export const defaultWeight: WeightFn = (score) => score + 1

export function checkPolicy (policy: unknown): Policy {
  if (!POLICIES.includes(policy as Policy)) {
    throw new ConfigError(`reservoir policy must be one of ${POLICIES.join(', ')}, got ${String(policy)}`)
  }
  return policy as Policy
}

/** The key of an item with score `score` and seeded uniform `u` under `policy`. */
export function keyOf (policy: Policy, score: number, u: number, weight: WeightFn, id: string): number {
  if (!Number.isFinite(score)) {
    throw new RecordInvalidError(`reservoir item ${id}: score must be a finite number, got ${String(score)}`, ['score'], { context: { id } })
  }
  if (policy === 'uniform') return u
  if (policy === 'top') return score
  const w = weight(score)
  if (!(w > 0) || !Number.isFinite(w)) {
    throw new RecordInvalidError(`reservoir item ${id}: weight of score ${score} must be positive and finite, got ${String(w)}`, ['score'], { context: { id } })
  }
  return Math.log(u) / w
}

/** What the heap orders by: key, then u, then id. */
export interface Ranked {
  readonly id: string
  readonly key: number
  readonly u: number
}

/** True when `a` ranks strictly below `b` (a would be evicted before b). */
export function below (a: Ranked, b: Ranked): boolean {
  if (a.key !== b.key) return a.key < b.key
  if (a.u !== b.u) return a.u < b.u
  return a.id < b.id
}
