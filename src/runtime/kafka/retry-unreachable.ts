/**
 * Starting against infrastructure that is down for a moment (a broker restarting, the registry
 * redeploying): the start is tried again with backoff instead of failing the process, which an
 * orchestrator would otherwise restart in a tight loop. Shared by the runner's start and the LLM
 * quota roster's.
 */
import pRetry from 'p-retry'
import type { Logger } from '../../log.ts'
import { isUnreachableError } from './client.ts'

export interface UnreachableRetryOptions {
  /** Longest time spent trying; a wait that would end past it is not begun. */
  limitMs: number
  /** Ends the waiting at once (a stop requested meanwhile); the start fails with the last error. */
  signal?: AbortSignal
  /** Undoes a failed attempt's partial start (clients connected, consumers joined) before the next. */
  cleanUp: () => Promise<void>
  logger: Logger
  /** The warning logged before each wait. */
  message: string
}

/** The wait after the n-th failed attempt: 1, 2, 4, 8, 16, then 30 s. */
const FIRST_WAIT_MS = 1_000
const LONGEST_WAIT_MS = 30_000
const waitAfter = (failedAttempts: number): number => Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** (failedAttempts - 1))

/**
 * Runs `attempt` until it succeeds. Outages (`isUnreachableError`) are tried again after 1, 2,
 * 4 … 30 s; anything else (bad credentials, an incompatible schema), the limit, or `signal`
 * ends it with the attempt's error.
 */
export async function retryWhileUnreachable<T> (attempt: () => Promise<T>, o: UnreachableRetryOptions): Promise<T> {
  const began = Date.now()
  let last: unknown
  try {
    return await pRetry(attempt, {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: FIRST_WAIT_MS,
      factor: 2,
      maxTimeout: LONGEST_WAIT_MS,
      ...(o.signal ? { signal: o.signal } : {}),
      onFailedAttempt: async ({ error }) => {
        last = error
        await o.cleanUp().catch(() => {})
      },
      shouldRetry: ({ error, attemptNumber }) => {
        const wait = waitAfter(attemptNumber)
        if (!isUnreachableError(error) || o.signal?.aborted === true || Date.now() - began + wait > o.limitMs) return false
        o.logger.warn({ err: error.message, attempt: attemptNumber, retryInMs: wait }, o.message)
        return true
      },
    })
  } catch (err) {
    // An abort rejects with the signal's reason; the caller wants the outage that was waited out.
    throw o.signal?.aborted === true && last !== undefined ? last : err
  }
}
