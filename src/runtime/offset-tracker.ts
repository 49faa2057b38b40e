/**
 * Which records of one input partition are done, and what the next commit may cover.
 *
 * Records run concurrently and finish out of order. A commit moves the partition's offset to
 * the end of the *contiguous* completed prefix — never past unfinished work — and also carries,
 * in the offset commit's metadata, the records completed beyond that point (whose outputs the
 * same commit includes). After a crash or a rebalance the new owner reads the metadata and
 * skips those records instead of redoing them: no output is lost or duplicated, as in
 * Confluent's Parallel Consumer.
 *
 * Offsets are tracked as the records actually received, not as an integer range: transaction
 * markers and aborted records leave gaps in a partition's offsets.
 */

/** Kafka's default `offset.metadata.max.bytes`. */
export const KAFKA_METADATA_LIMIT = 4096
/** Above this many metadata bytes a partition takes no new records until its prefix advances. */
export const METADATA_INTAKE_LIMIT = 3072

const PREFIX = 'sq1:'

/** Completed offsets beyond `base`, as runs of consecutive offsets in base 36: "sq1:0.3,7.1". */
export function encodeCompleted (base: number, offsets: number[]): string {
  if (offsets.length === 0) return ''
  const sorted = [...offsets].sort((a, b) => a - b)
  const runs: string[] = []
  let start = sorted[0]!
  let prev = start
  for (let i = 1; i <= sorted.length; i++) {
    const o = sorted[i]
    if (o !== undefined && o === prev + 1) { prev = o; continue }
    runs.push(`${(start - base).toString(36)}.${(prev - start + 1).toString(36)}`)
    if (o !== undefined) { start = o; prev = o }
  }
  return PREFIX + runs.join(',')
}

export function decodeCompleted (base: number, metadata: string | null | undefined): number[] {
  if (!metadata || !metadata.startsWith(PREFIX)) return []
  const out: number[] = []
  for (const run of metadata.slice(PREFIX.length).split(',')) {
    const [rel, len] = run.split('.')
    const start = base + parseInt(rel ?? '', 36)
    const n = parseInt(len ?? '', 36)
    if (!Number.isFinite(start) || !Number.isFinite(n)) throw new Error(`malformed offset metadata run "${run}"`)
    for (let i = 0; i < n; i++) out.push(start + i)
  }
  return out
}

export interface CommitPlan {
  /** The offset to commit: the next record to read after a restart. */
  offset: number
  /** Newly completed records whose outputs this commit must include. */
  include: number[]
  /** Completed records beyond `offset`, for the commit's metadata. */
  metadata: string
}

type State = 'running' | 'done' | 'committed'

export class PartitionProgress {
  #committed: number
  /** Received records at or after the commit point, in offset order. */
  #pending: number[] = []
  #head = 0
  readonly #state = new Map<number, State>()
  /** Records already done before this owner (from the commit metadata). */
  readonly #preDone: Set<number>
  /** metadataBytes() is asked before every record starts: cached until the state changes. */
  #metadataBytes: number | undefined

  constructor (committed: number, completedBeyond: number[] = []) {
    this.#committed = committed
    this.#preDone = new Set(completedBeyond)
  }

  get committed (): number { return this.#committed }
  /** Records received and not yet covered by a commit. */
  get uncommitted (): number { return this.#pending.length - this.#head }

  /**
   * A record arrived. 'skip' when an earlier owner already committed its outputs (below the
   * commit point, or listed in the metadata); 'process' otherwise.
   */
  admit (offset: number): 'process' | 'skip' {
    if (offset < this.#committed || this.#state.has(offset)) return 'skip'
    this.#metadataBytes = undefined
    this.#pending.push(offset)
    if (this.#preDone.has(offset)) {
      this.#state.set(offset, 'committed')
      return 'skip'
    }
    this.#state.set(offset, 'running')
    return 'process'
  }

  complete (offset: number): void {
    if (this.#state.get(offset) === 'running') {
      this.#state.set(offset, 'done')
      this.#metadataBytes = undefined
    }
  }

  /** Metadata size if committed now: intake stops on the partition while it is too large. */
  metadataBytes (): number {
    this.#metadataBytes ??= this.#plan(Infinity)?.metadata.length ?? 0
    return this.#metadataBytes
  }

  /** What to commit now, or undefined when nothing changed. */
  plan (limit = KAFKA_METADATA_LIMIT): CommitPlan | undefined {
    return this.#plan(limit)
  }

  #plan (limit: number): CommitPlan | undefined {
    let i = this.#head
    let offset = this.#committed
    const include: number[] = []
    for (; i < this.#pending.length; i++) {
      const o = this.#pending[i]!
      const s = this.#state.get(o)
      if (s === 'running') break
      if (s === 'done') include.push(o)
      offset = o + 1
    }
    const beyondCommitted: number[] = []
    const beyondDone: number[] = []
    for (; i < this.#pending.length; i++) {
      const o = this.#pending[i]!
      const s = this.#state.get(o)
      if (s === 'committed') beyondCommitted.push(o)
      else if (s === 'done') beyondDone.push(o)
    }
    // Newly done records beyond the prefix ride along only while the metadata fits; the rest
    // wait for a later commit. Records an earlier commit covered must stay listed.
    let metadata = encodeCompleted(offset, [...beyondCommitted, ...beyondDone])
    while (metadata.length > limit && beyondDone.length) {
      beyondDone.splice(Math.ceil(beyondDone.length / 2))
      metadata = encodeCompleted(offset, [...beyondCommitted, ...beyondDone])
    }
    if (include.length === 0 && beyondDone.length === 0 && offset === this.#committed) return undefined
    return { offset, include: [...include, ...beyondDone], metadata }
  }

  /** The plan's commit succeeded. */
  committedPlan (plan: CommitPlan): void {
    this.#metadataBytes = undefined
    for (const o of plan.include) this.#state.set(o, 'committed')
    while (this.#head < this.#pending.length && this.#pending[this.#head]! < plan.offset) {
      this.#state.delete(this.#pending[this.#head]!)
      this.#preDone.delete(this.#pending[this.#head]!)
      this.#head++
    }
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head)
      this.#head = 0
    }
    this.#committed = plan.offset
  }
}
