/**
 * Cooperative turns for CPU-bound record work. A processor such as document-hygiene spends a
 * millisecond or two per record in synchronous code (normalising, tokenizing), and a stage keeps
 * hundreds of records in flight: their work runs as promise continuations, which Node drains
 * before it looks at any socket. A backlog of 500 documents then holds the event loop for a
 * second or more, and the requests the next stage has ready to send (its LLM calls) wait behind
 * it — at the start of a run, that is a second of an idle GPU.
 *
 * `inTurn(work)` runs such work: at once while the current turn of the event loop has run for
 * less than `TURN_MS`, otherwise queued for a later turn, after I/O has had its chance. Queued work
 * runs in order, `TURN_MS` of it per turn, so each turn does about that much of
 * this work and no more. The same idea as React's scheduler yielding every 5 ms
 * (https://github.com/facebook/react/tree/main/packages/scheduler), at the granularity of records.
 */
import { performance } from 'node:perf_hooks'

/** CPU time a turn may spend on record work before the rest waits for the next turn. */
export const TURN_MS = 10

let turnStart = -1
const queue: Array<() => void> = []
let releaseScheduled = false

/** Time since the current turn began (the first call in it); a marker on the next turn ends it. */
function turnElapsed (): number {
  const now = performance.now()
  if (turnStart < 0) {
    turnStart = now
    setImmediate(() => { turnStart = -1 })
  }
  return now - turnStart
}

function scheduleRelease (): void {
  if (releaseScheduled) return
  releaseScheduled = true
  setImmediate(release)
}

/** A later turn: queued work in order, while the turn has time left. */
function release (): void {
  releaseScheduled = false
  do queue.shift()!()
  while (queue.length > 0 && turnElapsed() < TURN_MS)
  if (queue.length > 0) scheduleRelease()
}

/**
 * Runs `work` (synchronous, or the synchronous start of an async call) now if this turn has time
 * left, else on a later turn; its result or error either way.
 */
export function inTurn<T> (work: () => T): T | Promise<T> {
  if (queue.length === 0 && turnElapsed() < TURN_MS) return work()
  return new Promise<T>((resolve, reject) => {
    queue.push(() => {
      try {
        resolve(work())
      } catch (err) {
        reject(err)
      }
    })
    scheduleRelease()
  })
}
