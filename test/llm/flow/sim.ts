/**
 * A simulated LLM server and a backlog of callers, in virtual time (ManualClock): the adaptive
 * limit's tests and bench/llm-flow.bench.ts drive the limiter against it.
 *
 * The server processes up to `knee` requests at full speed; past that it shares itself among all
 * of them, so each takes longer and throughput stays flat:
 *   latency = work × (1 + max(0, inFlight − knee) / knee)
 *           = work + max(0, inFlight − knee) × serviceTime,  serviceTime = work / knee
 * where inFlight counts the request itself and is taken when it starts. `work` is `baseMs`, or,
 * with `tokens`, ttftMs + outputTokens × perTokenMs (answers of varied length), times a little
 * seeded noise. `latency` replaces the model (the bench uses a curve from measured figures).
 */
import type { AdaptiveLimit } from '../../../src/llm/flow/adaptive-limit.ts'
import { latencyAt, type SimProfile } from '../../../src/llm/sim/profiles.ts'
import type { ManualClock } from './manual-clock.ts'
import { mulberry32 } from '../../../src/util/hash.ts'

/** Deterministic uniform [0, 1) (mulberry32). */
export const random = mulberry32

export interface ServerOptions {
  knee: number
  /** Unloaded latency of a call when `tokens` is not given. */
  baseMs?: number
  /** Answers of uniform random length in [min, max] tokens, costing ttftMs + n × perTokenMs unloaded. */
  tokens?: { min: number, max: number, ttftMs: number, perTokenMs: number }
  /**
   * Replaces the knee model: the unloaded-plus-queueing latency of a call answering
   * `outputTokens` tokens (0 without `tokens`) started with `inFlight` calls in the server.
   */
  latency?: (inFlight: number, outputTokens: number) => number
  /** Multiplicative noise: work × (1 ± noise), uniform. Default 0.1. */
  noise?: number
  seed?: number
}

export interface CallResult {
  latencyMs: number
  outputTokens: number | undefined
  /** Refused (429): the caller releases the permit as dropped and waits `retryAfterMs`. */
  refused?: boolean
  retryAfterMs?: number
}

/** Anything the backlog can call. */
export interface SimServer { call (): Promise<CallResult> }

export class QueueingServer implements SimServer {
  knee: number
  /** Multiplies every call's work: a server slowed by something else (another tenant). */
  slowdown = 1
  inFlight = 0
  readonly #clock: ManualClock
  readonly #opts: ServerOptions
  readonly #rand: () => number

  constructor (clock: ManualClock, opts: ServerOptions) {
    this.#clock = clock
    this.#opts = opts
    this.knee = opts.knee
    this.#rand = random(opts.seed ?? 1)
  }

