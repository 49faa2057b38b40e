/**
 * The gate in front of one LLM endpoint, shared by every stage of the process that calls it.
 * A request passes, in order:
 *
 * 1. the circuit breaker — while the endpoint keeps failing, callers wait here (the runtime's
 *    in-flight limit fills and consumption pauses) and the pause is logged, never silent;
 * 2. any `Retry-After` hold the endpoint asked for;
 * 3. the requests/min and tokens/min buckets — configured, or learnt from the endpoint's
 *    `x-ratelimit-*` headers;
 * 4. the adaptive concurrency limit — backs off on 429s and timeouts (AIMD) and on rising
 *    latency (a queueing self-hosted server refuses nothing, it just gets slower).
 *
 * The ticket a caller gets back reports the outcome, which feeds all four.
 */
import type { Logger } from '../log.ts'
import type { EndpointSettings } from './config.ts'
import type { ClassifiedFailure } from './errors.ts'
import { AdaptiveLimit, type Permit } from './flow/adaptive-limit.ts'
import { CircuitBreaker } from './flow/circuit-breaker.ts'
import { TokenBucket } from './flow/token-bucket.ts'
import { sleep } from './flow/clock.ts'

export interface GateStats {
  endpoint: string
  concurrencyLimit: number
  inFlight: number
  queued: number
  circuit: string
  pausedMs: number
  requestsPerMinute?: number
  tokensPerMinute?: number
}

export interface Ticket {
  success (o: { latencyMs: number, outputTokens?: number, totalTokens: number, headers?: Headers }): void
  failure (f: ClassifiedFailure, headers?: Headers): void
}

/** "1s", "6m0s", "120ms", "1h2m3.5s" (OpenAI's x-ratelimit-reset-* format) → ms. */
export function parseResetDuration (v: string | null): number | undefined {
  if (v === null || v.trim() === '') return undefined
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000
  let total = 0
  let matched = false
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    matched = true
    const n = Number(m[1])
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000
  }
  return matched ? total : undefined
}

