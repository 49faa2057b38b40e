/**
 * A circuit breaker for one LLM endpoint. When the endpoint keeps failing (5xx, connection
 * refused), sending more requests only burns retries and fills dead-letter topics, so the breaker
 * opens and `pass()` holds every caller — it waits, it does not throw: the runtime's in-flight
 * limit fills up and the stage stops pulling records, which is how consumption pauses. After a
 * cooldown exactly one caller goes through as a probe (half-open); its success closes the circuit
 * and lets everyone through, its failure re-opens it for twice as long (up to `maxCooldownMs`).
 *
 * With many calls in flight, failures that answer fast (an instant 500) arrive before the slow
 * successes of calls sent at the same time: five in a row then say nothing about the endpoint.
 * Given `pending` (the calls still awaiting an answer), a run of failures opens the circuit only
 * once it is also at least as long as the number of calls still pending — those would have
 * failed too if the endpoint were down. An outage still opens it: the calls in flight fail with
 * it, so the run soon outgrows them.
 *
 * Results arrive without saying which `pass()` they belong to. While open, results are ignored:
 * they come from calls that passed before it opened. While half-open the first verdict decides
 * (usually the probe's; any call's answer says the same about the endpoint). A call that ends
 * without a verdict on the endpoint's health (a 429, an abort, a 400) should report `ignore()`,
 * otherwise a probe that never reports holds the line until `probeTimeoutMs`.
 */
import { monotonicNow, realTimer, type Now, type SetTimer } from './clock.ts'
import { WaitQueue } from './wait-queue.ts'

export type CircuitState = 'closed' | 'open' | 'half-open'

export interface CircuitInfo {
  /** Consecutive failures so far (0 once closed). */
  failures: number
  /** The last failure's reason ('' if none yet). */
  lastReason: string
  /** When opening: the wait before the next probe. Otherwise: the cooldown of the next opening. */
  cooldownMs: number
  /** Callers held. */
  waiting: number
}

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit; default 5. */
  failureThreshold?: number
  /**
   * The calls that passed and still await their answer, not counting the one reporting. When
   * given, a run of failures must also be at least this long to open the circuit.
   */
  pending?: () => number
  /**
   * Also open when, among the last `size` calls (at least `minCalls` of them), the share of
   * failures reaches `failureRatio`. Off by default.
   */
  window?: { size: number, minCalls: number, failureRatio: number }
  /** First wait before a probe; default 5 s. Doubles on each failed probe. */
  cooldownMs?: number
  maxCooldownMs?: number
  /** A probe that reports nothing for this long lets the next caller probe; default 10 min. */
  probeTimeoutMs?: number
  now?: Now
  setTimer?: SetTimer
  /** Called on every transition. Must not throw. */
  onStateChange?: (to: CircuitState, info: CircuitInfo) => void
}

