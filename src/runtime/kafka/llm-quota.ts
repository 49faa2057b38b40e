/**
 * Limits across workers on Kafka: the LLM rate limits and budget of a pipeline, shared by every
 * process of the pipeline (same topic prefix) through one compacted topic, `<prefix>.llm-quota`.
 *
 * Each process is a member with a random id. It writes one small JSON record under its id —
 * state (live / left), the endpoints it calls, what it has spent since it started — every
 * heartbeat (1 s) and shortly after each request it pays for, and reads the whole topic
 * continuously through a consumer group of its own that never commits (as tables are read). From
 * what it reads (src/llm/shared/roster.ts):
 *
 * - **rate shares**: an endpoint's requests/min and tokens/min are divided equally among the live
 *   members calling it. A member whose records stop (it died) stops counting after the session
 *   timeout (10 s); one that stops cleanly writes `left` and stops counting at once; a new one
 *   writes its record before it reads the topic, so the others make room for it as it starts.
 * - **spend**: the pipeline's spend is the sum of every member's last record, including members
 *   long gone (compaction keeps each member's last record), so the budget is one budget for the
 *   pipeline and holds across restarts. A member that dies loses at most the spend of its last
 *   ~100 ms; spend reaches the other members within about that plus Kafka's latency, which is
 *   what the budget can be overrun by, with the requests in flight.
 *
 * Records are JSON, not Avro: the topic is the workers' own coordination, not pipeline data.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs'
import type { Logger } from '../../log.ts'
import { retryWhileUnreachable } from './retry-unreachable.ts'
import { createTopicsAndWait } from './topic-admin.ts'
import { ShareBoard, type SharedLimits, type SharedLimitsStats, type SpendTotals } from '../../llm/shared/limits.ts'
import { encodeMember, Roster, type MemberRecord } from '../../llm/shared/roster.ts'

export interface KafkaLlmQuotaOptions {
  kafka: Kafka
  /** The pipeline's topic prefix: the processes sharing the limits. */
  prefix: string
  logger: Logger
  /** Replication factor of the quota topic when it is created (default 1). */
  replicationFactor?: number
  /** How often a member rewrites its record (default 1 s). */
  heartbeatMs?: number
  /** A member whose record is older than this no longer holds a share (default 10 s). */
  sessionTimeoutMs?: number
  /** Longest delay between a request's spend and its record (default 100 ms). */
  spendFlushMs?: number
  /** This member's id (default host-pid-random). */
  member?: string
}

export function llmQuotaTopic (prefix: string): string {
  return `${prefix}.llm-quota`
}

/** Creates the quota topic if it is missing: one partition, compacted, small segments so old heartbeats go soon. */
export async function ensureLlmQuotaTopic (admin: Admin, topic: string, replicationFactor = 1): Promise<void> {
  if ((await admin.listTopics()).includes(topic)) return
  await createTopicsAndWait(admin, [{
    topic,
    numPartitions: 1,
    replicationFactor,
    configEntries: [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'segment.ms', value: String(10 * 60_000) },
      { name: 'min.cleanable.dirty.ratio', value: '0.1' },
    ],
  }])
}

