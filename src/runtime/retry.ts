/**
 * Retry policy for a processor call: exponential backoff with jitter (p-retry), only for errors
 * that say they are transient. Defaults suit LLM endpoints; NODE_ENV=test shortens the waits.
 */
import pRetry, { AbortError } from 'p-retry'
import { SynthqError } from '../errors.ts'

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
