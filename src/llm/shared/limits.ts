/**
 * Limits across workers: what the LLM client needs from the pipeline's other processes.
 *
 * An endpoint's requests/min and tokens/min belong to its key, and the budget to the pipeline,
 * not to one process: four Kafka workers of one pipeline must not send four times the key's
 * limit nor spend four budgets. A `SharedLimits` gives the client
 *
 * - its **share** of each endpoint's rate limits: 1 / the live processes of the pipeline that
 *   call the endpoint, recomputed as processes come and go (a process that dies stops counting
 *   after a session timeout, one that stops cleanly at once);
 * - the pipeline's **spend**: every process's, including earlier runs', so the budget is one
 *   budget for the pipeline and survives restarts.
 *
 * Implementations: `DatabaseLimits` (./database-limits.ts) for processes sharing one SQLite
 * database (the embedded runner), `KafkaLlmQuota` (src/runtime/kafka/llm-quota.ts) for the
 * workers of a pipeline on Kafka. The client works without one: then it is alone (share 1) and
 * its budget covers its own database's ledger. Processors and topologies never see any of this.
 */
import type { EndpointSettings } from '../config.ts'

export interface SpendTotals { costUsd: number, tokens: number }

/** Who shares what, for status and tests. */
export interface SharedLimitsStats {
  /** 'kafka' or 'database'. */
  kind: string
  /** This process's id among the pipeline's members. */
  member: string
  /** Live members of the pipeline (this one included). */
  members: number
  /** Per endpoint key: live members calling it, and this process's share of its limits. */
  endpoints: Record<string, { members: number, share: number }>
  /** The pipeline's spend (all members, all runs). */
  totals: SpendTotals
  /** This process's spend since it started. */
  own: SpendTotals
}

export interface SharedLimits {
  /**
   * Joins the pipeline calling these endpoints (keys from `endpointKey`) and resolves once the
   * members and the spend are known. Call before any request.
   */
  start (endpoints: readonly string[]): Promise<void>
  /** This process's share (0, 1] of an endpoint's rate limits. */
  share (endpoint: string): number
  /** `listener` runs whenever a share may have changed; returns its removal. */
  onChange (listener: () => void): () => void
  /** This process spent `costUsd` and `tokens` on one request. */
  spent (costUsd: number, tokens: number): void
  /** The pipeline's spend: every member, every earlier run. */
  readonly totals: SpendTotals
  stats (): SharedLimitsStats
  /** Leaves the pipeline (its share returns to the others at once) after recording the final spend. */
  close (): Promise<void>
}

/**
 * An endpoint's identity across processes: its name and base URL (never the key). Processes
 * configured alike give the same key; two names for one URL count as two endpoints.
 */
export function endpointKey (endpoint: Pick<EndpointSettings, 'name' | 'baseUrl'>): string {
  return `${endpoint.name} ${endpoint.baseUrl}`
}

/** The share each of `members` processes gets: 1 / members, at least one member (this one). */
export function shareOf (members: number): number {
  return 1 / Math.max(1, members)
}

/** Listeners of share changes, told only when a count really changed. */
export class ShareBoard {
  #counts = new Map<string, number>()
  readonly #listeners = new Set<() => void>()

  /** Sets each endpoint's member count; tells the listeners when one changed. */
  set (counts: ReadonlyMap<string, number>): boolean {
    let changed = counts.size !== this.#counts.size
    for (const [k, n] of counts) if (this.#counts.get(k) !== n) changed = true
    this.#counts = new Map(counts)
    if (changed) for (const l of this.#listeners) l()
    return changed
  }

  members (endpoint: string): number {
    return Math.max(1, this.#counts.get(endpoint) ?? 1)
  }

  share (endpoint: string): number {
    return shareOf(this.members(endpoint))
  }

  onChange (listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  endpoints (): Record<string, { members: number, share: number }> {
    return Object.fromEntries([...this.#counts.keys()].map((k) => [k, { members: this.members(k), share: this.share(k) }]))
  }
}
