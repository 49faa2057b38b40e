/**
 * Simulated embeddings: deterministic vectors by feature hashing, L2-normalised. Each word
 * (stop words weakly), each two-word phrase and each character trigram of a word adds a signed
 * weight to one of `dims` buckets. Texts that share words therefore have a clearly higher cosine
 * than unrelated ones, which is what deduplication, retrieval and topic clustering need to be
 * tested — without a model download.
 */
import { hash32 } from './hash.ts'
import { STOPWORDS } from './text.ts'

export const DEFAULT_EMBEDDING_DIMS = 384

const WORD = /[\p{L}\p{N}]+/gu

function add (v: Float64Array, feature: string, weight: number): void {
  const h = hash32(feature, 0x5eed)
  v[h % v.length]! += (h & 0x80000000) ? -weight : weight
}

/** The unit vector of `text` in `dims` dimensions. */
export function embed (text: string, dims = DEFAULT_EMBEDDING_DIMS): Float64Array {
  const v = new Float64Array(dims)
  // A light stemmer: plural "-s" off, so "collisions" and "collision" share a feature.
  const words = Array.from(text.toLowerCase().matchAll(WORD), (m) => m[0].length > 4 && /[^s]s$/.test(m[0]) ? m[0].slice(0, -1) : m[0])
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!
    const stop = STOPWORDS.has(w)
    add(v, `w:${w}`, stop ? 0.15 : 1)
    if (!stop && w.length > 3) {
      const padded = `<${w}>`
      for (let j = 0; j + 3 <= padded.length; j++) add(v, `c:${padded.slice(j, j + 3)}`, 0.3 / Math.sqrt(padded.length - 2))
    }
    const next = words[i + 1]
    if (next && !stop && !STOPWORDS.has(next)) add(v, `b:${w} ${next}`, 0.5)
  }
  let norm = Math.sqrt(v.reduce((acc, x) => acc + x * x, 0))
  if (norm === 0) {
    // No words at all (punctuation, emoji): a fixed direction per text, still deterministic.
    add(v, `t:${text}`, 1)
    norm = 1
  }
  for (let i = 0; i < dims; i++) v[i]! /= norm
  return v
}

/** OpenAI's `encoding_format: 'base64'`: the float32 values, little-endian, base64-encoded. */
export function toBase64 (v: Float64Array): string {
  const buf = Buffer.alloc(v.length * 4)
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4)
  return buf.toString('base64')
}

export function cosine (a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0
}