function headerNumber (h: Headers, name: string): number | undefined {
  const v = h.get(name)
  if (v === null || v.trim() === '') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/**
 * A tokens/min bucket whose burst fits a whole long request (the default burst, a second's
 * worth, is smaller than one 7,500-token prompt at 200k TPM and would make every such request
 * go into debt).
 */
function tokensPerMinute (limit: number): TokenBucket {
  return TokenBucket.perMinute(limit, { burst: Math.min(limit, Math.max(Math.ceil(limit / 60), 16_384)) })
}

export class EndpointGate {
  readonly endpoint: EndpointSettings
  readonly #logger: Logger
  readonly #breaker: CircuitBreaker
  readonly #limit: AdaptiveLimit
  #rpm: TokenBucket | undefined
  #tpm: TokenBucket | undefined
  #holdUntil = 0
  readonly #now: () => number

  constructor (endpoint: EndpointSettings, logger: Logger, opts: { now?: () => number, breakerCooldownMs?: number, failureThreshold?: number } = {}) {
    this.endpoint = endpoint
    this.#logger = logger.child({ endpoint: endpoint.name })
    this.#now = opts.now ?? Date.now
    if (endpoint.requestsPerMinute) this.#rpm = TokenBucket.perMinute(endpoint.requestsPerMinute)
    if (endpoint.tokensPerMinute) this.#tpm = tokensPerMinute(endpoint.tokensPerMinute)
    const fixed = !endpoint.adaptiveConcurrency
    this.#limit = new AdaptiveLimit({
      initial: fixed ? endpoint.maxConcurrency : endpoint.initialConcurrency,
      min: fixed ? endpoint.maxConcurrency : 1,
      max: endpoint.maxConcurrency,
      onChange: (limit, reason) => this.#logger.debug({ limit, reason }, 'LLM concurrency limit changed'),
    })
    this.#breaker = new CircuitBreaker({
      ...(opts.failureThreshold !== undefined ? { failureThreshold: opts.failureThreshold } : {}),
      ...(opts.breakerCooldownMs !== undefined ? { cooldownMs: opts.breakerCooldownMs } : {}),
      onStateChange: (to, info) => {
        if (to === 'open') {
          this.#logger.error({ failures: info.failures, lastReason: info.lastReason, waiting: info.waiting, nextProbeInMs: info.cooldownMs },
            `LLM endpoint ${endpoint.name} (${endpoint.baseUrl}) keeps failing (${info.failures} in a row, last: ${info.lastReason}): circuit open, consumption paused, next probe in ${Math.round(info.cooldownMs / 1000)} s`)
        } else if (to === 'closed') {
          this.#logger.warn({ pausedMs: this.#breaker.pausedMs }, `LLM endpoint ${endpoint.name} answers again: circuit closed, consumption resumed`)
        } else {
          this.#logger.info(`LLM endpoint ${endpoint.name}: probing with one request`)
        }
      },
    })
  }

  /** Waits until a request of about `estimatedTokens` may be sent, then holds a concurrency slot. */
  async enter (estimatedTokens: number, signal?: AbortSignal): Promise<Ticket> {
    await this.#breaker.pass(signal)
    const hold = this.#holdUntil - this.#now()
    if (hold > 0) await sleep(hold, signal)
    // The slot first, the rate tokens last: tokens taken by callers still queued for a slot
    // would let their sends burst past the budget when the slots free up together.
    const permit: Permit = await this.#limit.acquire(signal)
    try {
      // A Retry-After that arrived while this caller queued for a slot holds it too.
      for (let h = this.#holdUntil - this.#now(); h > 0; h = this.#holdUntil - this.#now()) await sleep(h, signal)
      await this.#rpm?.take(1, signal)
      await this.#tpm?.take(estimatedTokens, signal)
    } catch (err) {
      permit.release({ kind: 'ignore' })
      this.#breaker.ignore()
      throw err
    }
    let done = false
    return {
      success: (o) => {
        if (done) return
        done = true
        permit.release({ kind: 'success', latencyMs: o.latencyMs, ...(o.outputTokens !== undefined ? { outputTokens: o.outputTokens } : {}) })
        this.#breaker.success()
        const diff = o.totalTokens - estimatedTokens
        if (this.#tpm && diff > 0) this.#tpm.charge(diff)
        else if (this.#tpm && diff < 0) this.#tpm.refund(-diff)
        if (o.headers) this.#learn(o.headers)
      },
      failure: (f, headers) => {
        if (done) return
        done = true
        permit.release(f.overload ? { kind: 'dropped' } : { kind: 'ignore' })
        // Only failures that say the endpoint is down open the circuit. A 429 is the endpoint
        // working as designed, a refused request shows it is up, an abort says nothing.
        if (f.kind === 'transient' && f.status !== 429) this.#breaker.failure(f.reason)
        else if (f.kind === 'rejected') this.#breaker.success()
        else this.#breaker.ignore()
        if (f.retryAfterMs !== undefined && f.status === 429) this.#holdUntil = Math.max(this.#holdUntil, this.#now() + f.retryAfterMs)
        if (headers) this.#learn(headers)
      },
    }
  }

  /** Adopts the endpoint's own view of its limits from OpenAI-style x-ratelimit-* headers. */
  #learn (h: Headers): void {
    for (const [kind, bucket] of [['requests', 'rpm'], ['tokens', 'tpm']] as const) {
      const limit = headerNumber(h, `x-ratelimit-limit-${kind}`)
      const remaining = headerNumber(h, `x-ratelimit-remaining-${kind}`)
      const resetMs = parseResetDuration(h.get(`x-ratelimit-reset-${kind}`))
      if (limit === undefined && remaining === undefined) continue
      let b = bucket === 'rpm' ? this.#rpm : this.#tpm
      if (!b && limit !== undefined && limit > 0) {
        b = bucket === 'rpm' ? TokenBucket.perMinute(limit) : tokensPerMinute(limit)
        if (bucket === 'rpm') this.#rpm = b
        else this.#tpm = b
        this.#logger.info({ [kind + 'PerMinute']: limit }, `LLM endpoint ${this.endpoint.name} reports a limit of ${limit} ${kind}/min: adopted`)
      }
      b?.update({ ...(limit !== undefined ? { limit } : {}), ...(remaining !== undefined ? { remaining } : {}), ...(resetMs !== undefined ? { resetMs } : {}) })
    }
  }

  stats (): GateStats {
    return {
      endpoint: this.endpoint.name,
      concurrencyLimit: this.#limit.limit,
      inFlight: this.#limit.inFlight,
      queued: this.#limit.queued,
      circuit: this.#breaker.state,
      pausedMs: this.#breaker.pausedMs,
      ...(this.#rpm ? { requestsPerMinute: this.#rpm.limitPerMinute } : {}),
      ...(this.#tpm ? { tokensPerMinute: this.#tpm.limitPerMinute } : {}),
    }
  }
}
