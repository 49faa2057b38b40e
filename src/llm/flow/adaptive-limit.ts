/**
 * How many calls to one LLM endpoint may be in flight, learnt from the endpoint's answers. A fixed
 * number is wrong both ways: too low leaves a GPU server idle (an 8B model on one H100 wants
 * ~200 concurrent requests), too high only queues requests inside the server, which adds latency
 * and memory without adding throughput, and makes hosted APIs answer 429.
 *
 * Two signals, combined:
 *
 * - Drops (429, timeouts): AIMD. The limit is multiplied by `backoffRatio` at most once per round
 *   trip: a drop from a call that started before the last backoff was already answered by it
 *   (TCP NewReno reasons the same way), so a burst of 429s does not collapse the limit to 1.
 *
 * - Latency: a gradient in the spirit of Netflix concurrency-limits' Gradient2
 *   (https://github.com/Netflix/concurrency-limits): per window,
 *   gradient = clamp(tolerance × baseline / recent, 0.5, 1) and
 *   limit ← limit + smoothing × (limit × gradient + sqrt(limit) − limit). A saturated server
 *   queues requests, latency rises without any error, and the limit settles where latency is
 *   about `tolerance` times the unloaded latency: past the knee, where throughput is flat.
 *
 * The baseline is where this departs from Gradient2, whose long-term RTT is an exponential
 * average of all samples. Fed by a backlog that always fills the limit, such an average follows
 * the queueing it should detect, and the limit creeps up to its maximum (reported upstream, e.g.
 * https://github.com/Netflix/concurrency-limits/pull/134 and issues/137; in our simulation an
 * EMA baseline took a knee-200 server to 512 within 150 s). Here the baseline is the median
 * latency measured while the limit is briefly halved — a probe, like the no-load RTT probe of
 * Netflix's earlier Gradient limiter and BBR's ProbeRTT — and between probes it follows lower
 * windows downwards only. Probes come every `probeEvery` windows, sooner while the baseline is
 * still moving or when the probe itself ran past the knee (latency proportional to concurrency),
 * and at once when cutting the limit by 30 % did not lower latency: then the server got slower for
 * reasons we do not cause (another tenant) and the baseline is stale — re-measuring it keeps us
 * from being throttled to nothing.
 *
 * A window is a cohort: the next ceil(limit / 2) calls granted, measured once 90 % of them have
 * ended. Taking whichever samples arrive first would favour short calls (they finish first) and
 * bias latency low, and calls granted before a decision would measure the state it replaced.
 *
 * Latency is normalised by output size, so a long answer is not mistaken for queueing: a sample
 * is latencyMs / (1 + outputTokens / overheadTokens), the time per "call of overheadTokens
 * tokens", where overheadTokens (default 32) is what the fixed part of a call (network, prefill)
 * costs in generated-token equivalents. A success without outputTokens counts as a 0-token answer,
 * so pass it on every call or on none.
 *
 * Growth: until latency first rises (by half the tolerance) the limit grows by one per success at
 * full use, TCP's slow start (doubling per round trip), but never past twice the concurrency a
 * cohort has measured without a rise; at the rise it falls back to the concurrency that cohort
 * measured. After that it grows by the gradient step only, and only when the limit is actually
 * used (in flight reached 80 % of it during the window): an idle limit says nothing.
 */
import { monotonicNow, type Now } from './clock.ts'
import { WaitQueue } from './wait-queue.ts'

export type LimitChangeReason = 'drop' | 'gradient' | 'increase'

export type Outcome =
  /** latencyMs defaults to the time since the permit was granted. */
  | { kind: 'success', latencyMs?: number, outputTokens?: number }
  /** Rejected for capacity: 429, timeout. */
  | { kind: 'dropped' }
  /** Says nothing about capacity: a 400, an abort, a parse error. */
  | { kind: 'ignore' }

export interface Permit {
  /** Ends the call; the first release counts, later ones are ignored. */
  release (outcome: Outcome): void
}

