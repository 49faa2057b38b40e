/**
 * A token bucket for an endpoint's rate budgets (requests per minute, tokens per minute). Every
 * stage in the process shares it, so callers line up FIFO: a big request at the head is served
 * before smaller ones behind it, otherwise a steady flow of small requests would starve it.
 *
 * Token sizes are estimates (the prompt is known, the answer is not), so the bucket can be
 * corrected afterwards: `refund` what was over-estimated, `charge` what was under-estimated (the
 * level may go negative: a debt that later takes wait out). A take larger than the capacity
 * waits for a full bucket and then goes into debt, rather than waiting forever.
 *
 * What the endpoint reports in its response headers (OpenAI: x-ratelimit-limit-*,
 * -remaining-*, -reset-*; retry-after on a 429) goes to `update`: the server's view wins when it
 * is lower than ours, because other processes may spend the same budget.
 */
import { monotonicNow, realTimer, type Now, type SetTimer } from './clock.ts'
import { WaitQueue } from './wait-queue.ts'

export interface TokenBucketOptions {
  /** Most tokens the bucket holds: the largest burst. */
  capacity: number
  /** Tokens added per second. */
  refillPerSecond: number
  /** Tokens at the start; default: full. */
  initial?: number
  now?: Now
  setTimer?: SetTimer
}

export interface PerMinuteOptions {
  /**
   * Largest burst, in tokens; default one second's worth, ceil(limit / 60), at least 1. Clamped
   * to limit / 2. For token budgets pass the largest request you expect (see `perMinuteShape`).
   */
  burst?: number
  now?: Now
  setTimer?: SetTimer
}

/** What an endpoint said about its budget, already parsed into numbers. */
export interface RateLimitReport {
  /** The budget per minute (x-ratelimit-limit-*): changes the refill rate. */
  limit?: number
  /** What is left on the server (x-ratelimit-remaining-*). Taken when lower than ours. */
  remaining?: number
  /**
   * Time until the server's budget is full again (x-ratelimit-reset-*, e.g. "6m0s" = 360000).
   * With `remaining` and the limit it gives the server's refill rate. When `remaining` is below
   * our burst (the server's budget binds) we refill no faster than that until it has elapsed.
   */
  resetMs?: number
  /** The server said to wait (retry-after on a 429): nothing is granted before it has passed. */
  retryAfterMs?: number
}

const WINDOW_SECONDS = 60

/**
 * Capacity and refill for a per-minute budget such that no 60 s window ever sees more than
 * `limit`: a full bucket at the start of a window plus 60 s of refill is burst + (limit − burst).
 * The price is a sustained rate of limit − burst per minute (1/60 below the budget by default).
 * The guarantee holds for takes up to the burst; a larger take (debt) can overrun one window by
 * its excess over the burst, and the long-run rate still holds — hence `burst` for token budgets.
 */
export function perMinuteShape (limit: number, burst?: number): { capacity: number, refillPerSecond: number } {
  if (!Number.isFinite(limit) || limit <= 0) throw new RangeError(`a per-minute limit must be a positive number, got ${limit}`)
  if (burst !== undefined && (!Number.isFinite(burst) || burst <= 0)) throw new RangeError(`burst must be a positive number, got ${burst}`)
  const capacity = Math.min(burst ?? Math.max(1, Math.ceil(limit / WINDOW_SECONDS)), limit / 2)
  return { capacity, refillPerSecond: (limit - capacity) / WINDOW_SECONDS }
}

function checkAmount (n: number): void {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`token amount must be a finite number >= 0, got ${n}`)
}

export class TokenBucket {
  #capacity: number
  /** Tokens per millisecond. */
  #rate: number
  #level: number
  #last: number
  /** Set by `perMinute` (burst undefined = the default rule) or by the first `update({ limit })`. */
  #budget: { limit: number, burst: number | undefined } | undefined
  /** The server refills more slowly than we would until `until`. */
  #serverRate: { perMs: number, until: number } | undefined
  #holdUntil = -Infinity
  #cancelTimer: (() => void) | undefined
  readonly #now: Now
  readonly #setTimer: SetTimer
  readonly #queue: WaitQueue<number, void>

  constructor (opts: TokenBucketOptions) {
    if (!Number.isFinite(opts.capacity) || opts.capacity <= 0) throw new RangeError(`capacity must be a positive number, got ${opts.capacity}`)
    if (!Number.isFinite(opts.refillPerSecond) || opts.refillPerSecond < 0) throw new RangeError(`refillPerSecond must be a number >= 0, got ${opts.refillPerSecond}`)
    this.#capacity = opts.capacity
    this.#rate = opts.refillPerSecond / 1000
    this.#level = Math.min(opts.capacity, opts.initial ?? opts.capacity)
    this.#now = opts.now ?? monotonicNow
    this.#setTimer = opts.setTimer ?? realTimer
    this.#last = this.#now()
    this.#queue = new WaitQueue(() => this.#pump())
  }

  /** A bucket for a per-minute budget that no 60 s window exceeds (see `perMinuteShape`). */
  static perMinute (limit: number, opts: PerMinuteOptions = {}): TokenBucket {
    const b = new TokenBucket({ ...perMinuteShape(limit, opts.burst), ...(opts.now ? { now: opts.now } : {}), ...(opts.setTimer ? { setTimer: opts.setTimer } : {}) })
    b.#budget = { limit, burst: opts.burst }
    return b
  }

