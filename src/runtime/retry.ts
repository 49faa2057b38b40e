/**
 * Retries at two levels. A processor call: exponential backoff with jitter (p-retry), only for
 * errors that say they are transient; defaults suit LLM endpoints, NODE_ENV=test shortens the
 * waits. A whole record whose failure is not its own (runUntilDone): tried again by either
 * runner's stage until the infrastructure is back.
 */
import pRetry, { AbortError } from 'p-retry'
import { SynthqError } from '../errors.ts'
import type { Logger } from '../log.ts'

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number
  minTimeoutMs: number
  maxTimeoutMs: number
  factor: number
}

export const DEFAULT_RETRY: RetryPolicy = process.env.NODE_ENV === 'test'
  ? { retries: 3, minTimeoutMs: 5, maxTimeoutMs: 50, factor: 2 }
  : { retries: 5, minTimeoutMs: 500, maxTimeoutMs: 30_000, factor: 2 }

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** Transient: a SynthqError (or any error) marked retriable, or a network failure. */
export function isRetriable (err: unknown): boolean {
  if (err instanceof SynthqError) return err.retriable
  if (typeof err !== 'object' || err === null) return false
  const e = err as { retriable?: unknown, code?: unknown }
  if (typeof e.retriable === 'boolean') return e.retriable
  return typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)
}

export interface Attempted<T> { value: T, attempts: number }

export class RetriesExhausted extends Error {
  readonly attempts: number
  constructor (cause: unknown, attempts: number) {
    super(`gave up after ${attempts} attempts: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.name = 'RetriesExhausted'
    this.attempts = attempts
  }
}

export class NotRetried extends Error {
  readonly attempts: number
  constructor (cause: unknown, attempts: number) {
    super((cause as Error)?.message ?? String(cause), { cause })
    this.name = 'NotRetried'
    this.attempts = attempts
  }
}

/** Runs `fn`, retrying transient failures; throws RetriesExhausted or NotRetried (with the attempt count). */
export async function withRetry<T> (fn: () => Promise<T>, policy: RetryPolicy, signal?: AbortSignal): Promise<Attempted<T>> {
  let attempts = 0
  try {
    const value = await pRetry(async () => {
      attempts++
      try {
        return await fn()
      } catch (err) {
        if (!isRetriable(err)) throw new AbortError(err as Error)
        throw err
      }
    }, {
      retries: policy.retries,
      factor: policy.factor,
      minTimeout: policy.minTimeoutMs,
      maxTimeout: policy.maxTimeoutMs,
      randomize: true,
      ...(signal ? { signal } : {}),
    })
    return { value, attempts }
  } catch (err) {
    if (signal?.aborted) throw err
    if (attempts > policy.retries && isRetriable(err)) throw new RetriesExhausted(err, attempts)
    throw new NotRetried(err, attempts)
  }
}

/** The wait before a record's next try after its n-th infrastructure failure (from 0): 200 ms doubling to 30 s. */
export function infraRetryWaitMs (attempt: number): number {
  return Math.min(30_000, 200 * 2 ** Math.min(attempt, 8))
}

export interface RecordRetryOptions {
  /** Checked before each try: false ends the loop (the partition moved, the stage halted or stops). */
  mayStart: () => boolean
  /** Checked after a try that succeeded: false drops its outcome (abandoned meanwhile). */
  mayKeep: () => boolean
  /** Aborted (at shutdown, or the partition released): a failure then ends the loop quietly. */
  aborted: () => boolean
  /**
   * Called first with every failure; true when it stops the stage (a StageHaltedError, which a
   * retry cannot fix): the loop ends and the record stays uncommitted.
   */
  halts: (err: unknown) => boolean
  logger: Logger
  /** Log fields naming the record. */
  record: Record<string, unknown>
  /** Give up once the record has kept failing this long (default: never); `onGiveUp` says why. */
  limitMs?: number
  onGiveUp?: (err: unknown, limitMs: number) => void
  /** Before each wait (counts infrastructure retries). */
  onRetry?: () => void
}

/**
 * Runs one record through the stage engine until it has an outcome. The engine has already
 * retried what the record's own processing may fix and dead-lettered what it cannot, so what
 * reaches here is not the record's fault (the registry unreachable, say): the record is tried
 * again, with backoff, rather than dead-lettered — its partition waits — until it succeeds, the
 * stage halts or stops, or `limitMs` passes. Returns the outcome, or undefined when there is
 * none to commit. Shared by the embedded and the Kafka stage.
 */
export async function runUntilDone<T> (run: () => Promise<T>, o: RecordRetryOptions): Promise<T | undefined> {
  const started = Date.now()
  for (let attempt = 0; ; attempt++) {
    if (!o.mayStart()) return undefined
    try {
      const outcome = await run()
      return o.mayKeep() ? outcome : undefined
    } catch (err) {
      if (o.aborted()) return undefined
      if (o.halts(err)) return undefined
      // Not the record's fault: wait and try it again — for a while, where there is a limit.
      // Past it the stage stops rather than block its partition unseen.
      if (o.limitMs !== undefined && Date.now() - started > o.limitMs) {
        o.onGiveUp?.(err, o.limitMs)
        return undefined
      }
      o.onRetry?.()
      const wait = infraRetryWaitMs(attempt)
      o.logger.error({ ...o.record, err: (err as Error).message, retryInMs: wait }, 'infrastructure error while processing; retrying the record')
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}
