/**
 * The sink's diversity probe: the `capacity` sample members with the smallest seeded hash of
 * their id (a bottom-k sketch, so a uniform random subset of what was admitted), each with its
 * vector, and the Vendi score measured on them (the diversity_collapse health check compares the
 * latest score with the peak). Members evicted from the sample leave it; it refills from later
 * admissions whose hash is below its largest.
 *
 * Measuring off the event loop. A measurement is an eigen-decomposition of up to 1,000 vectors,
 * 1–2 s of CPU; in 'worker' mode (the default) it runs in a worker thread (VendiThread) while the
 * sink goes on with its input. What is measured is fixed when measure() is called — the members'
 * vectors are copied then — and results are applied in the order measurements were asked for,
 * so the peak and the latest score are the ones an in-line measurement would give ('inline'
 * mode, kept for the benchmark's before/after and for tests). The sink's snapshot() awaits
 * settle() first, so a checkpoint always holds every measurement asked for before it: the state
 * stays a function of the input.
 *
 * A measurement that fails (the worker throws, exits or hangs) is logged, counted in `failures`,
 * and skipped — the peak and the latest score keep their values; records are never affected.
 * reset() (the sink's restore, rollback included) drops the answers of measurements asked for
 * before it.
 */
import type { Worker } from 'node:worker_threads'
import type { Logger } from '../../log.ts'
import { packVectors, VendiThread, vendiScoreOfMatrix } from '../../sink/diversity/index.ts'
import { hash32 } from '../../sink/reservoir/hash.ts'
import { decodeF32, encodeF32 } from './state-codec.ts'

export type VendiMode = 'worker' | 'inline'

export interface DiversityProbeOptions {
  /** Members kept (0: no probe, no measurement). */
  capacity: number
  seed: number
  /** Where the Vendi score is computed (default: a worker thread). */
  mode?: VendiMode
  /** A measurement not answered within this many ms fails (worker mode; default 120 s). */
  timeoutMs?: number
  /** Starts the worker (tests inject failing ones). */
  spawn?: () => Worker
}

export class DiversityProbe {
  readonly #capacity: number
  readonly #seed: number
  readonly #mode: VendiMode
  readonly #threadOptions: { timeoutMs?: number, spawn?: () => Worker }
  #members = new Map<string, Float32Array>()
  #max: { id: string, h: number } | undefined
  #peak = 0
  #last: number | null = null
  /** Bumped by reset(): answers to measurements asked for under an older epoch are dropped. */
  #epoch = 0
  /** Measurements asked for and not yet applied, chained so that they apply in order. */
  #chain: Promise<void> = Promise.resolve()
  #queued = 0
  #thread: VendiThread | undefined
  #closed = false
  /** Where failures are logged (the stage's logger, set by the sink at init and restore). */
  logger: Logger | undefined
  /** Measurements that failed and were skipped (since this process started; not in the state). */
  failures = 0

  constructor (o: DiversityProbeOptions) {
    this.#capacity = o.capacity
    this.#seed = o.seed
    this.#mode = o.mode ?? 'worker'
    this.#threadOptions = { ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}), ...(o.spawn ? { spawn: o.spawn } : {}) }
  }

  get size (): number { return this.#members.size }
  get peak (): number { return this.#peak }
  get last (): number | null { return this.#last }
  /** Measurements asked for whose score has not been applied yet. */
  get queued (): number { return this.#queued }

  /** Empties the probe (a new sample), or loads it from a checkpoint. */
  reset (saved?: { probe: ReadonlyArray<[string, string]>, peakVendi: number, lastVendi: number | null }): void {
    this.#epoch++
    this.#members = new Map(saved?.probe.map(([id, v]) => [id, decodeF32(v)]))
    this.#max = undefined
    this.#peak = saved?.peakVendi ?? 0
    this.#last = saved?.lastVendi ?? null
  }

  /** The members for the checkpoint: id → base64 float32 vector. */
  saved (): Array<[string, string]> {
    return [...this.#members].map(([id, v]) => [id, encodeF32(v)])
  }

  /** An admitted sample member: joins the probe if its hash is among the `capacity` smallest. */
  offer (id: string, vector: Float32Array): void {
    if (this.#capacity === 0) return
    const h = this.#hash(id)
    if (this.#members.size >= this.#capacity) {
      this.#max ??= this.#findMax()
      if (h >= this.#max.h) return
      this.#members.delete(this.#max.id)
      this.#max = undefined
    }
    this.#members.set(id, vector)
    if (this.#max && h > this.#max.h) this.#max = { id, h }
  }

  /** A member left the sample. */
  remove (id: string): void {
    if (this.#members.delete(id) && this.#max?.id === id) this.#max = undefined
  }

  /**
   * Measures the Vendi score of the members as they are now: at once in 'inline' mode, else in
   * the worker, applied when it answers (settle() waits for that).
   */
  measure (): void {
    if (this.#members.size < 2) return
    const matrix = packVectors([...this.#members.values()])
    if (this.#mode === 'inline') {
      this.#apply(vendiScoreOfMatrix(matrix, { seed: this.#seed }).score)
      return
    }
    const epoch = this.#epoch
    this.#queued++
    const thread = this.#thread ??= new VendiThread(this.#threadOptions)
    this.#chain = this.#chain
      .then(async () => epoch === this.#epoch ? await thread.score(matrix, { seed: this.#seed }) : null)
      .then((score) => { if (score !== null && epoch === this.#epoch) this.#apply(score) }, (err: unknown) => this.#failed(err, epoch))
      .finally(() => { this.#queued-- })
  }

  /** Resolves once every measurement asked for so far has been applied or skipped. */
  async settle (): Promise<void> {
    await this.#chain
  }

  /** Stops the worker (measurements in flight are skipped); the probe itself stays usable. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#thread?.close()
    this.#thread = undefined
    await this.#chain
  }

  #apply (score: number): void {
    this.#last = score
    if (score > this.#peak) this.#peak = score
  }

  #failed (err: unknown, epoch: number): void {
    if (this.#closed || epoch !== this.#epoch) return // closing, or an answer nobody waits for
    this.failures++
    this.logger?.error({ err: err instanceof Error ? err.message : String(err), failures: this.failures }, 'sink: the Vendi score measurement failed and was skipped (the diversity check keeps its previous figures; records are not affected)')
  }

  #hash (id: string): number { return hash32(this.#seed ^ 0x7f4a7c15, id) }

  #findMax (): { id: string, h: number } {
    let max = { id: '', h: -1 }
    for (const id of this.#members.keys()) {
      const h = this.#hash(id)
      if (h > max.h) max = { id, h }
    }
    return max
  }
}
