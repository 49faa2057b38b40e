/**
 * What a runner of a topology offers the process that runs it — `synthq run`, `synthq start` and
 * the metrics endpoint — whichever transport it runs on: `embedded/embedded-runner.ts` and
 * `kafka/kafka-runner.ts` implement it.
 */
import type { LagReader, RunnerKind } from './transport.ts'

/** A stage's figures as every runner reports them (each adds figures of its own). */
export interface StageFigures {
  processed: number
  deadLettered: number
  inFlight: number
  queued: number
  skipped?: number
}

/** Where a runner's topics are, as the run directory announces it (never credentials). */
export type RunnerLocation = { db: string } | { brokers: string[] }

export interface Runner {
  readonly kind: RunnerKind
  readonly location: RunnerLocation
  /** Starts every stage; a stop during the start ends it. */
  start (): Promise<void>
  /** Drains and commits what is in flight (within the drain timeout), then stops every stage. */
  stop (): Promise<void>
  /** Each stage's figures. */
  stats (): Record<string, StageFigures>
  /** Each stage's processor figures (see Processor.metrics). */
  metrics (): Record<string, Record<string, number>>
  /** Consumer lag read where this runner keeps its positions; the caller closes the reader. */
  lagReader (): LagReader
}
