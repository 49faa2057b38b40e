/**
 * Chooses the demonstrations a synthesis prompt shows, from the live demonstrations table.
 *
 * k are drawn at random (seeded: the draw of epoch e depends only on the seed, e and the ids in
 * the table), formatted, and added one by one while the block fits its token budget — the
 * method's rule. The set is kept for `resampleEvery` documents: with M = 1 every document gets
 * a fresh set, as in the method; with larger M consecutive prompts share their whole
 * instructions + demonstrations prefix, which servers with prefix caching serve from memory.
 * New demonstrations join the next draw without a restart.
 *
 * It also keeps the figures that show what the choice costs in diversity: distinct
 * demonstrations used over the last 1,000 documents.
 */
import type { TableView } from '../processor.ts'
import { formatDemonstration, type DemonstrationRecord } from './format.ts'
import { mulberry32 } from '../../util/hash.ts'

export interface TokenCounter {
  count (text: string): number
  truncate (text: string, maxTokens: number): { text: string }
}

export interface SamplerOptions {
  k: number
  resampleEvery: number
  /** Most tokens the formatted demonstrations may take together. */
  budgetTokens: number
  /** Tokens of each demonstration's document shown. */
  excerptTokens: number
  seed: number
  tokenizer: TokenCounter
}

export interface DemonstrationSet {
  ids: string[]
  /** The formatted block that goes into the prompt ('' when the table is empty). */
  block: string
  tokens: number
  /** The draw's seed (recorded in lineage). */
  seed: number
  epoch: number
}

/** 32-bit FNV-1a then a murmur-style finaliser: a well-mixed seed from a seed and an epoch. */
function mixSeed (seed: number, epoch: number): number {
  let h = 0x811c9dc5 ^ seed
  for (const v of [seed >>> 16, seed & 0xffff, epoch >>> 16, epoch & 0xffff]) {
    h = Math.imul(h ^ v, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

export class DemonstrationSampler {
  readonly #o: SamplerOptions
  #current: DemonstrationSet | undefined
  #usedInEpoch = 0
  #epoch = 0
  #window: string[][] = []
  readonly #counts = new Map<string, number>()
  #documents = 0
  #drawnFrom = Infinity

  constructor (opts: SamplerOptions) {
    this.#o = opts
  }

  /** The set for the next document. */
  next (table: TableView<DemonstrationRecord>): DemonstrationSet {
    const stale = this.#current !== undefined && this.#current.ids.some((id) => table.get(id) === undefined)
    // A draw from a pool smaller than k is redone as soon as the pool grows (attribution still
    // filling it); a draw the token budget cut short is not.
    const grew = this.#drawnFrom < this.#o.k && table.size > this.#drawnFrom
    if (!this.#current || this.#usedInEpoch >= this.#o.resampleEvery || stale || grew) {
      this.#current = this.#draw(table)
      this.#usedInEpoch = 0
    }
    this.#usedInEpoch++
    this.#record(this.#current.ids)
    return this.#current
  }

  #draw (table: TableView<DemonstrationRecord>): DemonstrationSet {
    const epoch = this.#epoch++
    const seed = mixSeed(this.#o.seed, epoch)
    const ids = [...table.keys()].sort()
    this.#drawnFrom = ids.length
    const rand = mulberry32(seed)
    const want = Math.min(this.#o.k, ids.length)
    // Partial Fisher–Yates: the first `want` positions become a uniform sample without replacement.
    for (let i = 0; i < want; i++) {
      const j = i + Math.floor(rand() * (ids.length - i))
      const t = ids[i]!
      ids[i] = ids[j]!
      ids[j] = t
    }
    const chosen: string[] = []
    const parts: string[] = []
    let tokens = 0
    for (const id of ids.slice(0, want)) {
      const d = table.get(id)
      if (!d) continue
      const excerpt = this.#o.tokenizer.truncate(d.document_text, this.#o.excerptTokens).text
      const text = formatDemonstration(d, excerpt, chosen.length)
      const t = this.#o.tokenizer.count(text) + 2
      if (tokens + t > this.#o.budgetTokens) break
      tokens += t
      chosen.push(id)
      parts.push(text)
    }
    return { ids: chosen, block: parts.join('\n\n'), tokens, seed, epoch }
  }

  #record (ids: string[]): void {
    this.#documents++
    this.#window.push(ids)
    for (const id of ids) this.#counts.set(id, (this.#counts.get(id) ?? 0) + 1)
    if (this.#window.length > 1000) {
      for (const id of this.#window.shift()!) {
        const n = (this.#counts.get(id) ?? 1) - 1
        if (n === 0) this.#counts.delete(id)
        else this.#counts.set(id, n)
      }
    }
  }

  /** Distinct demonstrations shown over the last (up to) 1,000 documents, and draws so far. */
  stats (): { documents: number, draws: number, distinctPer1000: number, windowDocuments: number } {
    return { documents: this.#documents, draws: this.#epoch, distinctPer1000: this.#counts.size, windowDocuments: this.#window.length }
  }
}