export interface AdaptiveLimitOptions {
  initial?: number
  min?: number
  max?: number
  /** Limit multiplier on a drop; default 0.9. */
  backoffRatio?: number
  /** Latency inflation accepted over the baseline before the limit shrinks; default 1.5. */
  tolerance?: number
  /** Share of each gradient step applied; default 0.5. */
  smoothing?: number
  /** Fixed cost of a call in output-token equivalents, for normalising latency; default 32. */
  overheadTokens?: number
  /** Windows between baseline probes once settled; default 60. */
  probeEvery?: number
  now?: Now
  /** Called when the (integer) limit changes. Must not throw. */
  onChange?: (limit: number, reason: LimitChangeReason) => void
}

export interface AdaptiveLimitSnapshot {
  limit: number
  inFlight: number
  queued: number
  /** Normalised latency (ms per call of overheadTokens tokens) without queueing, as last probed. */
  baselineMs: number | undefined
  /** Median normalised latency of the last window. */
  recentMs: number | undefined
  probing: boolean
  slowStart: boolean
}

/** Fewest calls in a cohort; otherwise half a limit's worth (half a round trip at full use). */
const MIN_COHORT = 4
/** A cohort is measured once all but this share of its calls have ended. */
const STRAGGLERS = 0.1
/** Cohort size cap during slow start. */
const SLOW_START_COHORT = 16
/** In-flight share of the limit that counts as using it. */
const USED = 0.8
/** A probe admits this share of the limit. */
const PROBE_RATIO = 0.5
/** A probe that moved the baseline by more than this share is followed by another soon. */
const PROBE_MOVED = 0.1
const PROBE_SOON = 4
/** Latency growing by this share of the concurrency ratio counts as proportional to it. */
const PROPORTIONAL = 0.9
/** Cutting the limit by this share without latency falling by a tenth triggers a probe. */
const UNRESPONSIVE_CUT = 0.3

/**
 * A window of measurement: the calls granted consecutively from `first`, measured when nearly all
 * have ended. Taking the first samples to arrive instead would favour short calls (they finish
 * first) and bias the latency low, and calls granted before a decision would measure the state
 * the decision replaced.
 */
