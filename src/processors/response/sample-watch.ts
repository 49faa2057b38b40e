/**
 * Whether an instruction is still in the sample, for the stages that pay a model for it
 * (response, response-b, judge): an instruction evicted before its response arrives costs
 * nothing more.
 *
 * Two signals, because neither alone is enough:
 *
 * - **The stage's own input.** Records of one instruction share a key, hence a partition, and
 *   a stage starts them in offset order: when the tombstone of an instruction arrives while its
 *   upsert's model call is in flight, `evict` aborts that call and the upsert ends with no
 *   output. Exact, but it only sees as far ahead as the records in flight.
 * - **The sample table** (the compacted `sample` topic read whole, declared by the stage). It
 *   usually runs ahead of the stage, so it knows of an eviction still far down the input: a row
 *   missing from it is not called for, and a row that disappears from it while its call is in
 *   flight aborts the call. But a table is read by its own consumer and may also lag: a missing
 *   row can be one the table has not read *yet*. So a missing row counts as evicted only when
 *   the record is at least `settleMs` old and the table has not changed for `quietMs` (it has
 *   caught up); until then the stage waits for the row, without calling the model.
 */
import { emit, type InputRecord, type OutputRecord, type ProcessResult, type ProcessorContext, type TableView } from '../processor.ts'

export interface SampleWatchOptions {
  /** A missing row is waited for until the record is this old (ms). */
  settleMs: number
  /** … and the table has been still for this long (ms). */
  quietMs?: number
  /** How often the table is looked at while waiting or calling (ms). */
  pollMs?: number
}

/** Thrown into a call whose instruction left the sample. */
export class EvictedError extends Error {
  constructor (key: string) {
    super(`instruction ${key} left the sample`)
    this.name = 'EvictedError'
  }
}

export class SampleWatch {
  readonly #o: Required<SampleWatchOptions>
  readonly #inFlight = new Map<string, AbortController>()
  #lastMark = -1
  #lastChange = 0

  constructor (o: SampleWatchOptions) {
    this.#o = { quietMs: 250, pollMs: 50, ...o }
  }

  /** The input carried the instruction's tombstone: abort its call in flight, if any. True when one was. */
  evict (key: string): boolean {
    const c = this.#inFlight.get(key)
    if (!c) return false
    c.abort(new EvictedError(key))
    return true
  }

  /**
   * An instruction's tombstone reaching this stage of the chain: aborts its call in flight (if
   * any), counts it, and forwards the tombstone to `topic`, so that topic's latest values keep
   * matching the current sample.
   */
  forwardTombstone (key: string, topic: OutputRecord['topic'], counts: { tombstones: number }): ProcessResult {
    counts.tombstones++
    this.evict(key)
    return emit({ topic, key, value: null })
  }

  /**
   * Runs `work` for the instruction `record` carries, while it is in the sample: resolves to
   * `{ evicted: 'before' }` without running it when the instruction is gone, `{ evicted: 'during' }`
   * when it left while `work` ran (whose signal was then aborted), else `{ value }`.
   */
  async run<T> (record: InputRecord, ctx: ProcessorContext, work: (signal: AbortSignal) => Promise<T>): Promise<{ value: T, evicted?: undefined } | { evicted: 'before' | 'during' }> {
    const key = record.key ?? ''
    const controller = new AbortController()
    this.#inFlight.get(key)?.abort(new EvictedError(key)) // a replayed record supersedes an older attempt
    this.#inFlight.set(key, controller)
    const table = ctx.table('sample')
    let timer: NodeJS.Timeout | undefined
    try {
      if (!await this.#present(table, key, record, ctx, controller.signal)) return { evicted: 'before' }
      timer = setInterval(() => { if (table.get(key) === undefined) controller.abort(new EvictedError(key)) }, this.#o.pollMs)
      const signal = AbortSignal.any([ctx.signal, controller.signal])
      try {
        const value = await raceAbort(work(signal), controller.signal)
        if (controller.signal.aborted) return { evicted: 'during' }
        return { value }
      } catch (err) {
        if (controller.signal.aborted && !ctx.signal.aborted) return { evicted: 'during' }
        throw err
      }
    } finally {
      clearInterval(timer)
      if (this.#inFlight.get(key) === controller) this.#inFlight.delete(key)
    }
  }

  /** Calls in flight now (for tests and figures). */
  get inFlight (): number { return this.#inFlight.size }

  async #present (table: TableView, key: string, record: InputRecord, ctx: ProcessorContext, signal: AbortSignal): Promise<boolean> {
    // A bound in wall time as well, whatever the context's clock says (a test's may stand still).
    const giveUp = performance.now() + Math.max(10_000, 5 * (this.#o.settleMs + this.#o.quietMs))
    for (;;) {
      if (signal.aborted || performance.now() > giveUp) return false
      if (table.get(key) !== undefined) return true
      const now = ctx.now()
      this.#observe(table, now)
      if (now - record.timestamp >= this.#o.settleMs && now - this.#lastChange >= this.#o.quietMs) return false
      await sleep(this.#o.pollMs, AbortSignal.any([ctx.signal, signal]))
      if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('aborted')
    }
  }

  /** Notes when the table last moved (its version when it has one, else its size). */
  #observe (table: TableView, now: number): void {
    const mark = (table as { version?: number }).version ?? table.size
    if (mark !== this.#lastMark) {
      // The first look is not a change: a table idle since before it was first seen is still.
      if (this.#lastMark !== -1) this.#lastChange = now
      this.#lastMark = mark
    }
  }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}

/** `p`, or a rejection as soon as `signal` aborts (a client that ignores its signal is not waited for). */
async function raceAbort<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) { p.catch(() => {}); throw signal.reason }
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { onAbort = () => reject(signal.reason); signal.addEventListener('abort', onAbort, { once: true }) })])
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort)
    p.catch(() => {})
  }
}
