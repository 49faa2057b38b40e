/**
 * Near-duplicate filter for documents: the same article syndicated on ten sites, a page with a
 * different cookie banner, a forum thread quoted in full. Exact deduplication (contentHash)
 * misses all of those; each would cost a full synthesis run and skew the topic mix towards
 * whatever is copied most.
 *
 * `check(id, text)` → the most similar kept document (estimated Jaccard of word 5-shingles ≥
 * threshold, default 0.8) or undefined; then `add(id, text)` keeps the document and returns its
 * signature as bytes, for storage next to the record (`addSignature` puts stored signatures
 * back after a restart, without the texts). The signature computed by `check` is reused by the
 * following `add` of the same id and text.
 *
 * Bounded: at most `maxEntries` signatures (default 200,000 ≈ 120 MB, see MinHashLsh), the
 * oldest evicted first (FIFO by first add). A document is therefore only compared with the
 * last `maxEntries` kept documents: duplicates further apart than that pass. Re-adding an id
 * replaces its signature and makes it the newest. Checking a document against itself (a
 * redelivered record with the same id) never reports a duplicate.
 */
import { ConfigError } from '../errors.ts'
import { MinHasher, MinHashLsh, signatureFromBytes, signatureToBytes, deserializeSignature, type MinHashOptions } from './minhash.ts'

export interface NearDuplicateOptions {
  /** Estimated Jaccard at or above which a document is a near duplicate (default 0.8). */
  threshold?: number
  /** Most signatures kept (default 200,000); the oldest are evicted first. */
  maxEntries?: number
  minhash?: MinHashOptions
}

export interface NearDuplicate { duplicateOf: string, similarity: number }

export class NearDuplicateFilter {
  readonly hasher: MinHasher
  readonly threshold: number
  readonly maxEntries: number
  #lsh: MinHashLsh
  #order = new Set<string>()
  #evicted = 0
  #last: { id: string, text: string, sig: Uint32Array } | undefined

  constructor (opts: NearDuplicateOptions = {}) {
    this.threshold = opts.threshold ?? 0.8
    this.maxEntries = opts.maxEntries ?? 200_000
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new ConfigError(`near-duplicate maxEntries must be a positive integer, got ${opts.maxEntries}`)
    this.hasher = new MinHasher(opts.minhash)
    this.#lsh = new MinHashLsh({ numPerm: this.hasher.numPerm, threshold: this.threshold })
  }

  get size (): number {
    return this.#lsh.size
  }

  /** Signatures dropped to stay within maxEntries. */
  get evicted (): number {
    return this.#evicted
  }

  /** The most similar kept document other than `id` itself, if at or above the threshold. */
  check (id: string, text: string): NearDuplicate | undefined {
    const sig = this.#signature(id, text)
    const best = this.#lsh.query(sig, { exclude: id })[0]
    return best ? { duplicateOf: best.id, similarity: best.similarity } : undefined
  }

  /** Keeps a document; returns its signature (little-endian bytes) for storage. */
  add (id: string, text: string): Buffer {
    const sig = this.#signature(id, text)
    this.#insert(id, sig)
    return signatureToBytes(sig)
  }

  /** Puts back a stored signature (bytes from `add`, base64 text, or the values). */
  addSignature (id: string, sig: Uint32Array | Uint8Array | string): void {
    const values = typeof sig === 'string'
      ? deserializeSignature(sig, this.hasher.numPerm)
      : sig instanceof Uint32Array ? sig : signatureFromBytes(sig, this.hasher.numPerm)
    this.#insert(id, values)
  }

  #signature (id: string, text: string): Uint32Array {
    const last = this.#last
    if (last && last.id === id && last.text === text) return last.sig
    const sig = this.hasher.signature(text)
    this.#last = { id, text, sig }
    return sig
  }

  #insert (id: string, sig: Uint32Array): void {
    this.#order.delete(id)
    this.#order.add(id)
    this.#lsh.add(id, sig)
    while (this.#order.size > this.maxEntries) {
      const oldest = this.#order.values().next().value as string
      this.#order.delete(oldest)
      this.#lsh.remove(oldest)
      this.#evicted++
    }
  }
}
