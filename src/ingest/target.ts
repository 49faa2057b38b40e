/**
 * Where ingested records go. Every target writes in batches and reports, per batch, which keys
 * it did not write because the topic already holds them — so deduplication is decided where
 * the data is (the database, the topic), not by a local file that another machine cannot see.
 */
export interface KeyedValue {
  key: string
  value: unknown
}

export interface BatchResult {
  written: number
  /** Keys already in the topic (or earlier in this run) and therefore not written. */
  duplicates: string[]
}

export interface IngestTarget {
  /** The Kafka (or embedded) topic name. */
  readonly topic: string
  /** Where the topic lives, for the summary (never credentials). */
  readonly where: string
  /** What dedup means on this target, for the summary. */
  readonly dedupNote: string
  write (records: readonly KeyedValue[]): Promise<BatchResult>
  close (): Promise<void>
}

/** --dry-run: nothing is written; duplicates are only those within this run. */
export class DryRunTarget implements IngestTarget {
  readonly topic: string
  readonly where = 'no database or cluster (--dry-run)'
  readonly dedupNote = 'dry run: duplicates counted within this run only; the topic is not read'
  readonly #seen = new Set<string>()

  constructor (topic: string) {
    this.topic = topic
  }

  async write (records: readonly KeyedValue[]): Promise<BatchResult> {
    const duplicates: string[] = []
    let written = 0
    for (const r of records) {
      if (this.#seen.has(r.key)) duplicates.push(r.key)
      else { this.#seen.add(r.key); written++ }
    }
    return { written, duplicates }
  }

  async close (): Promise<void> {}
}
