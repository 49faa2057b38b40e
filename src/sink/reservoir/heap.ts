/**
 * A binary min-heap of ranked entries: the root is the entry a topic evicts first (its lowest
 * key). A topic keeps at most its quota, so each heap is bounded by the caller; admission is one
 * comparison with the root and, when admitted, one replace-the-root (O(log quota)).
 *
 * The backing array is exposed read-only: snapshots store it in heap order, so restoring it is
 * a copy and heapify() finds nothing to move — the restored heap is the same array.
 */
import { below, type Ranked } from './keys.ts'

export class MinHeap<E extends Ranked> {
  private readonly a: E[]

  constructor (entries: E[] = []) {
    this.a = entries
    this.heapify()
  }

  get size (): number { return this.a.length }

  /** The entries in heap order (root first). Do not mutate. */
  get entries (): readonly E[] { return this.a }

  peek (): E | undefined { return this.a[0] }

  push (e: E): void {
    const a = this.a
    a.push(e)
    this.up(a.length - 1)
  }

  pop (): E | undefined {
    const a = this.a
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      this.down(0)
    }
    return top
  }

  /** Replaces the root with `e` and returns the old root. The heap must not be empty. */
  replaceTop (e: E): E {
    const a = this.a
    const top = a[0]!
    a[0] = e
    this.down(0)
    return top
  }

  /** Floyd's bottom-up heap construction, O(n); leaves a valid heap untouched. */
  heapify (): void {
    for (let i = (this.a.length >> 1) - 1; i >= 0; i--) this.down(i)
  }

  private up (i: number): void {
    const a = this.a
    const e = a[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const pe = a[p]!
      if (!below(e, pe)) break
      a[i] = pe
      i = p
    }
    a[i] = e
  }

  private down (i: number): void {
    const a = this.a
    const n = a.length
    const e = a[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      let ce = a[l]!
      if (r < n) {
        const re = a[r]!
        if (below(re, ce)) { c = r; ce = re }
      }
      if (!below(ce, e)) break
      a[i] = ce
      i = c
    }
    a[i] = e
  }
}
