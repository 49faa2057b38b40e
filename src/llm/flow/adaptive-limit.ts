/**
 * How many calls to one LLM endpoint may be in flight, learnt from what the endpoint delivers.
 *
 * The aim is the most work completed per second. A GPU server batches: up to its knee, more
 * requests in flight add throughput at a modest cost in latency (each decode step gets slower as
 * the batch grows, but much less than the batch grows); past the knee, requests queue inside the
 * server, throughput stays flat and latency grows with every request added. So this controller
 * climbs the throughput curve and uses latency only to break ties: of two limits with the same
 * throughput, the lower one (less queueing) wins. A controller that targets latency instead
 * (Netflix concurrency-limits' Gradient2, https://github.com/Netflix/concurrency-limits, and
 * Envoy's adaptive concurrency filter) reads the normal rise of decode latency under batching as
 * queueing and settles far below a GPU server's knee.
 *
 * **Measuring.** A cohort is the next calls granted after a decision, measured once all but a
 * tenth have ended, so a decision is judged by its own calls and not by those of the limit it
 * replaced. Its throughput follows from Little's law: rate = mean in flight × Σ work ÷ Σ latency,
 * where a call's work is 1 + outputTokens ÷ overheadTokens (a long answer is more work, not a slow
 * server). Only cohorts that kept the limit busy (callers waiting, or every permit used, for most
 * of their span) say anything about capacity; the others change nothing.
 *
 * **Ramp.** From `initial`, the limit grows per cohort while growing still adds at least a fifth
 * to the throughput (TCP's slow start, judged by throughput): four times while the last step paid
 * nearly in proportion, else twice (by half with no earlier step to compare with), so a 30 s
 * job is not spent warming up. The first cohort,
 * started from idle, decides early: once a few calls have ended, none of them having waited in
 * a queue means the knee is far (step up at once); later calls waiting several times longer than
 * the first ones mean the server is already queueing at `initial` (a CPU server with a couple of
 * slots): the limit goes straight to the concurrency the server evidently serves at once. Calls
 * acquired with `measure: false` (capability probes, embedding batches) hold a slot but are in
 * no cohort.
 *
 * **Settle and probe.** From the best limit the ramp found, one step up and, in turn, one step
 * down are tried (a quarter of the limit each): up is kept when it adds more than `gain` of
 * throughput, down when it loses less than `loss` (the same work with less queueing). A move is
 * followed by another probe in the same direction at once; a probe that changed nothing doubles
 * the cohorts held before the next one (up to `maxHold`), so a settled limit spends little time
 * probing yet follows a server that got faster or slower.
 *
 * **Refusals.** A 429 or a timeout is a drop. An isolated one says nothing about capacity: its
 * caller waits out the Retry-After and tries again, the limit stays. Only when drops are at least
 * `congested` of a cohort's calls is the endpoint refusing work (a rate limit, an overloaded
 * gateway): the limit is cut by `backoffRatio`, and cut again while that lasts. Once the first
 * half of a cohort comes back nearly clean — or sixteen answers in a row did, which makes a
 * refused cohort still closing stale rather than a reason to cut again — the limit goes back
 * towards nine tenths of where the refusals began: near that level again, but not straight into it.
 */
import { monotonicNow, type Now } from './clock.ts'
import { WaitQueue } from './wait-queue.ts'

export type LimitChangeReason = 'ramp' | 'probe' | 'settle' | 'congestion' | 'recover'

export type Outcome =
  /** latencyMs defaults to the time since the permit was granted. */
  | { kind: 'success', latencyMs?: number, outputTokens?: number }
  /** Refused for capacity: 429, timeout. */
  | { kind: 'dropped' }
  /** Says nothing about capacity: a 400, an abort, a parse error. */
  | { kind: 'ignore' }

export interface Permit {
  /** Ends the call; the first release counts, later ones are ignored. */
  release (outcome: Outcome): void
}

