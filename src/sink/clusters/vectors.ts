/**
 * Small vector and randomness helpers shared by topic assignment (online-clustering.ts), the
 * lexical fallback (lexical.ts) and the diversity figures (../diversity): dot products, unit
 * normalisation, a seeded PRNG, and an exact text encoding of float64 vectors for snapshots.
 *
 * Why a PRNG here and not Math.random: k-means++ seeding and the Vendi subset must be
 * reproducible from a seed, so a restarted sink replaying the same input rebuilds the same topics.
 * The generator is SplitMix32-style (a Weyl sequence through MurmurHash3's finaliser), the same
 * construction the LLM simulator uses; it is not cryptographic and need not be.
 *
 * Snapshots store vectors as base64 of their float64 little-endian bytes, not as JSON numbers:
 * about 2.7× smaller than decimal text, and bit-exact, so a restored model continues exactly
 * where the original would have (test/sink/clusters checks this).
 */
import { RecordInvalidError } from '../../errors.ts'
import { mix32 as fmix32 } from '../../util/hash.ts'

export type Vector = ArrayLike<number>

export function dot (a: Vector, b: Vector): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

export function norm (a: Vector): number {
  return Math.sqrt(dot(a, a))
}

/**
 * A unit-length float64 copy of `v`. Throws RecordInvalidError for a non-finite component or
 * a zero vector (it has no direction, so no cosine to anything); `what` names the input.
 */
export function unitCopy (v: Vector, what = 'vector'): Float64Array {
  const out = new Float64Array(v.length)
  let s = 0
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!
    if (!Number.isFinite(x)) throw new RecordInvalidError(`${what} has a non-finite component at ${i}`, [String(i)])
    out[i] = x
    s += x * x
  }
  if (s === 0) throw new RecordInvalidError(`${what} is the zero vector: it has no direction`, [])
  const n = Math.sqrt(s)
  for (let i = 0; i < out.length; i++) out[i]! /= n
  return out
}


/** Uniform numbers in [0, 1), reproducible from `seed` (any safe integer). */
export function seededRandom (seed: number): () => number {
  let state = fmix32(((seed % 4294967296) ^ fmix32(Math.floor(seed / 4294967296) + 0x9e3779b9)) >>> 0)
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    return fmix32(state ^ (state >>> 15)) / 4294967296
  }
}

/** 32-bit FNV-1a over UTF-16 code units, then MurmurHash3's finaliser; `seed` picks the family. */
export function hashString (text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ fmix32((seed + 0x9e3779b9) >>> 0)) >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return fmix32(h)
}

/** Exact text form of a float64 vector: base64 of its little-endian bytes. */
export function encodeF64 (v: Float64Array): string {
  const buf = Buffer.alloc(v.length * 8)
  for (let i = 0; i < v.length; i++) buf.writeDoubleLE(v[i]!, i * 8)
  return buf.toString('base64')
}

export function decodeF64 (text: string, dims?: number): Float64Array {
  const buf = Buffer.from(text, 'base64')
  if (buf.length % 8 !== 0 || (dims !== undefined && buf.length !== dims * 8)) {
    throw new RecordInvalidError(`encoded vector has ${buf.length} bytes, expected ${dims === undefined ? 'a multiple of 8' : dims * 8}`, [])
  }
  const out = new Float64Array(buf.length / 8)
  for (let i = 0; i < out.length; i++) out[i] = buf.readDoubleLE(i * 8)
  return out
}
