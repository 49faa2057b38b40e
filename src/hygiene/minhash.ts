/**
 * MinHash signatures and an LSH index for near-duplicate detection (web documents that are the
 * same page with a different header, benchmark prompts with a few words changed). Hand-written:
 * the npm `minhash` package is unmaintained (0.0.9, no release in years, no typings, string
 * shingles and 64-bit float arithmetic), and what is needed here is small, must be deterministic
 * across processes (signatures are stored in records and compared later) and must fit a million
 * entries in memory.
 *
 * Shingles: the text goes through normalizeForHash (NFC, lowercase, invisible characters
 * removed), is split into words (runs of letters, digits and marks; each Han / kana character
 * is a word of its own, since those scripts have no spaces), and every run of `shingleSize`
 * consecutive words (default 5) is one shingle. A text with fewer words has one shingle: all of
 * them.
 *
 * Hashing, and why it is exact with 32-bit-safe arithmetic:
 *   1. Each word → 32-bit FNV-1a over its UTF-16 units; a shingle → MurmurHash3's 32-bit block
 *      mixing over its word hashes, with the seed, then the final avalanche. Two different
 *      shingles collide with probability ≈ 2^-32, i.e. for two 10,000-shingle documents about
 *      0.02 spurious shared shingles: negligible next to the estimator's own noise.
 *   2. The 32-bit shingle hash is reduced modulo the Mersenne prime p = 2^31 − 1 (folding: at
 *      most 3 hashes per residue, collision probability ≈ 2^-31 per pair).
 *   3. Permutation i is the universal hash h_i(x) = (a_i·x + b_i) mod p, a_i ∈ [1, p), b_i ∈
 *      [0, p) drawn from a seeded generator. a·x needs 62 bits, more than a double holds
 *      exactly, so it is computed from 16-bit halves with 2^31 ≡ 1 (mod p): every intermediate
 *      stays below 2^35, exact in doubles (checked against BigInt in the tests). For a ≠ 0 each
 *      h_i is a bijection of [0, p), so a permutation adds no collisions of its own. The linear
 *      family is only approximately min-wise independent, but its inputs are already
 *      well-mixed hashes; the tests measure the estimate against exact Jaccard on real text.
 *   The signature is the minimum of each h_i over the shingles: numPerm values < 2^31 in a
 *   Uint32Array (default 128 → 512 bytes; base64 684 characters). EMPTY (0xffffffff) marks a
 *   text without words. Signatures are comparable only between hashers with the same
 *   shingleSize, numPerm and seed: `MinHasher.id` names that triple.
 *
 * LSH (MinHashLsh): the signature is cut into b bands of r rows; two texts become candidates
 * when all r values of at least one band agree, which happens with probability
 * P(s) = 1 − (1 − s^r)^b for Jaccard similarity s. Candidates are then verified by their
 * estimated Jaccard ≥ threshold, so extra candidates cost only a comparison, and missed ones
 * are lost: `lshParams` takes the largest r (fewest candidates) with P(threshold) ≥ 0.9.
 * For 128 permutations:
 *   threshold 0.8 → b=16 r=8:  P(0.5)=0.06  P(0.6)=0.24  P(0.7)=0.61  P(0.75)=0.82  P(0.8)=0.95  P(0.85)=0.994  P(0.9)=0.9999
 *   threshold 0.7 → b=21 r=6:  P(0.5)=0.28  P(0.6)=0.63  P(0.7)=0.93  P(0.8)=0.998
 *   threshold 0.6 → b=32 r=4:  P(0.4)=0.56  P(0.5)=0.87  P(0.6)=0.99  P(0.7)=0.9998
 * (Verification itself has noise: with 128 permutations the estimate's standard deviation is
 * √(s(1−s)/128) ≈ 0.035 at s = 0.8, so pairs right at the threshold are found about half the time.)
 *
 * Memory: the index keeps, per entry, the low 16 bits of each signature value (b-bit MinHash:
 * two different minima agree on 16 bits with probability 2^-16, which raises a similarity
 * estimate by at most (1 − s)·2^-16), one chain link per band, and one bucket head per band
 * (tables sized to the entry count): for 128 permutations and 16 bands ≈ 256 + 64 + 64…128
 * bytes in typed arrays, plus the id string and its map entry. Measured (heap + array buffers,
 * after GC, 20-character ids): 503 bytes per entry with 1,000,000 entries (≈ 0.5 GB, 46,000
 * queries/s), 611 with 100,000 (arrays grow by doubling, so up to half of them can be slack);
 * bench/hygiene.bench.ts reproduces the 100,000 figure.
 */