export interface AdaptiveLimitOptions {
  /** Where the ramp starts; default 64 (bounded by min and max). */
  initial?: number
  min?: number
  max?: number
  /** Limit multiplier when the endpoint refuses work (congestion); default 0.7. */
  backoffRatio?: number
  /** Share of a cohort's calls dropped (429, timeout) that counts as congestion; default 0.25. */
  congested?: number
  /** Throughput gain a step up (by a quarter) must bring to be kept; default 0.02. */
  gain?: number
  /** Throughput loss a step down (by a quarter) may cost and still be kept; default 0.02. */
  loss?: number
  /** Most cohorts held between probes once settled; default 16. */
  maxHold?: number
  /** Fixed cost of a call in output-token equivalents, for weighing work; default 32. */
  overheadTokens?: number
  now?: Now
  /** Called when the limit changes. Must not throw. */
  onChange?: (limit: number, reason: LimitChangeReason) => void
}

export type LimitPhase = 'ramp' | 'settled' | 'probing' | 'congested'

export interface AdaptiveLimitSnapshot {
  limit: number
  inFlight: number
  queued: number
  phase: LimitPhase
  /** Work per second (calls weighted by answer length) at the settled limit, as last measured. */
  rate: number | undefined
  /** The limit the controller holds between probes. */
  settledLimit: number
}

/** Fewest calls in a cohort while ramping, and once settled (where noise matters more). */
const MIN_RAMP_COHORT = 8
const MIN_COHORT = 16
/** A cohort is measured once all but this share of its calls have ended. */
const STRAGGLERS = 0.1
/** Share of a cohort's span the limit must be busy for the cohort to count. */
const BUSY = 0.8
/** Doubling must add this share of throughput for the ramp to go on. */
const RAMP_GAIN = 0.2
/** A step that added at least this share of its proportional gain: the knee is still far. */
const LINEAR = 0.75
/** Later calls of a cold first cohort waiting this many times longer than its first ones: queueing. */
const COLD_QUEUE = 2
/** Calls of a cohort taking at most this many times its baseline (per unit of work): no queue. */
const UNQUEUED = 1.6
/** Probe steps, as shares of the limit (at least one call). */
const STEP_UP = 0.25
const STEP_DOWN = 0.25
/** A cohort with at most this share of drops is clean (recovery may proceed). */
const CLEAN = 0.05
/**
 * Successes in a row after which a refused cohort still closing is stale: an endpoint refusing a
 * quarter of the calls gives sixteen in a row about once in a hundred.
 */
const STALE_AFTER = 16
/** Recovery goes back to this share of the limit at which refusals began. */
const RECOVER_TO = 0.9

interface Cohort {
  /** The limit it measures. */
  limit: number
  first: number
  /** Set once `size` calls have joined. */
  last: number | undefined
  size: number
  pending: number
  /** Calls of the cohort that ended, successes among them, and drops. */
  ended: number
  successes: number
  /** Successes of calls granted after the current refusals began. */
  fresh: number
  drops: number
  work: number
  /** Sums of squares and products of work and latency: the measurement's own noise. */
  ww: number
  ll: number
  wl: number
  latencyMs: number
  /** Latency per unit of work and the work of each success, for the cold-start check. */
  perWork: number[]
  works: number[]
  /** Calls granted before this time do not join (the transient of a change). */
  opensAt: number
  /** When its first call was granted; in-flight × time and busy time since then. */
  startedAt: number | undefined
  area: number
  busyMs: number
}

/** Throughput (work per second) and its relative standard error. */
interface Measure { rate: number, se: number }

/**
 * A cohort's throughput by Little's law, rate = mean in flight × Σ work ÷ Σ latency, with the
 * standard error of the ratio Σ work ÷ Σ latency over its calls (the delta method): how far two
 * cohorts' rates may differ by chance, so a step is judged against the noise of its own
 * measurements and not only against a fixed threshold.
 */
function measure (c: Cohort, spanMs: number): Measure {
  const n = c.successes
  const r = c.work / c.latencyMs
  const residual = Math.max(0, c.ww - 2 * r * c.wl + r * r * c.ll)
  const se = n > 1 ? Math.sqrt(residual / (n * (n - 1))) / (c.work / n) : 1
  return { rate: (c.area / spanMs) * r * 1000, se }
}

