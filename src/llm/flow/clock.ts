/**
 * Time for the flow-control primitives. Each takes `now` and `setTimer` so tests can run minutes
 * of simulated time in milliseconds. The defaults are monotonic (performance.now): a wall-clock
 * step must neither refill a bucket nor end a cooldown early.
 */

/** Milliseconds on a monotonic scale; only differences matter. */
export type Now = () => number

/** Calls `fn` once after `ms`; the returned function cancels it. */
export type SetTimer = (fn: () => void, ms: number) => () => void

export const monotonicNow: Now = () => performance.now()

/** setTimeout clamps larger delays to 1 ms; callers re-check the time when woken anyway. */
const MAX_DELAY_MS = 2 ** 31 - 1

/**
 * A plain setTimeout. The primitives only arm one while someone is waiting and cancel it as soon
 * as nobody is, so it keeps the process alive exactly as long as an awaited promise needs it.
 */
export const realTimer: SetTimer = (fn, ms) => {
  const t = setTimeout(fn, Math.min(MAX_DELAY_MS, Math.max(0, ms)))
  return () => clearTimeout(t)
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(t)
      reject(signal?.reason ?? new Error('aborted'))
    }
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