const withTimeout = async <T>(p: Promise<T>, ms: number): Promise<T | undefined> => {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

export class KafkaLlmQuota implements SharedLimits {
  readonly member: string
  readonly topic: string
  readonly #kafka: Kafka
  readonly #logger: Logger
  readonly #opts: Required<Pick<KafkaLlmQuotaOptions, 'heartbeatMs' | 'sessionTimeoutMs' | 'spendFlushMs' | 'replicationFactor'>>
  readonly #roster: Roster
  readonly #board = new ShareBoard()
  #endpoints: string[] = []
  readonly #own = { usd: 0, tokens: 0, requests: 0 }
  #others: SpendTotals = { costUsd: 0, tokens: 0 }
  #live = 1
  #producer: Producer | undefined
  #consumer: Consumer | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #flushTimer: NodeJS.Timeout | undefined
  #sending: Promise<void> | undefined
  #dirty = false
  #state: 'new' | 'live' | 'left' = 'new'
  /** Aborted by close(): ends a start that waits for Kafka. */
  readonly #closing = new AbortController()
  #publishFailures = 0

  constructor (opts: KafkaLlmQuotaOptions) {
    this.#kafka = opts.kafka
    this.topic = llmQuotaTopic(opts.prefix)
    this.member = opts.member ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
    this.#logger = opts.logger.child({ component: 'llm-quota', member: this.member })
    this.#opts = { heartbeatMs: opts.heartbeatMs ?? 1_000, sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000, spendFlushMs: opts.spendFlushMs ?? 100, replicationFactor: opts.replicationFactor ?? 1 }
    if (!(this.#opts.sessionTimeoutMs > 2 * this.#opts.heartbeatMs)) throw new RangeError(`the session timeout (${this.#opts.sessionTimeoutMs} ms) must be more than two heartbeats (${this.#opts.heartbeatMs} ms)`)
    this.#roster = new Roster({ self: this.member, sessionTimeoutMs: this.#opts.sessionTimeoutMs })
  }

  /**
   * Joins the pipeline's roster and reads it to its end. While Kafka cannot be reached (a broker
   * restarting) it tries again with backoff, for at most `retryLimitMs` (default 5 min).
   */
  async start (endpoints: readonly string[], timeoutMs = 60_000, retryLimitMs = 5 * 60_000): Promise<void> {
    if (this.#state !== 'new') throw new Error('KafkaLlmQuota.start: already started')
    this.#endpoints = [...new Set(endpoints)]
    this.#board.set(new Map(this.#endpoints.map((e) => [e, 1])))
    this.#state = 'live'
    try {
      await retryWhileUnreachable(async () => { await this.#startOnce(timeoutMs) }, {
        limitMs: retryLimitMs,
        signal: this.#closing.signal,
        cleanUp: async () => { await this.#disconnect() },
        logger: this.#logger,
        message: 'Kafka cannot be reached while joining the LLM quota topic; trying again',
      })
    } catch (err) {
      this.#state = 'left'
      throw err
    }
  }

  async #startOnce (timeoutMs: number): Promise<void> {
    {
      const admin = this.#kafka.admin()
      await admin.connect()
      let ends: Array<{ partition: number, high: string, low: string }>
      try {
        await ensureLlmQuotaTopic(admin, this.topic, this.#opts.replicationFactor)
        this.#producer = this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
        await this.#producer.connect()
        // Announce first, read second: the members already there make room while this one catches up.
        await this.#send()
        ends = await admin.fetchTopicOffsets(this.topic)
      } finally {
        await admin.disconnect()
      }
      const position = new Map<number, number>()
      const consumer = this.#kafka.consumer({ groupId: `synthq-llm-quota-${this.topic}-${this.member}`, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 })
      this.#consumer = consumer
      await consumer.connect()
      await consumer.subscribe({ topic: this.topic, fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const key = m.key?.toString('utf8')
            if (key !== undefined && !this.#roster.apply(key, m.value) && this.#roster.skipped === 1) {
              this.#logger.warn({ topic: this.topic, offset: m.offset }, 'a record in the LLM quota topic is not a member record: skipped')
            }
          }
          position.set(batch.partition, Number(batch.lastOffset()) + 1)
          this.#refresh()
        },
      })
      const caughtUp = (): boolean => this.#roster.selfSeen && ends.every((e) => Number(e.high) <= Number(e.low) || (position.get(e.partition) ?? 0) >= Number(e.high))
      const started = Date.now()
      while (!caughtUp()) {
        if (Date.now() - started > timeoutMs) throw new Error(`the LLM quota topic ${this.topic} could not be read within ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 20))
      }
      this.#refresh()
      this.#heartbeat = setInterval(() => {
        this.#refresh()
        void this.#publish()
      }, this.#opts.heartbeatMs)
      this.#heartbeat.unref()
      this.#logger.info({ topic: this.topic, members: this.#live, endpoints: this.#board.endpoints(), spend: this.totals },
        `LLM limits shared by ${this.#live} process(es) of the pipeline (${this.topic}); spent so far $${this.totals.costUsd.toFixed(4)}, ${this.totals.tokens} tokens`)
    }
  }

  /** Recounts the live members; tells the share listeners when a count changed. */
  #refresh (): void {
    const before = this.#live
    this.#live = this.#roster.live().length
    const others = this.#roster.othersSpend()
    this.#others = { costUsd: others.costUsd, tokens: others.tokens }
    const changed = this.#board.set(this.#roster.counts(this.#endpoints))
    if (before !== this.#live && this.#state === 'live') {
      this.#logger.info({ members: this.#live, endpoints: this.#board.endpoints() }, `LLM limits: ${this.#live} live process(es) share the pipeline's rate limits`)
    } else if (changed) {
      this.#logger.debug({ endpoints: this.#board.endpoints() }, 'LLM limits: shares changed')
    }
  }

  #record (): MemberRecord {
    return {
      v: 1, member: this.member, host: hostname(), pid: process.pid,
      state: this.#state === 'left' ? 'left' : 'live',
      endpoints: this.#endpoints,
      spend: { ...this.#own },
      at: Date.now(),
    }
  }

  async #send (): Promise<void> {
    await this.#producer!.send({ topic: this.topic, acks: -1, messages: [{ key: this.member, value: encodeMember(this.#record()) }] })
  }

  /** Writes this member's record now, or once more after the write in progress (records carry totals, so writes coalesce). */
  #publish (): Promise<void> {
    if (!this.#producer) return Promise.resolve()
    if (this.#sending) {
      this.#dirty = true
      return this.#sending
    }
    this.#sending = (async () => {
      do {
        this.#dirty = false
        try {
          await this.#send()
          if (this.#publishFailures > 0) this.#logger.warn({ failures: this.#publishFailures }, 'LLM quota record written again')
          this.#publishFailures = 0
        } catch (err) {
          if (this.#publishFailures++ === 0) this.#logger.warn({ err: (err as Error).message }, 'LLM quota record could not be written; retrying with the next heartbeat')
        }
      } while (this.#dirty && this.#publishFailures === 0)
    })().finally(() => { this.#sending = undefined })
    return this.#sending
  }

  share (endpoint: string): number {
    return this.#board.share(endpoint)
  }

  onChange (listener: () => void): () => void {
    return this.#board.onChange(listener)
  }

  spent (costUsd: number, tokens: number): void {
    this.#own.usd += costUsd
    this.#own.tokens += tokens
    this.#own.requests++
    if (this.#flushTimer || this.#state !== 'live') return
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined
      void this.#publish()
    }, this.#opts.spendFlushMs)
    this.#flushTimer.unref()
  }

  get totals (): SpendTotals {
    return { costUsd: this.#others.costUsd + this.#own.usd, tokens: this.#others.tokens + this.#own.tokens }
  }

  stats (): SharedLimitsStats {
    return { kind: 'kafka', member: this.member, members: this.#live, endpoints: this.#board.endpoints(), totals: this.totals, own: { costUsd: this.#own.usd, tokens: this.#own.tokens } }
  }

  async close (): Promise<void> {
    if (this.#state !== 'live') return
    this.#state = 'left'
    this.#closing.abort()
    clearInterval(this.#heartbeat)
    clearTimeout(this.#flushTimer)
    this.#flushTimer = undefined
    // The last record: final spend, and `left` so the others take this share back now.
    await withTimeout((async () => {
      await this.#sending
      await this.#send()
    })().catch((err: unknown) => { this.#logger.warn({ err: (err as Error).message }, 'LLM quota: the final record could not be written; the others take this share back after the session timeout') }), 10_000)
    await this.#disconnect()
  }

  async #disconnect (): Promise<void> {
    clearInterval(this.#heartbeat)
    await Promise.all([
      this.#consumer && withTimeout(this.#consumer.disconnect().catch(() => {}), 10_000),
      this.#producer && withTimeout(this.#producer.disconnect().catch(() => {}), 10_000),
    ])
    this.#consumer = undefined
    this.#producer = undefined
  }
}
