/**
 * The contract of a stateful processor: one whose output depends on everything it has seen
 * before (the sink's reservoir and topic model), so its state must be checkpointed together
 * with the input offsets it covers — restored after a crash, the state has counted each input
 * exactly once.
 *
 * Like Processor it never sees the transport. Differences:
 * - records come in batches, in input order per partition, one batch at a time (no concurrency:
 *   the state is a function of the order), so a batch can share one embeddings request;
 * - the runtime asks for snapshot() at each checkpoint and writes it, the outputs accumulated
 *   since the last checkpoint and the input offsets in one transaction (a Kafka transaction, or
 *   one SQLite transaction on the embedded runner);
 * - after a failure, a rebalance or a restart the runtime calls restore() with the last
 *   checkpoint and re-reads the input from its offsets: anything processed since is redone.
 *   A processor therefore needs no error handling of its own beyond rejecting bad records: an
 *   exception rolls the whole batch back.
 *
 * Kafka Streams does the same with a changelog topic and EOS commits; here the state is one
 * snapshot, because the sink's state (a reservoir, centroids, counters) is small and rewriting
 * it whole every few seconds is simpler than a changelog of its every change.
 */
import type { InputRecord, OutputRecord, ProcessorContext } from './processor.ts'

export interface RejectedRecord {
  record: InputRecord
  reason: string
  errorClass?: string
}

export interface BatchResult {
  outputs: OutputRecord[]
  /** Records that cannot be processed: the runtime dead-letters them with the reason. */
  rejected: RejectedRecord[]
}

export type StatefulContext = Omit<ProcessorContext, 'signal'>

export interface StatefulProcessor<In = unknown> {
  readonly name: string
  init? (ctx: StatefulContext): void | Promise<void>
  /** Replaces the state with a checkpoint's (null: start empty). Called before any batch. */
  restore (state: Buffer | null, ctx: StatefulContext): void
  processBatch (records: ReadonlyArray<InputRecord<In>>, ctx: ProcessorContext): Promise<BatchResult>
  /** Time-driven work (e.g. a warm-up that reached its deadline); called when input is idle. */
  punctuate? (now: number, ctx: StatefulContext): OutputRecord[]
  /** End of input (a bounded run): release whatever is held back waiting for more records. */
  flush? (ctx: StatefulContext): OutputRecord[]
  /** The whole state, as bytes for the checkpoint (a promise: compression may run off the event loop). */
  snapshot (): Buffer | Promise<Buffer>
  close? (): void | Promise<void>
  metrics? (): Record<string, number>
}
