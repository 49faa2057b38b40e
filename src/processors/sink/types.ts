/**
 * The sink's options (with their defaults) and the records it reads and writes: shared by the
 * processor, its state codec and its diversity probe, and by the topology that configures it.
 */
import type { Lineage } from '../lineage.ts'
import type { Policy } from '../../sink/reservoir/index.ts'

export type VectorSource = 'auto' | 'embeddings' | 'lexical'

export interface SinkOptions {
  /** Total sample size K. */
  k: number
  /** Within a topic: uniform reservoir, weighted by score, or the top scores (the paper's). */
  policy: Policy
  seed: number
  /** Totals below this are dropped (the paper: 3 of 7). */
  minScore: number
  /** auto: the stage's embedding endpoint when it has one, else lexical vectors (and a warning). */
  vectors: VectorSource
  topics: { warmup: number, maxTopics: number, maxWarmupMs: number, newTopicThreshold: number | 'auto' }
  dedup: { capacity: number, falsePositiveRate: number }
  /** Words in a topic label. */
  labelWords: number
  /** Sample vectors kept for the Vendi score (a seeded subset of the sample). */
  diversityProbe: number
}

export const DEFAULT_SINK_OPTIONS: SinkOptions = {
  k: 100_000,
  policy: 'top',
  seed: 20250604,
  minScore: 3,
  vectors: 'auto',
  topics: { warmup: 500, maxTopics: 256, maxWarmupMs: 60_000, newTopicThreshold: 'auto' },
  // A scalable filter: its first slice holds 1M items (two per instruction: id and text) in
  // 3 MB; it grows by slices of twice the capacity, keeping the whole under 1e-5.
  dedup: { capacity: 1_000_000, falsePositiveRate: 1e-5 },
  labelWords: 4,
  diversityProbe: 1_000,
}

/** The scored instruction as the sink reads it (synthq.ScoredInstruction). */
export interface ScoredInstructionValue {
  id: string
  instruction: string
  situation_id: string
  document: { id: string, url: string | null, title: string | null, corpus: string | null }
  scene: string
  query_compositions: Record<string, string>
  criteria: Record<string, { analysis: string, score: number }>
  total: number
  lineage: Lineage
}

/** What the sample topic holds (synthq.SampleRow). */
export interface SampleRowValue extends Omit<ScoredInstructionValue, 'lineage'> {
  topic: number
  topic_label: string
  topic_similarity: number
  vectors: string
  admitted_at: number
  lineage: Lineage
}

/** A row waiting for warm-up to end: its topic is not known yet. */
export type PendingRow = Omit<SampleRowValue, 'topic' | 'topic_label' | 'topic_similarity'>

export type DropReason = 'below_min_score' | 'duplicate_id' | 'duplicate_text'

export interface SinkCounters {
  /** Scored instructions read (each input record once). */
  seen: number
  dropped: Record<DropReason, number>
  /** Offered to the reservoir (passed filter and dedup, topic assigned). */
  offered: number
  admitted: number
  evicted: number
  /** Records dead-lettered (unreadable, or no vector could be made). */
  rejected: number
  /** Valid scored instructions seen, by total 0–7 (absent in checkpoints older than this count). */
  byTotal?: number[]
}
