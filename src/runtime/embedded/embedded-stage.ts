/**
 * One stage on the embedded log: the same engine and concurrency model as on Kafka (up to
 * `concurrency` records in flight, started in offset order), with each record's outputs and its
 * consumed mark committed together in one database transaction as soon as it finishes.
 */
import type { Logger } from '../../log.ts'
import { PartitionProgress } from '../offset-tracker.ts'
import { recordFinished } from '../record-events.ts'
import { publishStageHalted } from '../lifecycle-events.ts'
import { runUntilDone } from '../retry.ts'
import { Scheduler, sharedAbortController, withDeadline } from '../scheduler.ts'
import { StageHaltedError, type RawRecord, type StageEngine } from '../stage-engine.ts'
import type { EmbeddedLog } from './embedded-log.ts'

export interface EmbeddedStageOptions {
  log: EmbeddedLog
  engine: StageEngine
  consumer: string
  concurrency: number
  maxQueued: number
  pollMs: number
  logger: Logger
}

export interface EmbeddedStageStats {
  processed: number
  deadLettered: number
  skipped: number
  inFlight: number
  queued: number
  committed: number
}

const LANE = 'p0'

export class EmbeddedStage {
  readonly #o: EmbeddedStageOptions
  readonly #topic: string
  readonly #scheduler: Scheduler
  readonly #abort = sharedAbortController()
  readonly #logger: Logger
  #progress = new PartitionProgress(0)
  #nextFetch = 0
  #timer: NodeJS.Timeout | undefined
  #unsubscribe: (() => void) | undefined
  #stopping = false
  /** A record's failure said the stage must stop (see StageHaltedError). */
  #halted = false
  #sinceAdvance = 0
  readonly stats = { processed: 0, deadLettered: 0, skipped: 0 }

  constructor (o: EmbeddedStageOptions) {
    this.#o = o
    this.#topic = o.engine.inputTopic
    this.#scheduler = new Scheduler(o.concurrency)
    this.#logger = o.logger.child({ stage: o.engine.stage.name })
  }

  start (): void {
    const pos = this.#o.log.position(this.#o.consumer, this.#topic)
    this.#progress = new PartitionProgress(pos.committed, pos.completedBeyond)
    this.#nextFetch = pos.committed
    this.#logger.info({ committed: pos.committed, completedBeyond: pos.completedBeyond.length }, 'stage resumes')
    this.#scheduler.addLane(LANE)
    this.#unsubscribe = this.#o.log.onAppend((t) => { if (t === this.#topic) this.#fetch() })
    // Other processes (e.g. `synthq ingest`) append too: poll for them.
    this.#timer = setInterval(() => this.#fetch(), this.#o.pollMs)
    this.#fetch()
  }

  #fetch (): void {
    if (this.#stopping || this.#halted) return
    const room = this.#o.maxQueued - this.#scheduler.queued
    if (room <= 0) return
    const rows = this.#o.log.read(this.#topic, this.#nextFetch, Math.min(room, 500))
    for (const row of rows) {
      this.#nextFetch = row.offset + 1
      if (this.#progress.admit(row.offset) === 'skip') {
        this.stats.skipped++
        recordFinished(this.#o.engine, 'embedded', { partition: 0, offset: String(row.offset) }, undefined)
        continue
      }
      const raw: RawRecord = { key: row.key === null ? null : Buffer.from(row.key, 'utf8'), value: row.value, partition: 0, offset: String(row.offset), timestamp: row.timestamp }
      this.#scheduler.push(LANE, () => this.#work(raw, row.offset))
    }
    if (rows.length === Math.min(room, 500) && rows.length > 0) setImmediate(() => this.#fetch())
  }

  async #work (raw: RawRecord, offset: number): Promise<void> {
    const aborted = (): boolean => this.#abort.signal.aborted
    const startedAt = performance.now()
    const outcome = await runUntilDone(async () => await this.#o.engine.run(raw, this.#abort.signal), {
      mayStart: () => !aborted(),
      // Abandoned at shutdown: the database may be closing.
      mayKeep: () => !aborted(),
      aborted,
      halts: (err) => {
        if (!(err instanceof StageHaltedError)) return false
        // Left uncommitted: the stage takes nothing more; the run stops (the LLM client's
        // onFatal says why) and the record is processed again by the next run.
        if (!this.#halted) {
          this.#logger.error({ err: err.message }, 'stage halted: no more records are taken and nothing unfinished is committed')
          publishStageHalted({ stage: this.#o.engine.stage.name, topology: this.#o.engine.topology, runner: 'embedded', runId: this.#o.engine.runId }, err.reason)
        }
        this.#halted = true
        return true
      },
      logger: this.#logger,
      record: { offset },
    })
    if (!outcome) return
    this.#o.log.complete(this.#o.consumer, this.#topic, offset, outcome.outputs)
    this.#progress.complete(offset)
    if (outcome.deadLettered) this.stats.deadLettered++
    else this.stats.processed++
    recordFinished(this.#o.engine, 'embedded', raw, outcome, startedAt)
    if (++this.#sinceAdvance >= 64) this.#advance()
    this.#fetch()
  }

  /** Folds consumed marks into the committed offset (they are already durable either way). */
  #advance (): void {
    this.#sinceAdvance = 0
    const plan = this.#progress.plan(Infinity)
    if (!plan) return
    if (plan.offset > this.#progress.committed) this.#o.log.advance(this.#o.consumer, this.#topic, plan.offset)
    this.#progress.committedPlan(plan)
  }

  /** No record running or queued, and nothing unread in the input topic. */
  idle (): boolean {
    return this.#scheduler.inFlight === 0 && this.#scheduler.queued === 0 && this.#nextFetch >= this.#o.log.head(this.#topic)
  }

  snapshot (): EmbeddedStageStats {
    return { ...this.stats, inFlight: this.#scheduler.inFlight, queued: this.#scheduler.queued, committed: this.#progress.committed }
  }

  async stop (deadlineMs: number): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    clearInterval(this.#timer)
    this.#unsubscribe?.()
    this.#scheduler.dropLane(LANE)
    const drained = await withDeadline(this.#scheduler.whenNoneRunning(), deadlineMs)
    if (!drained) {
      this.#logger.warn({ inFlight: this.#scheduler.inFlight }, 'shutdown deadline passed; abandoning in-flight records (they run again on restart)')
      this.#abort.abort(new Error('shutdown'))
    }
    this.#advance()
  }
}
