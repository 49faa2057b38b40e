/**
 * Per-record concurrency independent of partitions: up to `limit` tasks run at once across all
 * lanes (partitions). Each lane starts its tasks in arrival (offset) order; lanes take turns, so
 * a busy partition cannot starve the others. A lane can be blocked (its commit metadata is
 * full) or dropped (its partition was revoked).
 */
import { setMaxListeners } from 'node:events'

export type Task = () => Promise<void>

interface Lane {
  queue: Task[]
  head: number
  blocked: () => boolean
}

export class Scheduler {
  readonly limit: number
  #inFlight = 0
  readonly #lanes = new Map<string, Lane>()
  #order: string[] = []
  #cursor = 0
  #idleWaiters: Array<() => void> = []

  constructor (limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`concurrency must be a positive integer, got ${limit}`)
    this.limit = limit
  }

  get inFlight (): number { return this.#inFlight }

  get queued (): number {
    let n = 0
    for (const l of this.#lanes.values()) n += l.queue.length - l.head
    return n
  }

  queuedIn (lane: string): number {
    const l = this.#lanes.get(lane)
    return l ? l.queue.length - l.head : 0
  }

  addLane (lane: string, blocked: () => boolean = () => false): void {
    if (this.#lanes.has(lane)) return
    this.#lanes.set(lane, { queue: [], head: 0, blocked })
    this.#order.push(lane)
  }

  /** Removes a lane and its queued (not started) tasks; returns how many were dropped. */
  dropLane (lane: string): number {
    const l = this.#lanes.get(lane)
    if (!l) return 0
    this.#lanes.delete(lane)
    this.#order = this.#order.filter((x) => x !== lane)
    this.#notifyIdle()
    return l.queue.length - l.head
  }

  push (lane: string, task: Task): void {
    const l = this.#lanes.get(lane)
    if (!l) throw new Error(`unknown lane ${lane}`)
    l.queue.push(task)
    this.pump()
  }

  /** Starts queued tasks while there is room; call again when a lane unblocks. */
  pump (): void {
    let idleLanes = 0
    while (this.#inFlight < this.limit && this.#order.length && idleLanes < this.#order.length) {
      this.#cursor %= this.#order.length
      const name = this.#order[this.#cursor++]!
      const lane = this.#lanes.get(name)!
      if (lane.head >= lane.queue.length || lane.blocked()) { idleLanes++; continue }
      idleLanes = 0
      const task = lane.queue[lane.head++]!
      if (lane.head > 1024 && lane.head * 2 > lane.queue.length) { lane.queue = lane.queue.slice(lane.head); lane.head = 0 }
      this.#inFlight++
      void task().finally(() => {
        this.#inFlight--
        this.pump()
        this.#notifyIdle()
      })
    }
  }

  /** Resolves when no task is running (queued ones may remain: used when draining). */
  whenNoneRunning (): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  #notifyIdle (): void {
    if (this.#inFlight !== 0) return
    const w = this.#idleWaiters
    this.#idleWaiters = []
    for (const r of w) r()
  }
}

/** True if `p` settles within `ms`, false otherwise; the timer never outlives the wait. */
export async function withDeadline (p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([p.then(() => true), expired])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * An AbortController whose signal is shared by every record in flight on a lane: each record's
 * work (an LLM call listens through several layers) adds a listener, so Node's default warning
 * at 11 listeners would fire on ordinary concurrency.
 */
export function sharedAbortController (): AbortController {
  const ac = new AbortController()
  setMaxListeners(0, ac.signal)
  return ac
}
