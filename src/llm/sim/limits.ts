/**
 * Admission control of the LLM simulator. `Gate` is a self-hosted server's batch: at most
 * `limit` requests in service, the rest wait first-come first-served (a client that disconnects
 * while waiting leaves the queue, as vLLM aborts requests whose client went away). `RateBudget`
 * is a hosted API's per-minute budget of requests and tokens, refilled continuously, with the
 * numbers OpenAI reports in its `x-ratelimit-*` headers.
 */
import { formatDuration } from './http.ts'

interface Waiter { resolve: (admitted: boolean) => void, signal: AbortSignal, onAbort: () => void }

export class Gate {
  inService = 0
  maxInService = 0
  maxQueued = 0
  private readonly queue: Waiter[] = []

  constructor (private limit: number) {}

  get queued (): number {
    return this.queue.length
  }

  /** Resolves true once in service, false if `signal` aborted first. */
  acquire (signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false)
    if (this.inService < this.limit && this.queue.length === 0) {
      this.enter()
      return Promise.resolve(true)
    }
    return new Promise((resolve) => {
      const w: Waiter = {
        resolve,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(w)
          if (i >= 0) this.queue.splice(i, 1)
          resolve(false)
        },
      }
      signal.addEventListener('abort', w.onAbort, { once: true })
      this.queue.push(w)
      this.maxQueued = Math.max(this.maxQueued, this.queue.length)
    })
  }

  release (): void {
    this.inService--
    this.drain()
  }

  setLimit (limit: number): void {
    this.limit = limit
    this.drain()
  }

  resetMaxima (): void {
    this.maxInService = this.inService
    this.maxQueued = this.queue.length
  }

  private enter (): void {
    this.inService++
    this.maxInService = Math.max(this.maxInService, this.inService)
  }

  private drain (): void {
    while (this.inService < this.limit && this.queue.length > 0) {
      const w = this.queue.shift()!
      w.signal.removeEventListener('abort', w.onAbort)
      this.enter()
      w.resolve(true)
    }
  }
}

export type RateVerdict =
  | { ok: true, headers: Record<string, string> }
  | { ok: false, kind: 'requests' | 'tokens', retryAfterMs: number, message: string, headers: Record<string, string> }

/**
 * Token buckets for requests and tokens per minute. `windowMs` is one minute times the
 * simulator's time scale, so a scaled-down run also refills faster and reports the real (scaled)
 * waiting times in `Retry-After` and `x-ratelimit-reset-*`.
 */
export class RateBudget {
  private requests: number
  private tokens: number
  private last: number

  constructor (private readonly rpm: number, private readonly tpm: number, private readonly windowMs: number, private readonly now: () => number = () => performance.now()) {
    this.requests = rpm
    this.tokens = tpm
    this.last = now()
  }

  private refill (): void {
    const t = this.now()
    const dt = t - this.last
    this.last = t
    if (this.windowMs <= 0) {
      this.requests = this.rpm
      this.tokens = this.tpm
      return
    }
    this.requests = Math.min(this.rpm, this.requests + dt * this.rpm / this.windowMs)
    this.tokens = Math.min(this.tpm, this.tokens + dt * this.tpm / this.windowMs)
  }

  /** The current `x-ratelimit-*` headers, taking nothing. */
  peek (): Record<string, string> {
    this.refill()
    return this.headers()
  }

  private headers (): Record<string, string> {
    const reset = (left: number, cap: number): string => formatDuration(this.windowMs * (cap - left) / cap)
    return {
      'x-ratelimit-limit-requests': String(this.rpm),
      'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(this.requests))),
      'x-ratelimit-reset-requests': reset(this.requests, this.rpm),
      'x-ratelimit-limit-tokens': String(this.tpm),
      'x-ratelimit-remaining-tokens': String(Math.max(0, Math.floor(this.tokens))),
      'x-ratelimit-reset-tokens': reset(this.tokens, this.tpm),
    }
  }

  /** Takes one request and `tokens` tokens, or says how long to wait for them. */
  take (tokens: number): RateVerdict {
    this.refill()
    if (this.requests < 1) {
      const retryAfterMs = (1 - this.requests) * this.windowMs / this.rpm
      return { ok: false, kind: 'requests', retryAfterMs, headers: this.headers(), message: `Rate limit reached on requests per min (RPM): Limit ${this.rpm}, Used ${this.rpm}, Requested 1. Please try again in ${formatDuration(retryAfterMs)}. (synthq llm-sim)` }
    }
    const need = Math.min(tokens, this.tpm)
    if (this.tokens < need) {
      const retryAfterMs = (need - this.tokens) * this.windowMs / this.tpm
      return { ok: false, kind: 'tokens', retryAfterMs, headers: this.headers(), message: `Rate limit reached on tokens per min (TPM): Limit ${this.tpm}, Used ${this.tpm - Math.floor(this.tokens)}, Requested ${tokens}. Please try again in ${formatDuration(retryAfterMs)}. (synthq llm-sim)` }
    }
    this.requests -= 1
    this.tokens -= need
    return { ok: true, headers: this.headers() }
  }
}
