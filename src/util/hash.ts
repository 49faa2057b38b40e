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