/** Whether `b` beats `a` by more than `margin` and by more than twice their combined noise. */
const beats = (b: Measure, a: Measure, margin: number): boolean => b.rate / a.rate - 1 > Math.max(margin, 2 * Math.hypot(a.se, b.se))

/**
 * Latency per unit of work of a cohort's unqueued calls, estimated. A short answer is mostly fixed
 * overhead (low latency per unit of work), so the baseline comes from calls of typical size, and
 * is never the single fastest.
 */
function typicalPerWork (c: Cohort): number[] {
  const typical = quantile(c.works, 0.5) / 2
  return c.perWork.filter((_, i) => c.works[i]! >= typical).sort((a, b) => a - b)
}

function baselinePerWork (c: Cohort): number | undefined {
  const sorted = typicalPerWork(c)
  return sorted.length < 2 ? undefined : sorted[Math.max(1, Math.floor(0.1 * sorted.length))]!
}

/**
 * No call of typical size took much longer per unit of work than the baseline: nothing waited
 * a whole service time in a queue (with a server that queues, the calls after its first batch
 * take about twice as long).
 */
function unqueued (c: Cohort): boolean {
  const sorted = typicalPerWork(c)
  const b = baselinePerWork(c)
  return b !== undefined && sorted.length >= MIN_RAMP_COHORT && sorted.at(-1)! < UNQUEUED * b
}

