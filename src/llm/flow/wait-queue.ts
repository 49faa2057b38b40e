/**
 * A FIFO of callers waiting for something (tokens, a permit, a probe slot). The owner decides when
 * the oldest waiter is served; an AbortSignal takes a waiter out of the line, rejects its promise
 * with the signal's reason and tells the owner (the line may now be able to move: a big request
 * at the head that gave up no longer blocks the small ones behind it).
 */
interface Entry<T, R> {
  data: T
  resolve: (value: R) => void
  reject: (reason: unknown) => void
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  done: boolean
}

export class WaitQueue<T, R> {
  #items: Array<Entry<T, R>> = []
  #head = 0
  #size = 0
  readonly #onCancel: () => void

  constructor (onCancel: () => void) {
    this.#onCancel = onCancel
  }

  get size (): number { return this.#size }

  /** The oldest waiter's data, or undefined when nobody waits. */
  peek (): T | undefined {
    this.#skipDone()
    return this.#items[this.#head]?.data
  }

  wait (data: T, signal?: AbortSignal): Promise<R> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<R>((resolve, reject) => {
      const e: Entry<T, R> = { data, resolve, reject, signal, onAbort: undefined, done: false }
      if (signal) {
        e.onAbort = () => {
          if (e.done) return
          e.done = true
          this.#size--
          reject(signal.reason)
          this.#onCancel()
        }
        signal.addEventListener('abort', e.onAbort, { once: true })
      }
      this.#items.push(e)
      this.#size++
    })
  }

  /** Serves the oldest waiter; returns false when nobody waits. */
  resolveHead (value: R): boolean {
    this.#skipDone()
    const e = this.#items[this.#head]
    if (!e) return false
    this.#head++
    e.done = true
    this.#size--
    if (e.signal && e.onAbort) e.signal.removeEventListener('abort', e.onAbort)
    e.resolve(value)
    this.#compact()
    return true
  }

  #skipDone (): void {
    while (this.#head < this.#items.length && this.#items[this.#head]!.done) this.#head++
    this.#compact()
  }

  #compact (): void {
    if (this.#head === this.#items.length) {
      this.#items = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
  }
}
