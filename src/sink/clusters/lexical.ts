/**
 * Lexical vectors for topic assignment when no embedding endpoint is configured: hashed TF-IDF
 * bags of words. They see shared words only, not meaning ("car" and "automobile" are unrelated),
 * so topics are coarser than with a sentence-embedding model; the sink says so once, with
 * LEXICAL_NOTICE, so nobody mistakes the figures for embedding-based ones.
 *
 * A text's vector: for each content word w (words.ts) with count c in the text, weight
 * (1 + ln c) × idf(w) is added with a hash-chosen sign to one of `dims` buckets (signed feature
 * hashing, Weinberger et al. 2009, "Feature hashing for large scale multitask learning": the signs
 * make collisions cancel in expectation instead of adding up); then L2-normalised. Sublinear tf
 * and smoothed idf as in common TF-IDF practice: idf(w) = ln((1 + N) / (1 + df(w))) + 1.
 *
 * Document frequencies are learned from the stream itself (no vocabulary to ship) in a
 * Count-Min sketch (Cormode & Muthukrishnan 2005) with conservative update: `depth` rows of
 * `width` counters, df(w) = the smallest of w's counters, an overestimate only through hash
 * collisions. Memory and snapshot size are fixed: depth × width × 4 bytes (2 × 32,768: 256 KiB).
 * vector(text) first counts the text into the sketch (so N ≥ 1 and df(w) ≥ 1), then weighs it;
 * { learn: false } weighs it as if it had been counted, without counting it. Words in fewer than
 * `minDf` documents (default 3, this one included) are left out unless nothing else is left: a
 * word no other text has cannot make two texts similar, it only adds hashing-collision noise —
 * on the shipped corpora, leaving them out raised NMI of 3-means from 0.08 to 0.31 at 1,024
 * dimensions (with a full-corpus idf). Early vectors therefore see a young idf; the
 * vectorizer's state belongs in the sink's checkpoint (snapshot/restore) so a replay after a
 * restart produces the same vectors.
 *
 * A text without content words (only stop words, digits, punctuation) gets a fixed direction from
 * a hash of its normalised text, never the zero vector: it has to go to some topic.
 */
import { ConfigError, RecordInvalidError } from '../../errors.ts'
import { hashString } from './vectors.ts'
import { contentWords } from './words.ts'

export const LEXICAL_NOTICE = 'no embedding endpoint: lexical vectors'

export interface LexicalOptions {
  /** Vector length (default 1,024). */
  dims?: number
  /** Counters per Count-Min row (default 32,768). */
  width?: number
  /** Count-Min rows (default 2). */
  depth?: number
  /** Hash family (default 0). */
  seed?: number
  /** Words in fewer documents than this (this one included) are left out (default 3). */
  minDf?: number
}

export interface LexicalSnapshot {
  format: 'synthq.lexical-vectors/1'
  dims: number
  width: number
  depth: number
  seed: number
  minDf: number
  documents: number
  /** The Count-Min counters, uint32 little-endian, base64. */
  counters: string
}

export class LexicalVectorizer {
  readonly dims: number
  readonly width: number
  readonly depth: number
  readonly seed: number
  readonly minDf: number
  private docs = 0
  private counters: Uint32Array

  constructor (opts: LexicalOptions = {}) {
    this.dims = opts.dims ?? 1024
    this.width = opts.width ?? 32768
    this.depth = opts.depth ?? 2
    this.seed = opts.seed ?? 0
    this.minDf = opts.minDf ?? 3
    for (const [name, v] of [['dims', this.dims], ['width', this.width], ['depth', this.depth], ['minDf', this.minDf]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`lexical vectors: ${name} must be an integer ≥ 1, got ${String(v)}`)
    }
    if (!Number.isSafeInteger(this.seed) || this.seed < 0) throw new ConfigError(`lexical vectors: seed must be a non-negative integer, got ${String(this.seed)}`)
    this.counters = new Uint32Array(this.width * this.depth)
  }