  call (): Promise<CallResult> {
    const n = ++this.inFlight
    const t = this.#opts.tokens
    const outputTokens = t ? Math.round(t.min + this.#rand() * (t.max - t.min)) : undefined
    const noise = this.#opts.noise ?? 0.1
    const model = this.#opts.latency
    const loaded = model
      ? model(n, outputTokens ?? 0)
      : (t ? t.ttftMs + outputTokens! * t.perTokenMs : this.#opts.baseMs ?? 1000) * (1 + Math.max(0, n - this.knee) / this.knee)
    const latencyMs = loaded * this.slowdown * (1 + noise * (2 * this.#rand() - 1))
    return new Promise((resolve) => {
      this.#clock.setTimer(() => {
        this.inFlight--
        resolve({ latencyMs, outputTokens })
      }, latencyMs)
    })
  }
}

export interface Completion { at: number, latencyMs: number }

/**
 * `workers` callers, each looping acquire → call → release, against a server, until stopped:
 * a backlog that always wants more than the limit. Completions are recorded.
 */
export class Backlog {
  readonly completions: Completion[] = []
  #stopped = false

  /** Calls refused (429). */
  refusals = 0

  constructor (clock: ManualClock, limiter: AdaptiveLimit, server: SimServer, workers: number) {
    for (let i = 0; i < workers; i++) {
      void (async () => {
        while (!this.#stopped) {
          const permit = await limiter.acquire()
          if (this.#stopped) { permit.release({ kind: 'ignore' }); return }
          const r = await server.call()
          if (r.refused) {
            // As the LLM client does: the slot goes back at once, this caller waits out Retry-After.
            permit.release({ kind: 'dropped' })
            this.refusals++
            await new Promise<void>((resolve) => clock.setTimer(resolve, r.retryAfterMs ?? 0))
            continue
          }
          permit.release({ kind: 'success', latencyMs: r.latencyMs, ...(r.outputTokens === undefined ? {} : { outputTokens: r.outputTokens }) })
          this.completions.push({ at: clock.now(), latencyMs: r.latencyMs })
        }
      })()
    }
  }

  stop (): void { this.#stopped = true }
}

/** Samples `f()` every `everyMs` of virtual time. */
export function sampler<T> (clock: ManualClock, everyMs: number, f: () => T): Array<{ at: number, value: T }> {
  const out: Array<{ at: number, value: T }> = []
  const tick = (): void => {
    out.push({ at: clock.now(), value: f() })
    clock.setTimer(tick, everyMs)
  }
  clock.setTimer(tick, everyMs)
  return out
}

export function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
}

export interface ProfileServerOptions {
  /** Answers of uniform random length in [min, max] tokens. */
  tokens: { min: number, max: number }
  /** Uncached prompt tokens per call. */
  promptTokens: number
  /** Probability that a call is refused at once with a 429 (random faults); may change during a run. */
  refuse?: number
  retryAfterMs?: number
  seed?: number
}

/**
 * A server shaped by one of the LLM simulator's latency profiles (src/llm/sim/profiles.ts), in
 * virtual time: `maxConcurrent` requests in service, a FIFO queue beyond, and each request's time
 * taken from the profile at the number in service when it starts (time to first token, prefill,
 * then decode). A profile with rate limits answers 429 once a minute's requests are spent.
 */
export class ProfileServer implements SimServer {
  inService = 0
  refuse: number
  readonly #clock: ManualClock
  readonly #profile: SimProfile
  readonly #o: ProfileServerOptions
  readonly #rand: () => number
  readonly #waiting: Array<() => void> = []
  readonly #recent: number[] = []

  constructor (clock: ManualClock, profile: SimProfile, o: ProfileServerOptions) {
    this.#clock = clock
    this.#profile = profile
    this.#o = o
    this.refuse = o.refuse ?? 0
    this.#rand = random(o.seed ?? 1)
  }

  async call (): Promise<CallResult> {
    const retryAfterMs = this.#o.retryAfterMs ?? 1000
    if (this.refuse > 0 && this.#rand() < this.refuse) return { latencyMs: 1, outputTokens: undefined, refused: true, retryAfterMs }
    const rl = this.#profile.rateLimits
    if (rl) {
      const now = this.#clock.now()
      while (this.#recent.length > 0 && this.#recent[0]! <= now - 60_000) this.#recent.shift()
      if (this.#recent.length >= rl.requestsPerMinute) return { latencyMs: 1, outputTokens: undefined, refused: true, retryAfterMs: this.#recent[0]! + 60_000 - now }
      this.#recent.push(now)
    }
    const t0 = this.#clock.now()
    if (this.inService >= this.#profile.maxConcurrent) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    this.inService++
    const at = latencyAt(this.#profile, this.inService)
    const outputTokens = Math.round(this.#o.tokens.min + this.#rand() * (this.#o.tokens.max - this.#o.tokens.min))
    const serviceMs = at.ttftMs + this.#o.promptTokens * at.prefillMsPerToken + outputTokens * at.interTokenMs
    await new Promise<void>((resolve) => this.#clock.setTimer(resolve, serviceMs))
    this.inService--
    this.#waiting.shift()?.()
    return { latencyMs: this.#clock.now() - t0, outputTokens }
  }
}