/**
 * The reservoir's only source of randomness: a hash of (seed, item id), never Math.random. That
 * makes an item's random key a function of the item alone, which is what the reservoir relies
 * on: replaying the same input after a crash rebuilds the same sample, the sample does not
 * depend on arrival order, a snapshot need not store keys (they are recomputed on restore), and
 * an evicted item offered again gets the same key, so it is evicted again.
 *
 * Hash: MurmurHash3, x86 32-bit variant (Austin Appleby, 2011), over the id's UTF-16 code units
 * (two per 32-bit block), run twice in one pass with two 32-bit seeds derived from the caller's
 * seed. 20 bits of the first hash and 32 of the second form a 52-bit integer x; the uniform is
 * u = (x + 0.5) / 2^52, exact in a double and strictly inside (0, 1), so ln(u) is always
 * finite (the weighted policy takes it). Two ids share u with probability 2^-52 per pair (for
 * 1M kept items, ≈ 10^-4 over the whole sample); the reservoir breaks such ties by id, so its
 * order stays total. Ids are not adversarial here (they are synthq's own record ids); MurmurHash3
 * is not a keyed cryptographic hash, and a caller who can choose ids can choose their keys.
 * test/sink/reservoir/hash.test.ts checks uniformity (chi-square over bins, across ids and
 * across seeds) and independence of the two halves.
 *
 * Seeds are non-negative safe integers (up to 2^53 − 1); both 32-bit halves of the seed enter
 * the derived seeds through MurmurHash3's finaliser (fmix32).
 */
import { ConfigError } from '../../errors.ts'
import { mix32 as fmix32 } from '../../util/hash.ts'

export { fmix32 }

const C1 = 0xcc9e2d51
const C2 = 0x1b873593
const TWO32 = 4294967296
const TWO52 = 4503599627370496


/** The three 32-bit seeds derived from one user seed: two for item uniforms, one for topic ranks. */
export interface DerivedSeeds {
  readonly a: number
  readonly b: number
  readonly rank: number
}

export function deriveSeeds (seed: number): DerivedSeeds {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ConfigError(`reservoir seed must be a non-negative safe integer, got ${String(seed)}`)
  }
  const lo = seed % TWO32
  const hi = Math.floor(seed / TWO32)
  const a = fmix32((lo ^ fmix32((hi + 0x9e3779b9) >>> 0)) >>> 0)
  const b = fmix32((a + 0x632be5ab) >>> 0)
  const rank = fmix32((b + 0x85ebca6b) >>> 0)
  return { a, b, rank }
}

/**
 * u ∈ (0, 1) for `id` under the seeds: deterministic, uniform over 2^52 values. Both hashes
 * share one loop over the string (the body's block mixing does not depend on the seed).
 */
export function uniformOf (seeds: DerivedSeeds, id: string): number {
  let h1 = seeds.a
  let h2 = seeds.b
  const n = id.length
  let i = 0
  for (; i + 1 < n; i += 2) {
    let k = id.charCodeAt(i) | (id.charCodeAt(i + 1) << 16)
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h1 ^= k
    h1 = (h1 << 13) | (h1 >>> 19)
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0
    h2 ^= k
    h2 = (h2 << 13) | (h2 >>> 19)
    h2 = (Math.imul(h2, 5) + 0xe6546b64) | 0
  }
  if (i < n) {
    let k = id.charCodeAt(i)
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h1 ^= k
    h2 ^= k
  }
  h1 = fmix32((h1 ^ (n * 2)) >>> 0)
  h2 = fmix32((h2 ^ (n * 2)) >>> 0)
  return ((h1 >>> 12) * TWO32 + h2 + 0.5) / TWO52
}

/** A 32-bit hash of `s` under one seed (topic ranks). */
export function hash32 (seed: number, s: string): number {
  let h = seed | 0
  const n = s.length
  let i = 0
  for (; i + 1 < n; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  if (i < n) {
    let k = s.charCodeAt(i)
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h ^= k
  }
  return fmix32((h ^ (n * 2)) >>> 0)
}
