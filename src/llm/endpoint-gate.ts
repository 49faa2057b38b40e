/**
 * The gate in front of one LLM endpoint, shared by every stage of the process that calls it.
 * A request passes, in order:
 *
 * 1. the circuit breaker — while the endpoint keeps failing, callers wait here (the runtime's
 *    in-flight limit fills and consumption pauses) and the pause is logged, never silent;
 * 2. any `Retry-After` hold the endpoint asked of every caller (while it is congested);
 * 3. the requests/min and tokens/min buckets — configured, or learnt from the endpoint's
 *    `x-ratelimit-*` headers;
 * 4. the adaptive concurrency limit — finds and holds the endpoint's knee by throughput, and
 *    backs off when a good share of calls is refused (src/llm/flow/adaptive-limit.ts).
 *
 * The ticket a caller gets back reports the outcome, which feeds all four.
 *
 * The rate limits are the endpoint's, pipeline-wide: every process of a pipeline calling the
 * endpoint holds a share of them (`setShare`, from src/llm/shared/), and its buckets refill at
 * that share of the configured or reported limit.
 */
import type { Logger } from '../log.ts'
import type { EndpointSettings } from './config.ts'
import type { ClassifiedFailure } from './errors.ts'
import { AdaptiveLimit, type Permit } from './flow/adaptive-limit.ts'
import { CircuitBreaker } from './flow/circuit-breaker.ts'
import { TokenBucket } from './flow/token-bucket.ts'
import { sleep, type Now, type SetTimer } from './flow/clock.ts'

export interface GateStats {
  endpoint: string
  concurrencyLimit: number
  inFlight: number
  queued: number
  circuit: string
  pausedMs: number
  /** This process's rate limits per minute: its share of the endpoint's. */
  requestsPerMinute?: number
  tokensPerMinute?: number
  /** This process's share (0–1] of the endpoint's limits, held with the pipeline's other processes. */
  share?: number
  /** The endpoint's last failure (not a 429), in its own words, keys scrubbed; `at` in ms since the epoch. */
  lastError?: { at: number, message: string }
}

export interface Ticket {
  success (o: { latencyMs: number, outputTokens?: number, totalTokens: number, headers?: Headers }): void
  failure (f: ClassifiedFailure, headers?: Headers): void
  /** The request is not sent after all: its slot and its rate tokens go back. */
  cancel (): void
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
function tokensPerMinute (limit: number, share: number, clock: RateClock | undefined): TokenBucket {
  return TokenBucket.perMinute(limit * share, { burst: Math.min(limit, Math.max(Math.ceil(limit / 60), 16_384)), ...clock })
}

function requestsPerMinute (limit: number, share: number, clock: RateClock | undefined): TokenBucket {
  return TokenBucket.perMinute(limit * share, { ...clock })
}

/** The clock of the per-minute buckets (tests run them against a time-scaled simulator). */
export interface RateClock { now: Now, setTimer: SetTimer }

/** Calls in the health window, the fewest that say anything, and the failed share that is broad. */
const HEALTH_WINDOW = 50
const HEALTH_MIN_CALLS = 10
const HEALTH_FAILING = 0.25

export class EndpointGate {
  readonly endpoint: EndpointSettings
  readonly #logger: Logger
  readonly #breaker: CircuitBreaker
  readonly #limit: AdaptiveLimit
  #rpm: TokenBucket | undefined
  #tpm: TokenBucket | undefined
  /** The endpoint's limits per minute, for the whole pipeline: configured, or reported by the endpoint. */
  readonly #limits: { requests?: number, tokens?: number } = {}
  #share = 1
  readonly #rateClock: RateClock | undefined
  #holdUntil = 0
  /** Health of the last calls that said something about it (true = a transient failure), for retry pacing. */
  readonly #recent: boolean[] = []
  #recentFailed = 0
  #lastError: { at: number, message: string } | undefined
  readonly #now: () => number

