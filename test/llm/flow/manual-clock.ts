/**
 * Virtual time for the flow-control tests and bench: `now` and `setTimer` for the primitives, and
 * `advance`, which fires due timers in time order and lets promise continuations run after each
 * one (as Node does between timer callbacks), so simulated minutes take milliseconds and every
 * run is the same.
 */
import type { SetTimer } from '../../../src/llm/flow/clock.ts'

interface Timer { at: number, seq: number, fn: () => void, cancelled: boolean }

/** Runs every pending promise continuation (they may chain: a macrotask turn drains them all). */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class ManualClock {
  #t: number
  #seq = 0
  #heap: Timer[] = []
  #live = 0

  constructor (start = 0) {
    this.#t = start
  }

  readonly now = (): number => this.#t

  readonly setTimer: SetTimer = (fn, ms) => {
    const timer: Timer = { at: this.#t + Math.max(0, ms), seq: ++this.#seq, fn, cancelled: false }
    this.#push(timer)
    this.#live++
    return () => {
      if (timer.cancelled) return
      timer.cancelled = true
      this.#live--
    }
  }

  /** Timers armed and not yet fired nor cancelled. */
  get pending (): number { return this.#live }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance (ms: number): Promise<void> {
    await this.advanceTo(this.#t + ms)
  }

  async advanceTo (end: number): Promise<void> {
    await flush()
    for (;;) {
      const top = this.#heap[0]
      if (!top || top.at > end) break
      this.#pop()
      if (top.cancelled) continue
      top.cancelled = true
      this.#live--
      this.#t = Math.max(this.#t, top.at)
      top.fn()
      await flush()
    }
    this.#t = Math.max(this.#t, end)
    await flush()
  }

  #less (a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  #swap (i: number, j: number): void {
    const h = this.#heap
    const x = h[i]!
    h[i] = h[j]!
    h[j] = x
  }

  #push (x: Timer): void {
    const h = this.#heap
    h.push(x)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i]!, h[p]!)) break
      this.#swap(i, p)
      i = p
    }
  }

  #pop (): void {
    const h = this.#heap
    const last = h.pop()!
    if (h.length === 0) return
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r
      if (m === i) break
      this.#swap(i, m)
      i = m
    }
  }
}
