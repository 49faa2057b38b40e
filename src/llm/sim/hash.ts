/**
 * Deterministic hashing and random numbers for the LLM simulator. Everything the simulator
 * invents (keywords chosen, templates picked, 0/1 scores, embedding buckets, injected faults)
 * is a pure function of the request and a seed, so the same request always gets the same
 * answer and a failing test can be replayed exactly. Math.random is never used.
 */
import { createHash } from 'node:crypto'
import { mix32 } from '../../util/hash.ts'

export { mix32 }


/** 32-bit FNV-1a over UTF-16 code units, then mixed; `seed` selects an independent hash family. */
export function hash32 (text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ mix32(seed + 0x9e3779b9)) >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return mix32(h)
}

/** A uniform number in [0, 1) determined by (seed, key). */
export function unit (seed: number, key: string): number {
  return hash32(key, seed) / 4294967296
}

/** A small counter-based generator: uniform numbers in [0, 1), reproducible from `seed`. */
export function rng (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    return mix32(state ^ (state >>> 15)) / 4294967296
  }
}

/** A stable 32-bit seed from a long text (SHA-256: no collisions to worry about between requests). */
export function seedOf (text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0)
}

/** Hex digest used as a map key for texts (answers remembered, prompt blocks cached). */
export function digest (text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22)
}

/** Picks one element deterministically; `items` must not be empty. */
export function pick<T> (items: readonly T[], r: number): T {
  return items[Math.min(items.length - 1, Math.floor(r * items.length))]!
}
