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

export interface CallResult { latencyMs: number, outputTokens: number | undefined }

export class QueueingServer {
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

  constructor (clock: ManualClock, limiter: AdaptiveLimit, server: QueueingServer, workers: number) {
    for (let i = 0; i < workers; i++) {
      void (async () => {
        while (!this.#stopped) {
          const permit = await limiter.acquire()
          if (this.#stopped) { permit.release({ kind: 'ignore' }); return }
          const r = await server.call()
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