  get capacity (): number { return this.#capacity }
  get refillPerSecond (): number { return this.#rate * 1000 }
  /** The per-minute budget, when the bucket has one (from `perMinute` or `update`). */
  get limitPerMinute (): number | undefined { return this.#budget?.limit }

  /** Tokens in the bucket now; negative while in debt. */
  get available (): number {
    this.#refill()
    return this.#level
  }

  /** Takes waiting in line. */
  get waiting (): number { return this.#queue.size }

  /**
   * Waits in line until `n` tokens are there, then takes them. A take larger than the capacity
   * waits for a full bucket and leaves it in debt. Rejects with the signal's reason on abort.
   */
  take (n: number, signal?: AbortSignal): Promise<void> {
    checkAmount(n)
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.tryTake(n)) return Promise.resolve()
    const p = this.#queue.wait(n, signal)
    this.#pump()
    return p
  }

  /** Takes `n` tokens if nobody is waiting and they are there; never waits. */
  tryTake (n: number): boolean {
    checkAmount(n)
    this.#refill()
    if (this.#queue.size > 0 || this.#now() < this.#holdUntil || !this.#enough(n)) return false
    this.#level -= n
    return true
  }

  /** Gives back tokens taken in excess (an estimate that was too high); capped at the capacity. */
  refund (n: number): void {
    checkAmount(n)
    this.#refill()
    this.#level = Math.min(this.#capacity, this.#level + n)
    this.#pump()
  }

  /** Takes more tokens now, without waiting (an estimate that was too low); may leave a debt. */
  charge (n: number): void {
    checkAmount(n)
    this.#refill()
    this.#level -= n
    this.#pump()
  }

  /** Aligns the bucket with what the endpoint reported. */
  update (report: RateLimitReport): void {
    this.#refill()
    const t = this.#now()
    const { limit, remaining, resetMs, retryAfterMs } = report
    if (limit !== undefined && Number.isFinite(limit) && limit > 0 && limit !== this.#budget?.limit) {
      const burst = this.#budget ? this.#budget.burst : this.#capacity
      const shape = perMinuteShape(limit, burst)
      this.#capacity = shape.capacity
      this.#rate = shape.refillPerSecond / 1000
      this.#level = Math.min(this.#level, this.#capacity)
      this.#budget = { limit, burst }
    }
    if (remaining !== undefined && Number.isFinite(remaining) && remaining >= 0) {
      this.#level = Math.min(this.#level, remaining)
      // The server's pace only matters when its budget, not our burst, is what binds. That is
      // also when the deficit is large enough for a reset rounded to the second ("1s") to
      // give a fair rate.
      const serverLimit = this.#budget?.limit
      if (resetMs !== undefined && Number.isFinite(resetMs) && resetMs > 0 && serverLimit !== undefined && remaining < this.#capacity) {
        const perMs = (serverLimit - remaining) / resetMs
        if (perMs < this.#rate) this.#serverRate = { perMs, until: t + resetMs }
      }
    }
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
      this.#holdUntil = Math.max(this.#holdUntil, t + retryAfterMs)
      this.#level = Math.min(this.#level, 0)
    }
    this.#pump()
  }

  #enough (n: number): boolean {
    const need = Math.min(n, this.#capacity)
    return this.#level >= need - 1e-9 * Math.max(1, need)
  }

  #refill (): void {
    const t = this.#now()
    const from = this.#last
    if (t <= from) return
    this.#last = t
    let added = (t - from) * this.#rate
    const slow = this.#serverRate
    if (slow) {
      const slowMs = Math.max(0, Math.min(t, slow.until) - from)
      added -= slowMs * Math.max(0, this.#rate - slow.perMs)
      if (t >= slow.until) this.#serverRate = undefined
    }
    this.#level = Math.min(this.#capacity, this.#level + added)
  }

  /** Milliseconds until `deficit` tokens have been added, at the server's slower rate first. */
  #timeToGain (deficit: number, t: number): number | undefined {
    const slow = this.#serverRate
    if (slow && t < slow.until) {
      const perMs = Math.min(slow.perMs, this.#rate)
      const slowGain = (slow.until - t) * perMs
      if (perMs > 0 && deficit <= slowGain) return deficit / perMs
      if (this.#rate <= 0) return undefined
      return slow.until - t + (deficit - slowGain) / this.#rate
    }
    return this.#rate > 0 ? deficit / this.#rate : undefined
  }

  /** Serves the line while tokens last, then arms one timer for the head (or none). */
  #pump (): void {
    this.#refill()
    const t = this.#now()
    if (t >= this.#holdUntil) {
      for (let n = this.#queue.peek(); n !== undefined && this.#enough(n); n = this.#queue.peek()) {
        this.#level -= n
        this.#queue.resolveHead()
      }
    }
    this.#cancelTimer?.()
    this.#cancelTimer = undefined
    const head = this.#queue.peek()
    if (head === undefined) return
    let delay: number
    if (t < this.#holdUntil) {
      delay = this.#holdUntil - t
    } else {
      const d = this.#timeToGain(Math.min(head, this.#capacity) - this.#level, t)
      if (d === undefined) return // no refill: only a refund or an update can help now
      delay = d
    }
    this.#cancelTimer = this.#setTimer(() => {
      this.#cancelTimer = undefined
      this.#pump()
    }, Math.max(1, Math.ceil(delay)))
  }
}