import { ConfigError } from '../errors.ts'
import { normalizeForHash } from './normalize.ts'
import { mix32 } from '../util/hash.ts'

export { mix32 }

export interface MinHashOptions {
  /** Words per shingle (default 5). */
  shingleSize?: number
  /** Permutations = signature length (default 128). */
  numPerm?: number
  /** Seed of the permutation parameters and the shingle hash (default 0x5eed). */
  seed?: number
}

/** Marks a signature of a text that has no words. */
export const EMPTY = 0xffffffff
const P = 2147483647 // 2^31 − 1
const TWO31 = 2147483648

// Words: one Han / kana character, or a run of letters, digits and marks of other scripts.
const WORD = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]|(?:(?![\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}])[\p{L}\p{N}\p{M}])+/gu

/** The words of a text, as shingled: normalised, lowercased, punctuation dropped. */
export function words (text: string): string[] {
  return normalizeForHash(text).match(WORD) ?? []
}


/** 32-bit FNV-1a over UTF-16 code units. */
export function fnv1a32 (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** MurmurHash3 (x86, 32-bit) block mixing over `len` 32-bit values of `xs` from `start`. */
export function murmurWords (xs: ArrayLike<number>, start: number, len: number, seed: number): number {
  let h = seed >>> 0
  for (let i = start; i < start + len; i++) {
    let k = Math.imul(xs[i]!, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  return mix32(h ^ (len * 4))
}

/** Hashes of the word `k`-shingles of `words` (one shingle of all words when there are fewer). */
export function shingleHashes (ws: readonly string[], k: number, seed = 0): Uint32Array {
  if (ws.length === 0) return new Uint32Array(0)
  const wh = new Uint32Array(ws.length)
  for (let i = 0; i < ws.length; i++) wh[i] = fnv1a32(ws[i]!)
  const n = Math.max(1, ws.length - k + 1)
  const len = Math.min(k, ws.length)
  const out = new Uint32Array(n)
  for (let i = 0; i < n; i++) out[i] = murmurWords(wh, i, len, seed)
  return out
}

/** (a·x) mod (2^31 − 1) for 0 ≤ a, x < 2^31 − 1, exact with doubles (see the header). */
export function mulMod31 (a: number, x: number): number {
  const ah = Math.floor(a / 65536)
  const al = a - ah * 65536
  const xh = Math.floor(x / 65536)
  const xl = x - xh * 65536
  const mid = ah * xl + al * xh
  const mh = Math.floor(mid / 32768)
  const low = al * xl
  const lh = Math.floor(low / TWO31)
  return fold31(2 * ah * xh + mh + (mid - mh * 32768) * 65536 + lh + (low - lh * TWO31))
}

/** s mod (2^31 − 1) for 0 ≤ s < 2^52. */
function fold31 (s: number): number {
  while (s >= TWO31) {
    const q = Math.floor(s / TWO31)
    s = s - q * TWO31 + q
  }
  return s >= P ? s - P : s
}

/** A small seeded generator (SplitMix32) for the permutation parameters. */
function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** Computes signatures; one instance per (shingleSize, numPerm, seed), reusable and stateless. */
export class MinHasher {
  readonly shingleSize: number
  readonly numPerm: number
  readonly seed: number
  /** Names the parameters: signatures from hashers with different ids are not comparable. */
  readonly id: string
  readonly #ah: Float64Array
  readonly #al: Float64Array
  readonly #b: Float64Array

  constructor (opts: MinHashOptions = {}) {
    this.shingleSize = opts.shingleSize ?? 5
    this.numPerm = opts.numPerm ?? 128
    this.seed = (opts.seed ?? 0x5eed) >>> 0
    if (!Number.isInteger(this.shingleSize) || this.shingleSize < 1) throw new ConfigError(`MinHash shingleSize must be a positive integer, got ${opts.shingleSize}`)
    if (!Number.isInteger(this.numPerm) || this.numPerm < 1 || this.numPerm > 4096) throw new ConfigError(`MinHash numPerm must be an integer in 1..4096, got ${opts.numPerm}`)
    this.id = `minhash-v1/w${this.shingleSize}/p${this.numPerm}/s${this.seed}`
    const next = splitmix32(this.seed)
    this.#ah = new Float64Array(this.numPerm)
    this.#al = new Float64Array(this.numPerm)
    this.#b = new Float64Array(this.numPerm)
    for (let i = 0; i < this.numPerm; i++) {
      let a = 0
      while (a === 0 || a >= P) a = next() >>> 1
      let b = P
      while (b >= P) b = next() >>> 1
      this.#ah[i] = Math.floor(a / 65536)
      this.#al[i] = a % 65536
      this.#b[i] = b
    }
  }

  /** Signature of a text (normalised and split into words here). */
  signature (text: string): Uint32Array {
    return this.signatureOfWords(words(text))
  }

  signatureOfWords (ws: readonly string[]): Uint32Array {
    return this.signatureOfHashes(shingleHashes(ws, this.shingleSize, this.seed))
  }

  /** Signature of a set of 32-bit shingle hashes (duplicates are harmless). */
  signatureOfHashes (hashes: ArrayLike<number>): Uint32Array {
    const n = this.numPerm
    const sig = new Uint32Array(n).fill(EMPTY)
    const ah = this.#ah
    const al = this.#al
    const bb = this.#b
    for (let s = 0; s < hashes.length; s++) {
      const h = hashes[s]!
      let x = (h & 0x7fffffff) + (h >>> 31) // fold to [0, 2^31]: 2^31 ≡ 1 (mod p)
      if (x >= P) x -= P
      const xh = Math.floor(x / 65536)
      const xl = x - xh * 65536
      for (let i = 0; i < n; i++) {
        const aH = ah[i]!
        const aL = al[i]!
        // (a·x + b) mod p, as in mulMod31, inlined.
        const mid = aH * xl + aL * xh
        const mh = Math.floor(mid / 32768)
        const low = aL * xl
        const lh = Math.floor(low / TWO31)
        let v = 2 * aH * xh + mh + (mid - mh * 32768) * 65536 + lh + (low - lh * TWO31) + bb[i]!
        // v < 2^35: one fold (2^31 ≡ 1) leaves v < 2^31 + 16, one subtraction finishes.
        const q = Math.floor(v / TWO31)
        v = v - q * TWO31 + q
        if (v >= P) v -= P
        if (v < sig[i]!) sig[i] = v
      }
    }
    return sig
  }
}

/** Share of equal positions: an unbiased estimate of the Jaccard similarity of the shingle sets. */
export function estimateJaccard (a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new ConfigError(`MinHash signatures of different lengths (${a.length} and ${b.length}) cannot be compared`)
  if (a.length === 0 || a[0] === EMPTY || b[0] === EMPTY) return 0
  let eq = 0
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++
  return eq / a.length
}

/** Little-endian bytes of a signature (4 per value): for binary record fields. */
export function signatureToBytes (sig: Uint32Array): Buffer {
  const out = Buffer.allocUnsafe(sig.length * 4)
  for (let i = 0; i < sig.length; i++) out.writeUInt32LE(sig[i]!, i * 4)
  return out
}

export function signatureFromBytes (bytes: Uint8Array, expectedLength?: number): Uint32Array {
  if (bytes.length % 4 !== 0) throw new ConfigError(`a MinHash signature is a multiple of 4 bytes, got ${bytes.length}`)
  const n = bytes.length / 4
  if (expectedLength !== undefined && n !== expectedLength) throw new ConfigError(`MinHash signature has ${n} values, expected ${expectedLength}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const sig = new Uint32Array(n)
  for (let i = 0; i < n; i++) sig[i] = view.getUint32(i * 4, true)
  return sig
}

/** Compact text form of a signature: base64 of its little-endian bytes. */
export function serializeSignature (sig: Uint32Array): string {
  return signatureToBytes(sig).toString('base64')
}

export function deserializeSignature (s: string, expectedLength?: number): Uint32Array {
  return signatureFromBytes(Buffer.from(s, 'base64'), expectedLength)
}

/** Probability that two texts of Jaccard similarity s share at least one band. */
export function lshProbability (s: number, bands: number, rows: number): number {
  return 1 - Math.pow(1 - Math.pow(s, rows), bands)
}

/** Bands × rows for a threshold: the most rows (fewest false candidates) keeping P(threshold) ≥ minRecall. */
export function lshParams (numPerm: number, threshold: number, minRecall = 0.9): { bands: number, rows: number } {
  if (!(threshold > 0 && threshold < 1)) throw new ConfigError(`LSH threshold must be in (0, 1), got ${threshold}`)
  for (let rows = numPerm; rows >= 1; rows--) {
    const bands = Math.floor(numPerm / rows)
    if (lshProbability(threshold, bands, rows) >= minRecall) return { bands, rows }
  }
  return { bands: numPerm, rows: 1 }
}

export interface LshOptions {
  numPerm?: number
  /** Reported matches have estimated Jaccard ≥ threshold (default 0.8). */
  threshold?: number
  /** Override the computed bands / rows (bands × rows ≤ numPerm). */
  bands?: number
  rows?: number
}

export interface LshMatch { id: string, similarity: number }

/**
 * LSH index over MinHash signatures, in typed arrays (see the header for the layout and its
 * cost). Ids are unique: adding an id again replaces its signature.
 */
export class MinHashLsh {
  readonly numPerm: number
  readonly threshold: number
  readonly bands: number
  readonly rows: number
  #cap = 0
  #tableBits = 0
  #sig = new Uint16Array(0)
  #next = new Int32Array(0)
  #heads = new Int32Array(0)
  #seen = new Uint32Array(0)
  #gen = 0
  #ids: Array<string | undefined> = []
  #slotOf = new Map<string, number>()
  #free: number[] = []
  #top = 0

  constructor (opts: LshOptions = {}) {
    this.numPerm = opts.numPerm ?? 128
    this.threshold = opts.threshold ?? 0.8
    const p = opts.bands !== undefined && opts.rows !== undefined ? { bands: opts.bands, rows: opts.rows } : lshParams(this.numPerm, this.threshold)
    if (p.bands < 1 || p.rows < 1 || p.bands * p.rows > this.numPerm) throw new ConfigError(`LSH bands × rows (${p.bands} × ${p.rows}) must be at most numPerm (${this.numPerm})`)
    this.bands = p.bands
    this.rows = p.rows
    this.#grow(1024)
    this.#rehash(10)
  }

  get size (): number {
    return this.#slotOf.size
  }

  has (id: string): boolean {
    return this.#slotOf.has(id)
  }

  /** Bytes held in typed arrays (ids and the id map are extra: measure them with the heap). */
  get typedArrayBytes (): number {
    return this.#sig.byteLength + this.#next.byteLength + this.#heads.byteLength + this.#seen.byteLength
  }

  add (id: string, sig: Uint32Array): void {
    this.#check(sig)
    if (this.#slotOf.has(id)) this.remove(id)
    let slot = this.#free.pop()
    if (slot === undefined) {
      if (this.#top === this.#cap) this.#grow(this.#cap * 2)
      slot = this.#top++
    }
    const base = slot * this.numPerm
    for (let i = 0; i < this.numPerm; i++) this.#sig[base + i] = sig[i]! & 0xffff
    this.#ids[slot] = id
    this.#slotOf.set(id, slot)
    if (this.#slotOf.size > (1 << this.#tableBits)) this.#rehash(this.#tableBits + 1)
    else this.#link(slot)
  }

  remove (id: string): boolean {
    const slot = this.#slotOf.get(id)
    if (slot === undefined) return false
    const size = 1 << this.#tableBits
    for (let band = 0; band < this.bands; band++) {
      const h: number = band * size + this.#bucket(this.#sig, slot * this.numPerm, band)
      let prev = -1
      for (let s: number = this.#heads[h]!; s !== -1; prev = s, s = this.#next[s * this.bands + band]!) {
        if (s !== slot) continue
        const after = this.#next[s * this.bands + band]!
        if (prev === -1) this.#heads[h] = after
        else this.#next[prev * this.bands + band] = after
        break
      }
    }
    this.#slotOf.delete(id)
    this.#ids[slot] = undefined
    this.#free.push(slot)
    return true
  }

  /** Entries whose estimated Jaccard with `sig` is ≥ threshold, most similar first. */
  query (sig: Uint32Array, opts: { threshold?: number, exclude?: string } = {}): LshMatch[] {
    this.#check(sig)
    const threshold = opts.threshold ?? this.threshold
    const n = this.numPerm
    const q = new Uint16Array(n)
    for (let i = 0; i < n; i++) q[i] = sig[i]! & 0xffff
    if (++this.#gen === 0xffffffff) { this.#seen.fill(0); this.#gen = 1 }
    const gen = this.#gen
    const size = 1 << this.#tableBits
    const minEqual = Math.ceil(threshold * n - 1e-9)
    const out: LshMatch[] = []
    if (sig[0] === EMPTY) return out
    for (let band = 0; band < this.bands; band++) {
      for (let s: number = this.#heads[band * size + this.#bucket(q, 0, band)]!; s !== -1; s = this.#next[s * this.bands + band]!) {
        if (this.#seen[s] === gen) continue
        this.#seen[s] = gen
        const base = s * n
        let eq = 0
        for (let i = 0; i < n; i++) if (this.#sig[base + i] === q[i]) eq++
        if (eq < minEqual) continue
        const id = this.#ids[s]!
        if (id !== opts.exclude) out.push({ id, similarity: eq / n })
      }
    }
    return out.sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : 1))
  }

  #check (sig: Uint32Array): void {
    if (sig.length !== this.numPerm) throw new ConfigError(`MinHash signature has ${sig.length} values, this index expects ${this.numPerm}`)
  }

  #bucket (sig: Uint16Array, base: number, band: number): number {
    let h = 0x9747b28c ^ band
    const from = base + band * this.rows
    for (let i = 0; i < this.rows; i += 2) {
      const v = sig[from + i]! | ((i + 1 < this.rows ? sig[from + i + 1]! : 0) << 16)
      let k = Math.imul(v, 0xcc9e2d51)
      k = (k << 15) | (k >>> 17)
      h ^= Math.imul(k, 0x1b873593)
      h = (h << 13) | (h >>> 19)
      h = (Math.imul(h, 5) + 0xe6546b64) | 0
    }
    return mix32(h) >>> (32 - this.#tableBits)
  }

  #link (slot: number): void {
    const size = 1 << this.#tableBits
    const base = slot * this.numPerm
    for (let band = 0; band < this.bands; band++) {
      const h = band * size + this.#bucket(this.#sig, base, band)
      this.#next[slot * this.bands + band] = this.#heads[h]!
      this.#heads[h] = slot
    }
  }

  #grow (cap: number): void {
    const sig = new Uint16Array(cap * this.numPerm)
    sig.set(this.#sig)
    const next = new Int32Array(cap * this.bands)
    next.set(this.#next)
    const seen = new Uint32Array(cap)
    seen.set(this.#seen)
    this.#sig = sig
    this.#next = next
    this.#seen = seen
    this.#cap = cap
  }

  #rehash (bits: number): void {
    this.#tableBits = bits
    this.#heads = new Int32Array(this.bands << bits).fill(-1)
    for (const slot of this.#slotOf.values()) this.#link(slot)
  }
}
