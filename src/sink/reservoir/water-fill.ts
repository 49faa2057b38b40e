/**
 * Water-filling of a total budget K over topics of sizes n_t (the seen counts): every topic gets
 * an equal share, and what a small topic cannot use goes to the others. In integers: the level ℓ
 * is the largest integer with Σ_t min(n_t, ℓ) ≤ K; the remainder r = K − Σ_t min(n_t, ℓ) is
 * smaller than the number of topics with n_t > ℓ (else ℓ + 1 would fit), and r of those topics
 * get ℓ + 1. So a topic with n_t ≤ ℓ keeps all its items, and the quotas of the others differ by
 * at most one — the max/min ratio among them is at most (ℓ + 1)/ℓ. The quotas sum to exactly K.
 * Which r topics get the extra unit is the reservoir's business (a fixed seeded ranking, see
 * reservoir.ts); this module only finds ℓ and r, from scratch: sort the sizes, walk them upwards
 * while the level still covers the current size, O(T log T).
 *
 * When Σ n_t ≤ K nothing needs capping: level is Infinity and every topic keeps everything.
 */

export interface WaterLevel {
  /** ℓ: topics with n ≤ ℓ keep all their items; Infinity when Σ n ≤ K. */
  level: number
  /** r: how many of the topics with n > ℓ get ℓ + 1 (0 when level is Infinity). */
  remainder: number
}

export function waterFill (counts: readonly number[], k: number): WaterLevel {
  let total = 0
  for (const c of counts) total += c
  if (total <= k) return { level: Infinity, remainder: 0 }
  const sorted = [...counts].sort((x, y) => x - y)
  let prefix = 0
  for (let i = 0; i < sorted.length; i++) {
    const c = sorted[i]!
    const m = sorted.length - i
    if (prefix + m * c <= k) {
      prefix += c
      continue
    }
    const level = Math.floor((k - prefix) / m)
    return { level, remainder: k - prefix - m * level }
  }
  // Unreachable: the last topic fails the test when total > k.
  throw new Error('waterFill: no level found')
}