  /** Documents counted so far (N). */
  get documents (): number { return this.docs }

  /** The unit vector of `text`; counts it into the document frequencies first unless learn is false. */
  vector (text: string, opts: { learn?: boolean } = {}): Float64Array {
    const tf = new Map<string, number>()
    for (const w of contentWords(text)) tf.set(w, (tf.get(w) ?? 0) + 1)
    if (opts.learn !== false && tf.size > 0) {
      this.docs++
      for (const w of tf.keys()) this.countDocument(w)
    }
    const v = new Float64Array(this.dims)
    // Not learning: weigh as if this text had been counted, so both ways give the same vector.
    const extra = opts.learn === false && tf.size > 0 ? 1 : 0
    const n = this.docs + extra
    const df = new Map<string, number>()
    for (const w of tf.keys()) df.set(w, this.df(w) + extra)
    const common = [...tf.keys()].filter((w) => df.get(w)! >= this.minDf)
    for (const w of common.length > 0 ? common : tf.keys()) {
      const c = tf.get(w)!
      const idf = Math.log((1 + n) / (1 + df.get(w)!)) + 1
      const h = hashString(w, (this.seed ^ 0x5bd1e995) >>> 0)
      v[h % this.dims]! += ((h & 0x80000000) !== 0 ? -1 : 1) * (1 + Math.log(c)) * idf
    }
    let s = 0
    for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!
    if (s === 0) {
      const h = hashString(`text:${text.trim().toLowerCase()}`, this.seed)
      v.fill(0)
      v[h % this.dims] = 1
      return v
    }
    const norm = Math.sqrt(s)
    for (let i = 0; i < v.length; i++) v[i]! /= norm
    return v
  }

  /** Estimated number of documents containing `word` (a lower-cased content word). */
  df (word: string): number {
    let min = Infinity
    for (const c of this.cells(word)) min = Math.min(min, this.counters[c]!)
    return min
  }

  snapshot (): LexicalSnapshot {
    return {
      format: 'synthq.lexical-vectors/1',
      dims: this.dims,
      width: this.width,
      depth: this.depth,
      seed: this.seed,
      minDf: this.minDf,
      documents: this.docs,
      counters: Buffer.from(this.counters.buffer, this.counters.byteOffset, this.counters.byteLength).toString('base64'),
    }
  }

  static restore (snap: LexicalSnapshot): LexicalVectorizer {
    if (snap?.format !== 'synthq.lexical-vectors/1') throw new RecordInvalidError(`not a lexical vectors snapshot (format ${String(snap?.format)})`, ['format'])
    const v = new LexicalVectorizer({ dims: snap.dims, width: snap.width, depth: snap.depth, seed: snap.seed, minDf: snap.minDf })
    const buf = Buffer.from(snap.counters, 'base64')
    if (buf.length !== v.counters.length * 4) throw new RecordInvalidError(`lexical snapshot has ${buf.length} counter bytes, expected ${v.counters.length * 4}`, ['counters'])
    for (let i = 0; i < v.counters.length; i++) v.counters[i] = buf.readUInt32LE(i * 4)
    v.docs = snap.documents
    return v
  }

  /** Counter of `word` in each row: double hashing, h1 + r·h2 (Kirsch & Mitzenmacher 2006). */
  private cells (word: string): number[] {
    const h1 = hashString(word, (this.seed ^ 0x27d4eb2f) >>> 0)
    const h2 = hashString(word, (this.seed ^ 0x165667b1) >>> 0) | 1
    const out: number[] = []
    for (let r = 0; r < this.depth; r++) out.push(r * this.width + ((h1 + r * h2) >>> 0) % this.width)
    return out
  }

  /** Conservative update: raise only the counters at the current minimum. */
  private countDocument (word: string): void {
    const cells = this.cells(word)
    let min = Infinity
    for (const c of cells) min = Math.min(min, this.counters[c]!)
    for (const c of cells) if (this.counters[c] === min) this.counters[c] = min + 1
  }
}
