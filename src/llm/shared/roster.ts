/**
 * The members of a pipeline and what each has spent, as read from their records: one record per
 * member, rewritten on every heartbeat and spend change (a compacted topic keeps the last one per
 * member, so the log is the ledger). Pure: the transport (src/runtime/kafka/llm-quota.ts) feeds
 * records in and asks who is live.
 *
 * A member is live while its last record says `live` and is younger than the session timeout.
 * The age of a record is measured on this process's monotonic clock from when it was read, less
 * how old it already was then (its wall-clock `at`, so a record read at start-up from a member
 * that died an hour ago is not taken for a live one). Ages are judged against the last time this
 * process read its own record back rather than against now: a reader that falls behind or loses
 * the cluster sees nobody's heartbeats, its own included, and keeps the members it knew instead
 * of concluding it is alone and taking every share.
 */
import { monotonicNow, type Now } from '../flow/clock.ts'
import type { SpendTotals } from './limits.ts'

export interface MemberRecord {
  v: 1
  member: string
  host: string
  pid: number
  state: 'live' | 'left'
  /** Endpoint keys (shared/limits.ts endpointKey) the member calls. */
  endpoints: string[]
  /** What the member has spent since it started. */
  spend: { usd: number, tokens: number, requests: number }
  /** Wall-clock ms when the record was written. */
  at: number
}

export function encodeMember (r: MemberRecord): Buffer {
  return Buffer.from(JSON.stringify(r), 'utf8')
}

/** The record in `value`, or undefined when it is not one (written by something else). */
export function decodeMember (value: Buffer): MemberRecord | undefined {
  let r: unknown
  try { r = JSON.parse(value.toString('utf8')) } catch { return undefined }
  if (!r || typeof r !== 'object') return undefined
  const m = r as Partial<MemberRecord>
  const finite = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n) && n >= 0
  if (m.v !== 1 || typeof m.member !== 'string' || (m.state !== 'live' && m.state !== 'left') || !Array.isArray(m.endpoints) ||
    !m.endpoints.every((e) => typeof e === 'string') || !m.spend || !finite(m.spend.usd) || !finite(m.spend.tokens) || !finite(m.at)) return undefined
  return m as MemberRecord
}

interface Seen { record: MemberRecord, seenAt: number }

export interface RosterOptions {
  self: string
  sessionTimeoutMs: number
  now?: Now
  wallNow?: () => number
}

export class Roster {
  readonly self: string
  readonly #timeoutMs: number
  readonly #now: Now
  readonly #wall: () => number
  readonly #members = new Map<string, Seen>()
  readonly #startedAt: number
  #selfSeenAt: number | undefined
  #skipped = 0

  constructor (opts: RosterOptions) {
    this.self = opts.self
    this.#timeoutMs = opts.sessionTimeoutMs
    this.#now = opts.now ?? monotonicNow
    this.#wall = opts.wallNow ?? Date.now
    this.#startedAt = this.#now()
  }

  /** One record read from the log (`value` null: the member's record was deleted). Returns false for a record that is not one. */
  apply (key: string, value: Buffer | null): boolean {
    if (value === null) {
      this.#members.delete(key)
      return true
    }
    const record = decodeMember(value)
    if (!record || record.member !== key) {
      this.#skipped++
      return false
    }
    const t = this.#now()
    if (key === this.self) this.#selfSeenAt = t
    const age = Math.max(0, this.#wall() - record.at)
    this.#members.set(key, { record, seenAt: t - age })
    return true
  }

  /** Records that were not member records. */
  get skipped (): number {
    return this.#skipped
  }

  /** True once this process has read its own record back: the log is readable and read up to it. */
  get selfSeen (): boolean {
    return this.#selfSeenAt !== undefined
  }

  #live (id: string, s: Seen): boolean {
    if (id === this.self) return true
    if (s.record.state !== 'live') return false
    const reference = Math.max(this.#selfSeenAt ?? this.#startedAt, this.#startedAt)
    return s.seenAt > reference - this.#timeoutMs
  }

  /** Ids of the live members, this one included. */
  live (): string[] {
    const ids = new Set([this.self])
    for (const [id, s] of this.#members) if (this.#live(id, s)) ids.add(id)
    return [...ids]
  }

  /** Live members calling each of `endpoints` (this process counted for each: it calls them all). */
  counts (endpoints: readonly string[]): Map<string, number> {
    const counts = new Map(endpoints.map((e) => [e, 1]))
    for (const [id, s] of this.#members) {
      if (id === this.self || !this.#live(id, s)) continue
      for (const e of new Set(s.record.endpoints)) if (counts.has(e)) counts.set(e, counts.get(e)! + 1)
    }
    return counts
  }

  /** What every other member (live or not, this run or earlier) has spent. */
  othersSpend (): SpendTotals & { requests: number } {
    let costUsd = 0
    let tokens = 0
    let requests = 0
    for (const [id, s] of this.#members) {
      if (id === this.self) continue
      costUsd += s.record.spend.usd
      tokens += s.record.spend.tokens
      requests += s.record.spend.requests ?? 0
    }
    return { costUsd, tokens, requests }
  }

  /** Members with a record, live or not. */
  get size (): number {
    return this.#members.size
  }
}