function positiveInt (name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`)
  return v
}

function share (name: string, v: number, lo: number, hi: number): number {
  if (!(v > lo && v <= hi)) throw new RangeError(`${name} must be in (${lo}, ${hi}], got ${v}`)
  return v
}

function quantile (xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.floor(q * s.length)))]!
}

export class AdaptiveLimit {
  readonly #min: number
  readonly #max: number
  readonly #backoff: number
  readonly #congested: number
  readonly #gain: number
  readonly #loss: number
  readonly #maxHold: number
  readonly #overhead: number
  readonly #now: Now
  readonly #onChange: ((limit: number, reason: LimitChangeReason) => void) | undefined
  readonly #queue: WaitQueue<boolean, Permit>

  #limit: number
  #inFlight = 0
  /** Grant counter: permits are numbered, so a cohort knows its own calls. */
  #seq = 0
  #cohort: Cohort
  #lastEventAt: number
  #phase: LimitPhase = 'ramp'
  /** No cohort has been measured yet: the first one starts from idle. */
  #cold = true
  /** The ramp's previous step, and how far it may go. */
  #rampPrev: { limit: number, m: Measure } | undefined
  /** The limit got where it is by the early jump from idle, not by a measured step. */
  #jumped = false
  /** Successes since the last refusal, across all calls. */
  #cleanRun = 0
  #rampCap: number
  /** The limit held between probes, and its last measured throughput. */
  #settled: { limit: number, m: Measure | undefined }
  #probeUp = true
  #holdLeft = 0
  #holdEvery = 1
  /** Smoothed latency of successful calls, and when the limit was last cut for refusals. */
  #rttMs: number | undefined
  #lastCut = -Infinity
  /** The refused cohorts of the current congestion: what the endpoint still accepted meanwhile. */
  #episode = { fromSeq: 0, successes: 0, spanMs: 0, accepting: 0 }

  constructor (opts: AdaptiveLimitOptions = {}) {
    this.#min = positiveInt('min', opts.min ?? 1)
    this.#max = positiveInt('max', opts.max ?? 512)
    if (this.#max < this.#min) throw new RangeError(`max (${this.#max}) must be >= min (${this.#min})`)
    const initial = positiveInt('initial', opts.initial ?? 64)
    this.#backoff = share('backoffRatio', opts.backoffRatio ?? 0.7, 0, 1)
    this.#congested = share('congested', opts.congested ?? 0.25, 0, 1)
    this.#gain = share('gain', opts.gain ?? 0.02, 0, 1)
    this.#loss = share('loss', opts.loss ?? 0.02, 0, 1)
    this.#maxHold = positiveInt('maxHold', opts.maxHold ?? 16)
    this.#overhead = opts.overheadTokens ?? 32
    if (!(this.#overhead > 0)) throw new RangeError(`overheadTokens must be > 0, got ${this.#overhead}`)
    this.#now = opts.now ?? monotonicNow
    this.#onChange = opts.onChange
    this.#limit = Math.min(this.#max, Math.max(this.#min, initial))
    this.#rampCap = this.#max
    this.#settled = { limit: this.#limit, m: undefined }
    this.#lastEventAt = this.#now()
    this.#queue = new WaitQueue(() => this.#pump())
    this.#cohort = this.#newCohort()
  }

  get limit (): number { return this.#limit }
  get inFlight (): number { return this.#inFlight }
  get queued (): number { return this.#queue.size }
  /** The endpoint is refusing a good share of calls: callers should all wait out a Retry-After. */
  get congested (): boolean { return this.#phase === 'congested' }

  snapshot (): AdaptiveLimitSnapshot {
    return { limit: this.#limit, inFlight: this.#inFlight, queued: this.#queue.size, phase: this.#phase, rate: this.#settled.m?.rate, settledLimit: this.#settled.limit }
  }

  /**
   * Waits FIFO for room under the limit. Rejects with the signal's reason on abort.
   * `measure: false`: the call holds a slot but is left out of every measurement (it joins no
   * cohort), for calls unlike the workload the limit is sized for.
   */
  acquire (signal?: AbortSignal, o: { measure?: boolean } = {}): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    const measured = o.measure !== false
    if (this.#queue.size === 0 && this.#inFlight < this.#limit) return Promise.resolve(this.#grant(measured))
    this.#tick()
    const p = this.#queue.wait(measured, signal)
    this.#tick()
    return p
  }

  #pump (): void {
    while (this.#queue.size > 0 && this.#inFlight < this.#limit) this.#queue.resolveHead(this.#grant(this.#queue.peek() ?? true))
  }

  /**
   * The next cohort. After a change of the limit it opens a round trip later (half of one while
   * ramping, where speed matters more): the calls of the first round trip run beside the old
   * limit's (fewer in service, or more, than the new limit will hold), which makes a step up look
   * better and a step down worse than it is — by a quarter and more on a GPU server.
   */
  #newCohort (afterChange = false): Cohort {
    // Congested, at once: whether calls are refused does not depend on the transient, and the
    // first clean cohort after the refusals stop should show it without a round trip's delay.
    const delay = this.#phase === 'congested' ? 0 : this.#phase === 'ramp' ? 0.5 : 1
    const opensAt = afterChange ? this.#now() + (this.#rttMs ?? 0) * delay : -Infinity
    const min = this.#phase === 'ramp' || this.#phase === 'congested' ? MIN_RAMP_COHORT : MIN_COHORT
    // Ramping: a quarter of a limit's worth (a quarter of a round trip at full use) decides
    // sooner; congested, half of one; settled, a whole limit's worth measures more calls.
    // The first, from idle, is larger: its later calls show whether the server queues already.
    const size = this.#cold && this.#phase === 'ramp'
      ? Math.max(MIN_COHORT, Math.ceil(this.#limit / 2))
      : Math.max(min, this.#phase === 'ramp' ? Math.ceil(this.#limit / 4) : this.#phase === 'congested' ? Math.ceil(this.#limit / 2) : this.#limit)
    return { limit: this.#limit, first: this.#seq + 1, last: undefined, size, pending: 0, ended: 0, successes: 0, fresh: 0, drops: 0, work: 0, latencyMs: 0, ww: 0, ll: 0, wl: 0, perWork: [], works: [], opensAt, startedAt: undefined, area: 0, busyMs: 0 }
  }

  /** Accounts the time since the last event to the open cohort (in flight × time, busy time). */
  #tick (): void {
    const now = this.#now()
    const dt = now - this.#lastEventAt
    this.#lastEventAt = now
    const c = this.#cohort
    if (c.startedAt === undefined || !(dt > 0)) return
    c.area += this.#inFlight * dt
    if (this.#queue.size > 0 || this.#inFlight >= this.#limit) c.busyMs += dt
  }

  #grant (measured = true): Permit {
    this.#tick()
    this.#inFlight++
    // An unmeasured call takes no number: it is in no cohort's range.
    const seq = measured ? ++this.#seq : 0
    const c = this.#cohort
    if (measured && c.last === undefined) {
      if (this.#now() < c.opensAt) c.first = seq + 1
      else {
        c.startedAt ??= this.#now()
        c.pending++
        if (seq - c.first + 1 >= c.size) c.last = seq
      }
    }
    const start = this.#now()
    let released = false
    return {
      release: (outcome) => {
        if (released) return
        released = true
        this.#tick()
        this.#inFlight--
        if (outcome.kind === 'dropped') this.#cleanRun = 0
        else if (outcome.kind === 'success') this.#cleanRun++
        const c = this.#cohort
        if (seq >= c.first && (c.last === undefined || seq <= c.last)) {
          c.pending--
          c.ended++
          if (outcome.kind === 'dropped') c.drops++
          if (outcome.kind === 'success') {
            const latencyMs = outcome.latencyMs ?? this.#now() - start
            if (Number.isFinite(latencyMs) && latencyMs >= 0) {
              const tokens = outcome.outputTokens !== undefined && Number.isFinite(outcome.outputTokens) && outcome.outputTokens > 0 ? outcome.outputTokens : 0
              const work = 1 + tokens / this.#overhead
              c.successes++
              if (seq > this.#episode.fromSeq) c.fresh++
              c.work += work
              c.latencyMs += latencyMs
              c.ww += work * work
              c.ll += latencyMs * latencyMs
              c.wl += work * latencyMs
              c.perWork.push(latencyMs / work)
              c.works.push(work)
              this.#rttMs = this.#rttMs === undefined ? latencyMs : this.#rttMs + (latencyMs - this.#rttMs) / 16
            }
          }
          if (this.#cold && outcome.kind === 'success') this.#coldCheck(c)
          if (this.#cohort === c && c.last !== undefined && (c.pending <= Math.floor(c.size * STRAGGLERS) || this.#refusalsOver(c))) this.#close(c)
        }
        this.#pump()
      },
    }
  }

  /**
   * Congested, and the first half of a cohort came back clean: the refusals have stopped, and
   * the recovery need not wait for the cohort's slowest calls (the limit is at its lowest then,
   * and every second spent there is throughput lost). Half a cohort, at least MIN_RAMP_COHORT
   * answers: an ongoing rate limit refusing a quarter of the calls passes that by chance less
   * than once in a hundred times.
   */
  #refusalsOver (c: Cohort): boolean {
    return this.#phase === 'congested' && c.ended * 2 >= c.size && c.successes >= MIN_RAMP_COHORT && c.drops <= CLEAN * c.ended
  }

  #set (limit: number, reason: LimitChangeReason): void {
    const next = Math.min(this.#max, Math.max(this.#min, Math.round(limit)))
    if (next === this.#limit) return
    this.#limit = next
    this.#onChange?.(next, reason)
  }

  #close (c: Cohort): void {
    const span = this.#now() - (c.startedAt ?? this.#now())
    this.#cold = false
    const dropShare = c.ended > 0 ? c.drops / c.ended : 0
    // Only a limit that was binding can be blamed: refusals while callers sit out a Retry-After
    // elsewhere, or measurements while demand is below the limit, say nothing about it.
    const busy = span > 0 && c.busyMs >= BUSY * span
    if (dropShare >= this.#congested && this.#phase === 'congested' && this.#cleanRun >= STALE_AFTER) {
      // A refused cohort closing after the refusals stopped (its calls went out during them, the
      // answers since are clean): stale, and cutting again on it would only slow the recovery.
      this.#settle(Math.max(c.limit, this.#recoverTo()), undefined, 'recover')
    } else if (dropShare >= this.#congested) {
      if (busy || span === 0) {
        const ongoing = this.#phase === 'congested'
        this.#refused()
        // What the endpoint accepted while it refused: calls granted after the refusals began,
        // in cohorts that were still refused (the calls after they stopped show a recovery).
        if (ongoing) {
          this.#episode.successes += c.fresh
          this.#episode.spanMs += span
          if (c.fresh > 0) this.#episode.accepting++
        }
      }
    } else if (busy && c.successes > 0 && c.latencyMs > 0) {
      this.#decide(c.limit, measure(c, span), dropShare)
    }
    this.#cohort = this.#newCohort(this.#limit !== c.limit)
  }

  /**
   * The first cohort, started from idle: once a few calls have ended, later ones waiting far
   * longer than the first (per unit of work) mean the server queues at the initial limit already.
   * Calls completed per unit of time × the time an unqueued call takes = the calls the server
   * serves at once (Little's law for the server without its queue): go there now rather than
   * after the whole cohort, which on a slow server takes minutes.
   */
  #coldCheck (c: Cohort): void {
    if (this.#phase !== 'ramp' || c.perWork.length < MIN_RAMP_COHORT || c.startedAt === undefined) return
    // A few short answers (one-word stages) must not pass for unqueued service and make
    // everything else look queued: see baselinePerWork.
    const baseline = baselinePerWork(c)
    if (baseline === undefined) return
    // Time the limit was full: the calls' demand, not a quiet start before it, sets the rate.
    this.#tick()
    const elapsed = c.busyMs
    if (!(elapsed > 0)) return
    if (c.latencyMs / c.work < COLD_QUEUE * baseline) {
      // No queue at all while every permit was in use: far below the knee. Step up now rather
      // than wait for the cohort's slowest calls (on a GPU server that halves the ramp).
      const span = this.#now() - c.startedAt
      // The first calls to end are the quicker ones, so their throughput is not measured against
      // the next step's: that cohort starts the comparisons.
      if (unqueued(c) && c.busyMs >= BUSY * span) {
        this.#cold = false
        this.#rampPrev = undefined
        this.#jumped = true
        this.#set(Math.min(this.#rampCap, this.#max, c.limit * 4), 'ramp')
        this.#cohort = this.#newCohort(this.#limit !== c.limit)
      }
      return
    }
    this.#cold = false
    const served = (c.work / elapsed) * baseline
    this.#settle(Math.ceil(served * (1 + STEP_DOWN)), undefined, 'settle')
    this.#cohort = this.#newCohort(true)
  }

  #decide (limit: number, m: Measure, dropShare: number): void {
    switch (this.#phase) {
      case 'congested':
        // Refusals stopped: straight back to just below where they began (the limit was good
        // until then), and probing from there finds out whether it still is.
        if (dropShare <= CLEAN) this.#settle(Math.max(limit, this.#recoverTo()), undefined, 'recover')
        return
      case 'ramp': {
        const prev = this.#rampPrev
        if (prev && m.rate < prev.m.rate * (1 + RAMP_GAIN)) {
          // The knee lies between the last two steps: hold the higher one only if it was worth
          // it (the same throughput with more queued is worse), and probe around it.
          if (beats(m, prev.m, this.#gain)) this.#settle(limit, m, 'settle')
          else this.#settle(prev.limit, prev.m, 'settle')
          return
        }
        this.#rampPrev = { limit, m }
        // Four times while the last step paid nearly in proportion (far below the knee), else
        // twice. The first cohort measured after the early jump from idle grows by half: that
        // jump may already have landed near the knee, and another blind doubling would sit deep
        // in the server's queue for as long as its slowest calls take to measure (a NIM-shaped
        // server: 30 s at 512). A recovery's ramp doubles from its first cohort, as before.
        const jumped = this.#jumped
        this.#jumped = false
        const far = prev !== undefined && m.rate / prev.m.rate >= LINEAR * (limit / prev.limit)
        const next = Math.min(this.#rampCap, this.#max, Math.round(limit * (far ? 4 : jumped && !prev ? 1.5 : 2)))
        if (next <= limit) { this.#settle(limit, m, 'settle'); return }
        this.#set(next, this.#rampCap < this.#max ? 'recover' : 'ramp')
        return
      }
      case 'settled':
        if (limit !== this.#settled.limit) return // measured a limit since left
        this.#settled.m = m
        if (--this.#holdLeft <= 0) this.#probe()
        return
      case 'probing': {
        const base = this.#settled
        if (base.m === undefined) { this.#settle(limit, m, 'settle'); return }
        const up = limit > base.limit
        // Up: more throughput, beyond chance. Down: a loss under `loss` even allowing for chance.
        const kept = up ? beats(m, base.m, this.#gain) : m.rate / base.m.rate >= 1 - this.#loss + Math.hypot(m.se, base.m.se)
        if (kept) {
          // Moved: look again in the same direction at once.
          this.#settled = { limit, m }
          this.#probeUp = up
          this.#holdEvery = 1
          this.#phase = 'settled'
          this.#holdLeft = 0
          this.#probe()
          return
        }
        // Nothing to gain this way: back, wait longer before the next look, the other way next.
        this.#probeUp = !up
        this.#holdEvery = Math.min(this.#maxHold, this.#holdEvery * 2)
        this.#holdLeft = this.#holdEvery
        this.#phase = 'settled'
        this.#set(base.limit, 'settle')
      }
    }
  }

  #settle (limit: number, m: Measure | undefined, reason: LimitChangeReason): void {
    this.#phase = 'settled'
    this.#rampPrev = undefined
    this.#jumped = false
    this.#rampCap = this.#max
    this.#holdEvery = 1
    this.#holdLeft = 1
    this.#probeUp = true
    const target = Math.min(this.#max, Math.max(this.#min, Math.round(limit)))
    this.#settled = { limit: target, m: target === limit ? m : undefined }
    this.#set(target, reason)
  }

  #probe (): void {
    const base = this.#settled.limit
    const step = (up: boolean): number => up ? base + Math.max(1, Math.round(base * STEP_UP)) : base - Math.max(1, Math.round(base * STEP_DOWN))
    let next = step(this.#probeUp)
    if (next > this.#max || next < this.#min) {
      this.#probeUp = !this.#probeUp
      next = step(this.#probeUp)
    }
    next = Math.min(this.#max, Math.max(this.#min, next))
    if (next === base) { this.#holdLeft = this.#maxHold; return }
    this.#phase = 'probing'
    this.#set(next, 'probe')
  }

  /**
   * Where to go once refusals stop. An endpoint that refused everything (an outage, a burst)
   * had no quarrel with the limit before it: nearly back there. One that kept accepting some
   * calls meanwhile has a rate limit: the concurrency it accepted (calls accepted per unit of
   * time × a call's round trip), so as not to run straight into it again.
   */
  #recoverTo (): number {
    const e = this.#episode
    // A rate limit accepts some calls all along; an outage or a burst accepts none until it ends,
    // and the cohort that saw it end holds the only successes.
    if (e.accepting < 2 || e.successes < MIN_RAMP_COHORT || !(e.spanMs > 0) || this.#rttMs === undefined) return this.#rampCap
    return Math.min(this.#rampCap, Math.max(this.#min, Math.ceil(e.successes / e.spanMs * this.#rttMs)))
  }

  /**
   * The endpoint refuses a good share of calls: cut, and remember where that began. At most once
   * per round trip of a successful call: a refusal comes back in a millisecond, and the cohorts
   * of refused calls that follow one another within it show the same congestion, not more.
   */
  #refused (): void {
    const now = this.#now()
    if (this.#phase === 'congested' && now - this.#lastCut < (this.#rttMs ?? 0)) return
    this.#lastCut = now
    if (this.#phase !== 'congested') {
      this.#rampCap = Math.max(this.#min, Math.floor(Math.max(this.#limit, this.#settled.limit) * RECOVER_TO))
      // Only calls granted from now on say what the endpoint accepts: those in flight when the
      // refusals began were admitted before them, and their successes say nothing.
      this.#episode = { fromSeq: this.#seq, successes: 0, spanMs: 0, accepting: 0 }
    }
    this.#phase = 'congested'
    this.#rampPrev = undefined
    this.#set(Math.max(this.#min, Math.floor(this.#limit * this.#backoff)), 'congestion')
  }
}
