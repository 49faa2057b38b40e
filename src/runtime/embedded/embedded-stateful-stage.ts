/**
 * A stateful stage on the embedded log: one loop reads the input in batches, runs the engine,
 * and checkpoints — outputs, the processor's state and the consumer position in one SQLite
 * transaction — every `checkpointRecords` records or `checkpointIntervalMs`, and as soon as the
 * input goes idle. A crash between checkpoints loses only work that restart redoes from the
 * checkpoint's position: nothing is lost and nothing counted twice.
 */
import type { Logger } from '../../log.ts'
import type { RawRecord } from '../stage-engine.ts'
import { pacingOf, type StatefulEngine, type StatefulPacing, type StatefulStageStats } from '../stateful-engine.ts'
import type { EmbeddedLog } from './embedded-log.ts'

export interface EmbeddedStatefulStageOptions {
  log: EmbeddedLog
  engine: StatefulEngine
  consumer: string
  pollMs: number
  logger: Logger
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export class EmbeddedStatefulStage {
  readonly #o: EmbeddedStatefulStageOptions
  readonly #logger: Logger
  readonly #pace: StatefulPacing
  #loop: Promise<void> | undefined
  #stopping = false
  #wake: (() => void) | undefined
  #unsubscribe: (() => void) | undefined
  #lastCheckpoint = Date.now()
  #lastPunctuate = Date.now()
  #flushRequests: Array<() => void> = []
  #caughtUp = false
  #busy = false
  readonly stats = { processed: 0, checkpoints: 0, rollbacks: 0 }

  constructor (o: EmbeddedStatefulStageOptions) {
    this.#o = o
    this.#logger = o.logger.child({ stage: o.engine.stage.name })
    this.#pace = pacingOf(o.engine.stage)
  }

  async start (): Promise<void> {
    const { log, engine } = this.#o
    await engine.restore(log.scan(engine.stateTopic))
    this.#unsubscribe = log.onAppend((t) => { if (t === engine.inputTopic) this.#wake?.() })
    this.#loop = this.#run()
  }

  async #run (): Promise<void> {
    const { log, engine } = this.#o
    let failures = 0
    while (!this.#stopping) {
      const rows = log.read(engine.inputTopic, engine.next(0), this.#pace.batchSize)
      try {
        if (rows.length > 0) {
          this.#caughtUp = false
          const raws: RawRecord[] = rows.map((r) => ({ key: r.key === null ? null : Buffer.from(r.key, 'utf8'), value: r.value, partition: 0, offset: String(r.offset), timestamp: r.timestamp }))
          this.#busy = true
          try { this.stats.processed += await engine.process(raws) } finally { this.#busy = false }
          if (engine.uncheckpointed >= this.#pace.checkpointRecords || Date.now() - this.#lastCheckpoint >= this.#pace.checkpointIntervalMs) await this.#checkpoint()
          failures = 0
          continue
        }
        if (Date.now() - this.#lastPunctuate >= this.#pace.punctuateMs) {
          this.#lastPunctuate = Date.now()
          await engine.punctuate()
        }
        if (this.#flushRequests.length > 0) {
          await engine.flush()
          await this.#checkpoint()
          for (const done of this.#flushRequests.splice(0)) done()
        }
        if (engine.uncheckpointed > 0) await this.#checkpoint()
        this.#caughtUp = true
        failures = 0
      } catch (err) {
        failures++
        this.stats.rollbacks++
        const wait = Math.min(30_000, 200 * 2 ** Math.min(failures, 8))
        this.#logger.error({ err: (err as Error).message, retryInMs: wait }, 'stateful stage failed; rolling back to the last checkpoint')
        engine.rollback((err as Error).message)
        this.#caughtUp = false
        await sleep(wait)
        continue
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(this.#o.pollMs, this.#pace.punctuateMs))
        this.#wake = () => { clearTimeout(t); resolve() }
      })
      this.#wake = undefined
    }
  }

  async #checkpoint (): Promise<void> {
    const { log, engine, consumer } = this.#o
    const { records } = await engine.checkpoint()
    log.checkpoint(consumer, engine.inputTopic, engine.next(0), records)
    engine.committed()
    this.stats.checkpoints++
    this.#lastCheckpoint = Date.now()
  }

  /** End of input: the processor releases what it holds, and a checkpoint makes it durable. */
  async flush (): Promise<void> {
    await new Promise<void>((resolve) => { this.#flushRequests.push(resolve); this.#wake?.() })
  }

  /** Everything read, processed and checkpointed. */
  idle (): boolean {
    return this.#caughtUp && this.#o.engine.uncheckpointed === 0 && this.#o.engine.next(0) >= this.#o.log.head(this.#o.engine.inputTopic)
  }

  snapshot (): StatefulStageStats {
    const unread = Math.max(0, this.#o.log.head(this.#o.engine.inputTopic) - this.#o.engine.next(0))
    return { ...this.stats, deadLettered: this.#o.engine.deadLettered, inFlight: this.#busy ? 1 : 0, queued: unread, generation: this.#o.engine.generation, uncheckpointed: this.#o.engine.uncheckpointed, pendingOutputs: this.#o.engine.pendingOutputs }
  }

  /** Finishes the batch in hand, checkpoints it, and stops. */
  async stop (): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#unsubscribe?.()
    this.#wake?.()
    await this.#loop
    if (this.#o.engine.uncheckpointed > 0) {
      await this.#checkpoint().catch((err: unknown) => this.#logger.error({ err: (err as Error).message }, 'final checkpoint failed; the next start redoes the records since the last one'))
    }
    for (const done of this.#flushRequests.splice(0)) done()
  }
}