  constructor (endpoint: EndpointSettings, logger: Logger, opts: { now?: () => number, breakerCooldownMs?: number, failureThreshold?: number, share?: number, rateClock?: RateClock } = {}) {
    this.endpoint = endpoint
    this.#logger = logger.child({ endpoint: endpoint.name })
    this.#now = opts.now ?? Date.now
    this.#rateClock = opts.rateClock
    this.#share = checkShare(opts.share ?? 1)
    if (endpoint.requestsPerMinute) this.#rpm = requestsPerMinute(this.#limits.requests = endpoint.requestsPerMinute, this.#share, this.#rateClock)
    if (endpoint.tokensPerMinute) this.#tpm = tokensPerMinute(this.#limits.tokens = endpoint.tokensPerMinute, this.#share, this.#rateClock)
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
      // Calls past the breaker that hold a slot: at hundreds in flight, a burst of fast 500s is
      // not an outage while the calls sent beside them have yet to answer.
      pending: () => this.#limit.inFlight,
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

  /**
   * This process's share of the endpoint's rate limits (1 / the pipeline's processes calling it).
   * A smaller share takes effect at once (the buckets shrink, and their level with them); a
   * larger one lets the buckets refill faster from now on.
   */
  setShare (share: number): void {
    if (checkShare(share) === this.#share) return
    this.#share = share
    if (this.#rpm && this.#limits.requests) this.#rpm.update({ limit: this.#limits.requests * share })
    if (this.#tpm && this.#limits.tokens) this.#tpm.update({ limit: this.#limits.tokens * share })
    this.#logger.info({ share, requestsPerMinute: this.#rpm?.limitPerMinute, tokensPerMinute: this.#tpm?.limitPerMinute }, `LLM endpoint ${this.endpoint.name}: this process now holds ${+(share * 100).toFixed(1)} % of its rate limits`)
  }

  get share (): number {
    return this.#share
  }

  /**
   * Waits until a request of about `estimatedTokens` may be sent, then holds a concurrency slot.
   * `measure: false`: the call holds a slot but stays out of the concurrency limit's
   * measurements — a capability probe's tiny answer, or an embedding batch, says nothing of how
   * the endpoint serves the pipeline's generation requests.
   */
  async enter (estimatedTokens: number, signal?: AbortSignal, o: { measure?: boolean } = {}): Promise<Ticket> {
    await this.#breaker.pass(signal)
    const hold = this.#holdUntil - this.#now()
    if (hold > 0) await sleep(hold, signal)
    // The slot first, the rate tokens last: tokens taken by callers still queued for a slot
    // would let their sends burst past the budget when the slots free up together.
    const permit: Permit = await this.#limit.acquire(signal, { measure: o.measure !== false })
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
        this.#health(false)
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
        // The server's own words go with the reason: "HTTP 500" alone tells a user nothing to fix.
        const said = f.detail ? `${f.reason}: ${f.detail.replace(/\s+/g, ' ').slice(0, 300)}` : f.reason
        if ((f.kind === 'transient' || f.kind === 'rejected' || f.kind === 'misconfigured') && f.status !== 429) this.#lastError = { at: this.#now(), message: said }
        if (f.kind === 'transient' && f.status !== 429) this.#breaker.failure(said)
        else if (f.kind === 'rejected') this.#breaker.success()
        else this.#breaker.ignore()
        if (f.kind === 'transient' || f.kind === 'rejected') this.#health(f.kind === 'transient')
        // A Retry-After holds the caller it was sent to (the client's retry waits it out). It holds
        // every caller only while the endpoint refuses a good share of calls: one 429 in twenty is
        // an instruction to that caller, not a reason to stop the other nineteen.
        if (f.retryAfterMs !== undefined && f.status === 429 && this.#limit.congested) this.#holdUntil = Math.max(this.#holdUntil, this.#now() + f.retryAfterMs)
        if (headers) this.#learn(headers)
      },
      cancel: () => {
        if (done) return
        done = true
        permit.release({ kind: 'ignore' })
        this.#breaker.ignore()
        this.#rpm?.refund(1)
        this.#tpm?.refund(estimatedTokens)
      },
    }
  }

  /**
   * True while the endpoint fails broadly: its circuit is not closed, it refuses calls for
   * capacity, or at least a quarter of the last calls failed. A failed call is then retried with
   * exponential backoff; otherwise its failure is isolated (one 500 among healthy answers) and
   * the retry goes after the short first delay, since waiting longer protects nothing. This is
   * gRPC's retry throttling idea (proposal A6, https://github.com/grpc/proposal/blob/master/A6-client-retries.md):
   * the channel's recent failures, not one call's count, decide how hard to hold back.
   */
  get failingBroadly (): boolean {
    if (this.#breaker.state !== 'closed' || this.#limit.congested) return true
    return this.#recent.length >= HEALTH_MIN_CALLS && this.#recentFailed >= HEALTH_FAILING * this.#recent.length
  }

  #health (failed: boolean): void {
    this.#recent.push(failed)
    if (failed) this.#recentFailed++
    if (this.#recent.length > HEALTH_WINDOW && this.#recent.shift() === true) this.#recentFailed--
  }

  /**
   * Adopts the endpoint's own view of its limits from OpenAI-style x-ratelimit-* headers. They
   * describe the key, which the pipeline's processes share: the limit and what remains of it are
   * taken at this process's share.
   */
  #learn (h: Headers): void {
    for (const [kind, bucket] of [['requests', 'rpm'], ['tokens', 'tpm']] as const) {
      const limit = headerNumber(h, `x-ratelimit-limit-${kind}`)
      const remaining = headerNumber(h, `x-ratelimit-remaining-${kind}`)
      const resetMs = parseResetDuration(h.get(`x-ratelimit-reset-${kind}`))
      if (limit === undefined && remaining === undefined) continue
      if (limit !== undefined && limit > 0) this.#limits[kind] = limit
      let b = bucket === 'rpm' ? this.#rpm : this.#tpm
      if (!b && limit !== undefined && limit > 0) {
        b = bucket === 'rpm' ? requestsPerMinute(limit, this.#share, this.#rateClock) : tokensPerMinute(limit, this.#share, this.#rateClock)
        if (bucket === 'rpm') this.#rpm = b
        else this.#tpm = b
        this.#logger.info({ [kind + 'PerMinute']: limit, share: this.#share }, `LLM endpoint ${this.endpoint.name} reports a limit of ${limit} ${kind}/min: adopted`)
      }
      const share = this.#share
      b?.update({ ...(limit !== undefined && limit > 0 ? { limit: limit * share } : {}), ...(remaining !== undefined ? { remaining: remaining * share } : {}), ...(resetMs !== undefined ? { resetMs } : {}) })
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
      share: this.#share,
      ...(this.#lastError ? { lastError: { ...this.#lastError } } : {}),
    }
  }
}

function checkShare (share: number): number {
  if (!(share > 0 && share <= 1)) throw new RangeError(`a share of an endpoint's rate limits must be in (0, 1], got ${share}`)
  return share
}
