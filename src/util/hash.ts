/**
 * Small deterministic hashing shared by the modules that must not use Math.random (the
 * simulator, MinHash, demonstration draws, the reservoir, topic seeding): one copy of the mixing
 * step they all build on.
 */

/** MurmurHash3's final avalanche (fmix32): every input bit affects every output bit. */
export function mix32 (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1) — reproducible draws and test runs. */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
