/**
 * Where ingested records go: the targets themselves are transport implementations
 * (src/runtime/embedded/ingest-target.ts, src/runtime/kafka/ingest-target.ts) behind the
 * runtime's seam; the dry run, which writes nothing, is ingest's own.
 */
import type { BatchResult, IngestTarget, KeyedValue } from '../runtime/transport.ts'

export type { BatchResult, IngestTarget, KeyedValue }

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
