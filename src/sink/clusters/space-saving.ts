/**
 * Space-Saving (Metwally, Agrawal & El Abbadi 2005, "Efficient computation of frequent and top-k
 * elements in data streams"): approximate counts of the most frequent words of an unbounded
 * stream in a fixed number of counters. With m counters over a stream of N words, every word
 * with true count > N/m is tracked, and each tracked word's count overestimates its true count
 * by at most its recorded `error` (≤ N/m); count − error is a guaranteed lower bound.
 *
 * An untracked word takes the counter of the current minimum (count min + 1, error min). The
 * minimum is found with a binary min-heap over counts plus a word → slot map, so every update is
 * O(log m) (the paper's stream-summary list gives O(1); a heap is simpler and fast enough here).
 * Ties at the minimum are broken by heap position: deterministic for a given input order.
 */
export type SpaceSavingEntry = [word: string, count: number, error: number]

export class SpaceSaving {
  readonly capacity: number
  private readonly words: string[] = []
  private readonly counts: number[] = []
  private readonly errors: number[] = []
  private readonly slot = new Map<string, number>()

  constructor (capacity: number, entries: readonly SpaceSavingEntry[] = []) {
    this.capacity = capacity
    for (const [w, c, e] of entries) {
      this.slot.set(w, this.words.length)
      this.words.push(w)
      this.counts.push(c)
      this.errors.push(e)
    }
    for (let i = (this.words.length >> 1) - 1; i >= 0; i--) this.down(i)
  }

  get size (): number { return this.words.length }

  add (word: string, inc = 1): void {
    const i = this.slot.get(word)
    if (i !== undefined) {
      this.counts[i]! += inc
      this.down(i)
      return
    }
    if (this.words.length < this.capacity) {
      const j = this.words.length
      this.words.push(word)
      this.counts.push(inc)
      this.errors.push(0)
      this.slot.set(word, j)
      this.up(j)
      return
    }
    const min = this.counts[0]!
    this.slot.delete(this.words[0]!)
    this.words[0] = word
    this.errors[0] = min
    this.counts[0] = min + inc
    this.slot.set(word, 0)
    this.down(0)
  }

  /** Estimated count (an overestimate by ≤ error), 0 if untracked. */
  count (word: string): number {
    const i = this.slot.get(word)
    return i === undefined ? 0 : this.counts[i]!
  }

  /** Guaranteed count: count − error (0 if untracked). */
  guaranteed (word: string): number {
    const i = this.slot.get(word)
    return i === undefined ? 0 : this.counts[i]! - this.errors[i]!
  }

  /** All tracked entries, in heap order (snapshot form). */
  entries (): SpaceSavingEntry[] {
    return this.words.map((w, i) => [w, this.counts[i]!, this.errors[i]!])
  }

  private less (a: number, b: number): boolean {
    return this.counts[a]! < this.counts[b]!
  }

  private swap (a: number, b: number): void {
    const w = this.words[a]!
    const c = this.counts[a]!
    const e = this.errors[a]!
    this.words[a] = this.words[b]!
    this.counts[a] = this.counts[b]!
    this.errors[a] = this.errors[b]!
    this.words[b] = w
    this.counts[b] = c
    this.errors[b] = e
    this.slot.set(this.words[a]!, a)
    this.slot.set(this.words[b]!, b)
  }

  private up (i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(i, p)) return
      this.swap(i, p)
      i = p
    }
  }

  private down (i: number): void {
    const n = this.words.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) return
      const r = l + 1
      const c = r < n && this.less(r, l) ? r : l
      if (!this.less(c, i)) return
      this.swap(i, c)
      i = c
    }
  }
}