function positive (name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number, got ${v}`)
  return v
}

export class CircuitBreaker {
  readonly #threshold: number
  readonly #pending: (() => number) | undefined
  readonly #window: { size: number, minCalls: number, failureRatio: number } | undefined
  readonly #baseCooldown: number
  readonly #maxCooldown: number
  readonly #probeTimeout: number
  readonly #now: Now
  readonly #setTimer: SetTimer
  readonly #onStateChange: ((to: CircuitState, info: CircuitInfo) => void) | undefined
  readonly #queue: WaitQueue<undefined, void>

  #state: CircuitState = 'closed'
  #failures = 0
  #lastReason = ''
  #cooldown: number
  #openUntil = 0
  #probeSince: number | undefined
  /** Outcomes of the last calls (true = failure), for the ratio rule. */
  #recent: boolean[] = []
  #pausedSince: number | undefined
  #pausedTotal = 0
  #cancelTimer: (() => void) | undefined

  constructor (opts: CircuitBreakerOptions = {}) {
    this.#threshold = opts.failureThreshold ?? 5
    this.#pending = opts.pending
    if (!Number.isInteger(this.#threshold) || this.#threshold < 1) throw new RangeError(`failureThreshold must be a positive integer, got ${this.#threshold}`)
    if (opts.window) {
      const { size, minCalls, failureRatio } = opts.window
      if (!Number.isInteger(size) || size < 1 || !Number.isInteger(minCalls) || minCalls < 1 || minCalls > size || !(failureRatio > 0 && failureRatio <= 1)) {
        throw new RangeError(`window needs integers 1 <= minCalls <= size and 0 < failureRatio <= 1, got ${JSON.stringify(opts.window)}`)
      }
      this.#window = opts.window
    }
    this.#baseCooldown = positive('cooldownMs', opts.cooldownMs ?? 5_000)
    this.#maxCooldown = Math.max(this.#baseCooldown, positive('maxCooldownMs', opts.maxCooldownMs ?? 60_000))
    this.#probeTimeout = positive('probeTimeoutMs', opts.probeTimeoutMs ?? 600_000)
    this.#cooldown = this.#baseCooldown
    this.#now = opts.now ?? monotonicNow
    this.#setTimer = opts.setTimer ?? realTimer
    this.#onStateChange = opts.onStateChange
    this.#queue = new WaitQueue(() => this.#arm())
  }

  get state (): CircuitState { return this.#state }
  get waiting (): number { return this.#queue.size }
  get failures (): number { return this.#failures }

  /** Total time spent not closed (consumption paused), including the current spell. */
  get pausedMs (): number {
    return this.#pausedTotal + (this.#pausedSince === undefined ? 0 : this.#now() - this.#pausedSince)
  }

  /**
   * Resolves at once while closed. Otherwise waits, FIFO, until the circuit closes or this caller
   * is let through as the probe. Rejects with the signal's reason on abort.
   */
  pass (signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#state === 'closed') return Promise.resolve()
    if (this.#queue.size === 0 && this.#probeDue()) {
      this.#startProbe()
      return Promise.resolve()
    }
    const p = this.#queue.wait(undefined, signal)
    this.#arm()
    return p
  }

  success (): void {
    if (this.#state === 'open') return
    if (this.#state === 'half-open') {
      this.#close()
      return
    }
    this.#failures = 0
    this.#record(false)
  }

  failure (reason: string): void {
    if (this.#state === 'open') return
    this.#lastReason = reason
    this.#failures++
    if (this.#state === 'half-open') {
      this.#open(Math.min(this.#maxCooldown, this.#cooldown * 2))
      return
    }
    this.#record(true)
    if ((this.#failures >= this.#threshold && this.#failures >= (this.#pending?.() ?? 0)) || this.#ratioTripped()) this.#open(this.#baseCooldown)
  }

  /** A call that passed ended with no verdict on the endpoint's health; a probe's slot frees up. */
  ignore (): void {
    if (this.#state !== 'half-open' || this.#probeSince === undefined) return
    this.#probeSince = undefined
    this.#advance()
  }

  #info (): CircuitInfo {
    return { failures: this.#failures, lastReason: this.#lastReason, cooldownMs: this.#cooldown, waiting: this.#queue.size }
  }

  #transition (to: CircuitState): void {
    this.#state = to
    this.#onStateChange?.(to, this.#info())
  }

  #record (failed: boolean): void {
    if (!this.#window) return
    this.#recent.push(failed)
    if (this.#recent.length > this.#window.size) this.#recent.shift()
  }

  #ratioTripped (): boolean {
    const w = this.#window
    if (!w || this.#recent.length < w.minCalls) return false
    let failed = 0
    for (const f of this.#recent) if (f) failed++
    return failed / this.#recent.length >= w.failureRatio
  }

  #open (cooldown: number): void {
    this.#cooldown = cooldown
    this.#openUntil = this.#now() + cooldown
    this.#probeSince = undefined
    this.#pausedSince ??= this.#now()
    this.#transition('open')
    this.#arm()
  }

  #close (): void {
    this.#failures = 0
    this.#cooldown = this.#baseCooldown
    this.#probeSince = undefined
    this.#recent = []
    if (this.#pausedSince !== undefined) this.#pausedTotal += this.#now() - this.#pausedSince
    this.#pausedSince = undefined
    this.#cancelTimer?.()
    this.#cancelTimer = undefined
    this.#transition('closed')
    while (this.#queue.resolveHead(undefined));
  }

  /** True when the next caller may go through as the probe. */
  #probeDue (): boolean {
    const t = this.#now()
    if (this.#state === 'open') return t >= this.#openUntil
    if (this.#state === 'half-open') return this.#probeSince === undefined || t - this.#probeSince >= this.#probeTimeout
    return false
  }

  #startProbe (): void {
    this.#probeSince = this.#now()
    if (this.#state === 'open') this.#transition('half-open')
  }

  /** Lets the head of the line probe if it is time, then arms the timer for the next moment. */
  #advance (): void {
    if (this.#queue.size > 0 && this.#probeDue()) {
      this.#queue.resolveHead(undefined)
      this.#startProbe()
    }
    this.#arm()
  }

  /** One timer, only while someone waits: for the end of the cooldown or of the probe's time. */
  #arm (): void {
    this.#cancelTimer?.()
    this.#cancelTimer = undefined
    if (this.#queue.size === 0 || this.#state === 'closed') return
    const t = this.#now()
    let at: number
    if (this.#state === 'open') at = this.#openUntil
    else if (this.#probeSince !== undefined) at = this.#probeSince + this.#probeTimeout
    else at = t
    if (at <= t) {
      this.#advance()
      return
    }
    this.#cancelTimer = this.#setTimer(() => {
      this.#cancelTimer = undefined
      this.#advance()
    }, at - t)
  }
}
