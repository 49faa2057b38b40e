/**
 * Limits across processes that share one SQLite database (the embedded runner: `synthq run`
 * twice on one `.synthq/embedded/synthq.db`, or `synthq start` beside a `synthq run`).
 *
 * The database is the pipeline. Each process keeps a row in `llm_members` (its endpoints and a
 * heartbeat every second); an endpoint's rate limits are divided among the processes whose row
 * is younger than the session timeout, and a process that stops deletes its row, so its share
 * returns at once. Spend needs nothing new: every process adds its requests to the same
 * `llm_usage` rows, so the budget reads their sum — re-read at most every `refreshMs`, with this
 * process's own spend since then added, so another process's spend is seen within that time.
 * Heartbeats compare wall-clock times of processes on one machine (one database file).
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Statement } from 'better-sqlite3'
import type { LlmDatabase } from '../store.ts'
import { ShareBoard, type SharedLimits, type SharedLimitsStats, type SpendTotals } from './limits.ts'

export interface DatabaseLimitsOptions {
  /** How often a member rewrites its heartbeat and recounts (default 1 s). */
  heartbeatMs?: number
  /** A member whose heartbeat is older than this no longer holds a share (default 10 s). */
  sessionTimeoutMs?: number
  /** Longest time another process's spend goes unseen (default 200 ms). */
  refreshMs?: number
  member?: string
  wallNow?: () => number
}

export class DatabaseLimits implements SharedLimits {
  readonly member: string
  readonly #opts: Required<Omit<DatabaseLimitsOptions, 'member'>>
  readonly #board = new ShareBoard()
  #endpoints: string[] = []
  #live = 1
  readonly #own = { costUsd: 0, tokens: 0 }
  /** The ledger's sum when last read, plus this process's spend since. */
  #totals: SpendTotals = { costUsd: 0, tokens: 0 }
  #readAt = -Infinity
  #timer: NodeJS.Timeout | undefined
  #started = false
  readonly #sum: Statement<[], { cost: number | null, tokens: number | null }>
  readonly #beat: Statement<[string, number, string, number]>
  readonly #members: Statement<[number], { member: string, endpoints: string }>
  readonly #leave: Statement<[string]>

  constructor (db: LlmDatabase, opts: DatabaseLimitsOptions = {}) {
    this.member = opts.member ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
    this.#opts = { heartbeatMs: opts.heartbeatMs ?? 1_000, sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000, refreshMs: opts.refreshMs ?? 200, wallNow: opts.wallNow ?? Date.now }
    db.exec(`CREATE TABLE IF NOT EXISTS llm_members (
      member TEXT PRIMARY KEY,
      pid INTEGER NOT NULL,
      endpoints TEXT NOT NULL,
      heartbeat_at INTEGER NOT NULL
    )`)
    this.#sum = db.prepare('SELECT SUM(cost_usd) AS cost, SUM(prompt_tokens + completion_tokens) AS tokens FROM llm_usage')
    this.#beat = db.prepare('INSERT OR REPLACE INTO llm_members (member, pid, endpoints, heartbeat_at) VALUES (?, ?, ?, ?)')
    this.#members = db.prepare('SELECT member, endpoints FROM llm_members WHERE heartbeat_at > ?')
    this.#leave = db.prepare('DELETE FROM llm_members WHERE member = ?')
  }

  async start (endpoints: readonly string[]): Promise<void> {
    if (this.#started) throw new Error('DatabaseLimits.start: already started')
    this.#started = true
    this.#endpoints = [...new Set(endpoints)]
    this.#tick()
    this.#readTotals()
    this.#timer = setInterval(() => this.#tick(), this.#opts.heartbeatMs)
    this.#timer.unref()
  }

  #tick (): void {
    const now = this.#opts.wallNow()
    try {
      this.#beat.run(this.member, process.pid, JSON.stringify(this.#endpoints), now)
      const counts = new Map(this.#endpoints.map((e) => [e, 0]))
      let live = 0
      for (const row of this.#members.all(now - this.#opts.sessionTimeoutMs)) {
        live++
        let eps: unknown
        try { eps = JSON.parse(row.endpoints) } catch { eps = [] }
        for (const e of new Set(Array.isArray(eps) ? eps as string[] : [])) if (counts.has(e)) counts.set(e, counts.get(e)! + 1)
      }
      this.#live = Math.max(1, live)
      this.#board.set(counts)
    } catch {
      // A busy or closed database: keep the shares known, try again at the next heartbeat.
    }
  }

  #readTotals (): void {
    const t = this.#sum.get()
    this.#totals = { costUsd: t?.cost ?? 0, tokens: t?.tokens ?? 0 }
    this.#readAt = performance.now()
  }

  share (endpoint: string): number {
    return this.#board.share(endpoint)
  }

  onChange (listener: () => void): () => void {
    return this.#board.onChange(listener)
  }

  spent (costUsd: number, tokens: number): void {
    // The ledger row is already written (UsageLedger.recordRequest); until the next read, add it here.
    this.#own.costUsd += costUsd
    this.#own.tokens += tokens
    this.#totals = { costUsd: this.#totals.costUsd + costUsd, tokens: this.#totals.tokens + tokens }
  }

  get totals (): SpendTotals {
    if (performance.now() - this.#readAt >= this.#opts.refreshMs) {
      try { this.#readTotals() } catch { /* keep the last sum */ }
    }
    return { ...this.#totals }
  }

  stats (): SharedLimitsStats {
    return { kind: 'database', member: this.member, members: this.#live, endpoints: this.#board.endpoints(), totals: this.totals, own: { ...this.#own } }
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    if (!this.#started) return
    this.#started = false
    try { this.#leave.run(this.member) } catch { /* the database is gone: the row times out */ }
  }
}