interface Cohort {
  probe: boolean
  first: number
  /** Set once `size` calls have joined. */
  last: number | undefined
  size: number
  pending: number
  samples: number[]
  /** Most calls in flight while the cohort was open. */
  peak: number
  /** Calls in flight when its last call joined: about the concurrency it measured. */
  filled: number
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function positiveInt (name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`)
  return v
}

function ratio (name: string, v: number, lo: number, hi: number): number {
  if (!(v > lo && v <= hi)) throw new RangeError(`${name} must be in (${lo}, ${hi}], got ${v}`)
  return v
}

export class AdaptiveLimit {
  readonly #min: number
  readonly #max: number
  readonly #backoff: number
  readonly #tolerance: number
  readonly #smoothing: number
  readonly #overhead: number
  readonly #probeEvery: number
  readonly #now: Now
  readonly #onChange: ((limit: number, reason: LimitChangeReason) => void) | undefined
  readonly #queue: WaitQueue<undefined, Permit>

  /** The real-valued estimate; the limit is its floor. */
  #estimate: number
  #limit: number
  #inFlight = 0
  /** Grant counter: permits are numbered, so a decision can ignore calls started before it. */
  #seq = 0
  /** Drops from permits up to this number were answered by the last backoff. */
  #dropSeq = 0
  /** Smoothed raw round trip of successes, and when the last drop backoff happened. */
  #rttMs: number | undefined
  #lastBackoffAt = -Infinity
  #cohort: Cohort
  /** While probing: what may be in flight. */
  #probeCap = 0
  #baseline: number | undefined
  #recent: number | undefined
  #slowStart = true
  /** Slow start never goes past twice the concurrency a cohort has measured without a rise. */
  #slowStartCap: number
  #windowsToProbe = PROBE_SOON
  /** Where the current run of latency cuts started. */
  #cutting: { estimate: number, recent: number } | undefined

  constructor (opts: AdaptiveLimitOptions = {}) {
    this.#min = positiveInt('min', opts.min ?? 1)
    this.#max = positiveInt('max', opts.max ?? 512)
    if (this.#max < this.#min) throw new RangeError(`max (${this.#max}) must be >= min (${this.#min})`)
    const initial = positiveInt('initial', opts.initial ?? Math.min(this.#max, Math.max(this.#min, 16)))
    this.#backoff = ratio('backoffRatio', opts.backoffRatio ?? 0.9, 0, 1)
    this.#tolerance = opts.tolerance ?? 1.5
    if (!(this.#tolerance >= 1)) throw new RangeError(`tolerance must be >= 1, got ${this.#tolerance}`)
    this.#smoothing = ratio('smoothing', opts.smoothing ?? 0.5, 0, 1)
    this.#overhead = opts.overheadTokens ?? 32
    if (!(this.#overhead > 0)) throw new RangeError(`overheadTokens must be > 0, got ${this.#overhead}`)
    this.#probeEvery = positiveInt('probeEvery', opts.probeEvery ?? 60)
    this.#now = opts.now ?? monotonicNow
    this.#onChange = opts.onChange
    this.#estimate = Math.min(this.#max, Math.max(this.#min, initial))
    this.#limit = Math.floor(this.#estimate)
    this.#slowStartCap = 2 * this.#estimate
    this.#queue = new WaitQueue(() => this.#pump())
    this.#cohort = this.#newCohort(false)
  }

  get limit (): number { return this.#limit }
  get inFlight (): number { return this.#inFlight }
  get queued (): number { return this.#queue.size }

  snapshot (): AdaptiveLimitSnapshot {
    return {
      limit: this.#limit,
      inFlight: this.#inFlight,
      queued: this.#queue.size,
      baselineMs: this.#baseline,
      recentMs: this.#recent,
      probing: this.#cohort.probe,
      slowStart: this.#slowStart,
    }
  }

  /** Waits FIFO for room under the limit. Rejects with the signal's reason on abort. */
  acquire (signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#queue.size === 0 && this.#inFlight < this.#cap()) return Promise.resolve(this.#grant())
    return this.#queue.wait(undefined, signal)
  }

  /** What may be in flight now: the limit, or less while probing. */
  #cap (): number {
    return this.#cohort.probe ? this.#probeCap : this.#limit
  }

  #pump (): void {
    while (this.#queue.size > 0 && this.#inFlight < this.#cap()) this.#queue.resolveHead(this.#grant())
  }

  #newCohort (probe: boolean): Cohort {
    let size = Math.max(MIN_COHORT, Math.ceil((probe ? this.#probeCap : this.#limit) / 2))
    // In slow start the limit doubles per round trip: small cohorts see the knee sooner.
    if (this.#slowStart && !probe) size = Math.min(size, SLOW_START_COHORT)
    return { probe, first: this.#seq + 1, last: undefined, size, pending: 0, samples: [], peak: this.#inFlight, filled: this.#inFlight }
  }

  #grant (): Permit {
    const seq = ++this.#seq
    this.#inFlight++
    const c = this.#cohort
    if (this.#inFlight > c.peak) c.peak = this.#inFlight
    if (c.last === undefined) {
      c.pending++
      if (seq - c.first + 1 >= c.size) {
        c.last = seq
        c.filled = this.#inFlight
      }
    }
    const start = this.#now()
    let released = false
    return {
      release: (outcome) => {
        if (released) return
        released = true
        const before = this.#inFlight--
        if (outcome.kind === 'dropped') this.#dropped(seq)
        let sample: number | undefined
        if (outcome.kind === 'success') sample = this.#succeeded(before, outcome.latencyMs ?? this.#now() - start, outcome.outputTokens)
        const c = this.#cohort
        if (seq >= c.first && (c.last === undefined || seq <= c.last)) {
          c.pending--
          if (sample !== undefined) c.samples.push(sample)
          if (c.last !== undefined && c.pending <= Math.floor(c.size * STRAGGLERS)) this.#close(c)
        }
        this.#pump()
      },
    }
  }

  #set (estimate: number, reason: LimitChangeReason): void {
    this.#estimate = Math.min(this.#max, Math.max(this.#min, estimate))
    const limit = Math.floor(this.#estimate)
    if (limit === this.#limit) return
    this.#limit = limit
    this.#onChange?.(limit, reason)
  }

  #dropped (seq: number): void {
    // At most one backoff per round trip: a 429 comes back in a millisecond, so a burst of them
    // from calls granted after the last backoff would otherwise cut the limit again and again.
    if (seq <= this.#dropSeq) return
    const now = this.#now()
    if (this.#rttMs !== undefined && now - this.#lastBackoffAt < this.#rttMs) return
    this.#dropSeq = this.#seq
    this.#lastBackoffAt = now
    this.#slowStart = false
    this.#set(this.#estimate * this.#backoff, 'drop')
    // The latency cohort being measured goes on: replacing it on every drop would starve the
    // gradient of completed measurements while drops keep coming, and the limit never regrows.
  }

  /** The normalised latency of a success (undefined if unusable); grows the limit in slow start. */
  #succeeded (inFlightBefore: number, latencyMs: number, outputTokens: number | undefined): number | undefined {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return undefined
    this.#rttMs = this.#rttMs === undefined ? latencyMs : this.#rttMs + (latencyMs - this.#rttMs) / 16
    if (this.#slowStart && !this.#cohort.probe && inFlightBefore >= this.#limit * USED) {
      this.#set(Math.min(this.#estimate + 1, this.#slowStartCap), 'increase')
    }
    const tokens = outputTokens !== undefined && Number.isFinite(outputTokens) && outputTokens > 0 ? outputTokens : 0
    return latencyMs / (1 + tokens / this.#overhead)
  }

  #close (c: Cohort): void {
    if (c.probe) {
      if (c.samples.length === 0) {
        this.#cohort = this.#newCohort(true)
        return
      }
      const measured = median(c.samples)
      const before = this.#baseline
      this.#baseline = measured
      // Probe again soon while the baseline is still moving, or when latency at the limit was
      // about proportional to latency at the probe's half: then even the probe ran past the knee
      // and measured queueing, not the baseline.
      const moved = before === undefined || Math.abs(measured / before - 1) > PROBE_MOVED
      const pastKnee = this.#recent !== undefined && this.#recent >= measured * PROPORTIONAL * this.#estimate / this.#probeCap
      this.#windowsToProbe = moved || pastKnee ? PROBE_SOON : this.#probeEvery
      this.#cohort = this.#newCohort(false)
      return
    }
    this.#cohort = this.#newCohort(false)
    if (c.samples.length === 0) return
    const recent = median(c.samples)
    this.#recent = recent
    if (this.#baseline === undefined) {
      this.#baseline = recent
      return
    }
    if (recent < this.#baseline) this.#baseline += (recent - this.#baseline) / 2
    const gradient = Math.min(1, Math.max(0.5, this.#tolerance * this.#baseline / recent))
    const l = this.#estimate
    const target = l * gradient + Math.sqrt(l)
    if (this.#slowStart) {
      // Slow start ends at the first rise in latency, half way to the tolerance. The limit has
      // grown blindly during the round trip it took to see it: back to what the cohort measured.
      if (recent >= this.#baseline * (1 + (this.#tolerance - 1) / 2)) {
        this.#slowStart = false
        this.#windowsToProbe = 1
        const back = Math.min(target, Math.max(c.filled, l / 2))
        if (back < l) this.#set(back, 'gradient')
      } else {
        this.#slowStartCap = Math.max(this.#slowStartCap, 2 * c.filled)
      }
    } else if (target < l) {
      this.#set(l + this.#smoothing * (target - l), 'gradient')
      // Latency that does not fall while we cut the limit is not of our making (another tenant,
      // a slower model): the baseline is stale, measure it again now.
      if (!this.#cutting || recent < this.#cutting.recent * 0.9) this.#cutting = { estimate: l, recent }
      else if (this.#estimate <= this.#cutting.estimate * (1 - UNRESPONSIVE_CUT)) this.#windowsToProbe = 0
    } else {
      this.#cutting = undefined
      if (c.peak >= this.#limit * USED) this.#set(l + this.#smoothing * (target - l), 'increase')
    }
    if (!this.#slowStart && --this.#windowsToProbe <= 0) {
      this.#cutting = undefined
      this.#probeCap = Math.max(this.#min, Math.floor(this.#estimate * PROBE_RATIO))
      this.#cohort = this.#newCohort(true)
    }
  }
}
