/**
 * The sink: the last stage of synthesis, where scored instructions become the dataset.
 *
 *   scored instruction ─ filter (total < minScore) ─ dedup (same id / same normalised text)
 *     ─ embed (the stage's /v1/embeddings, or lexical vectors) ─ online topic ─ reservoir
 *     ─▶ sample: an upsert when it is admitted, a tombstone for whatever it evicts
 *
 * The paper keeps instructions scoring ≥ 3 of 7, clusters them into topics and keeps the
 * highest-scoring ones within each topic; the sink does that continuously with a
 * topic-balanced reservoir (src/sink/reservoir) over topics from online clustering
 * (src/sink/topics). Every drop is counted by reason (metrics(), the checkpoint, `synthq
 * status`); records it cannot read at all are rejected to the dead-letter topic.
 *
 * A stateful processor (see ../stateful.ts): the reservoir, the topic model, the duplicate
 * filter, the counters and the instructions waiting for warm-up to end are one snapshot,
 * checkpointed with the input offsets, so a crash neither loses nor double-counts input.
 * Deterministic for a seed and an input order: no clock in any decision except the warm-up
 * deadline, which only a punctuation (idle input) applies.
 *
 * Config (`pipeline.sink`, see docs/sink.md):
 *
 *   sink: { k: 100000, policy: top, minScore: 3, vectors: auto,
 *           topics: { warmup: 500, maxTopics: 256, maxWarmupMs: 60000 },
 *           dedup: { capacity: 1000000, falsePositiveRate: 0.00001 } }   # first slice; it grows
 */
import { gunzipSync, gzipSync } from 'node:zlib'
import { ConfigError, RecordInvalidError } from '../../errors.ts'
import { LlmOutputError, LlmRejectedError } from '../../llm/errors.ts'
import type { EmbedResult, StageLlm } from '../../llm/client.ts'
import { ScalableBloomFilter, textKey, type ScalableBloomSnapshot } from '../../sink/dedup/index.ts'
import { vendiScore } from '../../sink/diversity/index.ts'
import { TopicBalancedReservoir, type Policy, type ReservoirSnapshot } from '../../sink/reservoir/index.ts'
import { hash32 } from '../../sink/reservoir/hash.ts'
import { LEXICAL_NOTICE, LexicalVectorizer, OnlineTopicModel, TopicLabeler, type Assignment, type LexicalSnapshot, type OnlineTopicSnapshot, type TopicLabelerSnapshot } from '../../sink/topics/index.ts'
import type { Lineage } from '../lineage.ts'
import type { InputRecord, OutputRecord, ProcessorContext } from '../processor.ts'
import type { BatchResult, RejectedRecord, StatefulContext, StatefulProcessor } from '../stateful.ts'

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

/** The checkpointed state (gzip-compressed JSON). */
export interface SinkState {
  format: 'synthq.sink/1'
  options: SinkOptions
  vectors: string | null
  counters: SinkCounters
  reservoir: ReservoirSnapshot<null>
  topics: OnlineTopicSnapshot
  labels: TopicLabelerSnapshot
  lexical: LexicalSnapshot | null
  dedup: ScalableBloomSnapshot
  /** Rows waiting for warm-up to end: id → row (topic fields not yet set). */
  pending: Array<[string, PendingRow]>
  /** Sample members in the diversity probe: id → base64 float32 vector. */
  probe: Array<[string, string]>
  /** Probe vectors of rows still waiting for warm-up. */
  pendingProbe: Array<[string, string]>
  /** Highest Vendi score measured on the probe (collapse check), and the latest. */
  peakVendi: number
  lastVendi: number | null
  simulatedVectors: boolean
  /** The label cache rows are stamped from, and placements since it was refreshed. */
  labelCache: Array<[number, string]>
  sinceLabels: number
}

type PendingRow = Omit<SampleRowValue, 'topic' | 'topic_label' | 'topic_similarity'>

const LABEL_REFRESH = 500
/** The Vendi score is measured every this many offers (deterministic: part of the state). */
const VENDI_EVERY = 5_000

export class TopicBalancedSink implements StatefulProcessor<ScoredInstructionValue> {
  readonly name = 'topic-balanced-sink'
  readonly options: SinkOptions
  #counters: SinkCounters = emptyCounters()
  #reservoir!: TopicBalancedReservoir<null>
  #topics!: OnlineTopicModel
  #labeler!: TopicLabeler
  #lexical: LexicalVectorizer | null = null
  #dedup!: ScalableBloomFilter
  #pending = new Map<string, PendingRow>()
  #probe = new Map<string, Float32Array>()
  #peakVendi = 0
  #lastVendi: number | null = null
  #simulatedVectors = false
  /** What vectors come from: "endpoint/model", "lexical", or null before the first batch. */
  #vectors: string | null = null
  #llm: StageLlm | undefined
  #labels = new Map<number, string>()
  #sinceLabels = 0

  constructor (options: Partial<SinkOptions> = {}) {
    this.options = { ...DEFAULT_SINK_OPTIONS, ...options, topics: { ...DEFAULT_SINK_OPTIONS.topics, ...options.topics }, dedup: { ...DEFAULT_SINK_OPTIONS.dedup, ...options.dedup } }
    checkOptions(this.options)
    this.#fresh()
  }

  #fresh (): void {
    const o = this.options
    this.#counters = emptyCounters()
    this.#reservoir = new TopicBalancedReservoir<null>({ k: o.k, policy: o.policy, seed: o.seed })
    this.#topics = new OnlineTopicModel({ warmup: o.topics.warmup, maxTopics: o.topics.maxTopics, maxWarmupMs: o.topics.maxWarmupMs, newTopicThreshold: o.topics.newTopicThreshold, seed: o.seed })
    this.#labeler = new TopicLabeler()
    this.#lexical = null
    this.#dedup = new ScalableBloomFilter(o.dedup)
    this.#pending.clear()
    this.#probe.clear()
    this.#probeMax = undefined
    this.#peakVendi = 0
    this.#lastVendi = null
    this.#simulatedVectors = false
    this.#probeVector.clear()
    this.#vectors = null
    this.#labels.clear()
    this.#sinceLabels = 0
    this.#restoreEvictions = []
  }

  init (ctx: StatefulContext): void {
    if (this.options.vectors === 'lexical') return
    try {
      this.#llm = ctx.llm()
    } catch (err) {
      if (this.options.vectors === 'embeddings') throw err
      ctx.logger.warn({ stage: ctx.stage, reason: (err as Error).message }, `${LEXICAL_NOTICE}: stage ${ctx.stage} has no embedding endpoint, so topics come from hashed words (lower quality; configure llm.stages.${ctx.stage} with an embedding model to use one)`)
    }
  }

  restore (state: Buffer | null, ctx: StatefulContext): void {
    this.#fresh()
    if (state === null) return
    const s = JSON.parse(gunzipSync(state).toString('utf8')) as SinkState
    if (s?.format !== 'synthq.sink/1') throw new RecordInvalidError(`sink checkpoint: unknown format ${String(s?.format)}`, ['format'])
    for (const field of ['policy', 'seed'] as const) {
      if (s.options[field] !== this.options[field]) {
        throw new ConfigError(`sink: the saved sample was built with ${field} ${String(s.options[field])}, the configuration says ${String(this.options[field])}; use the same ${field}, or a new topic prefix to start a new sample`)
      }
    }
    const now = this.#llm ? `${this.#llm.settings.endpoint.name}/${this.#llm.settings.model}` : 'lexical'
    if (s.vectors !== null && s.vectors !== now && (s.vectors === 'lexical' || now === 'lexical' || s.vectors.split('/').pop() !== now.split('/').pop())) {
      throw new ConfigError(`sink: the saved sample's topics were built from ${s.vectors} vectors, and this run would use ${now}; vectors of another model do not fit its topics. Configure the same embedding model (llm.stages.${ctx.stage}.model), or use a new topic prefix to start a new sample`)
    }
    this.#counters = s.counters
    this.#reservoir = TopicBalancedReservoir.restore(s.reservoir)
    const evicted: string[] = []
    if (s.options.k !== this.options.k) {
      ctx.logger.info({ from: s.options.k, to: this.options.k }, 'sink: sample size changed since the checkpoint; resizing')
      for (const e of this.#reservoir.setBudget(this.options.k)) evicted.push(e.id)
      this.#counters.evicted += evicted.length
    }
    this.#topics = OnlineTopicModel.restore(s.topics)
    this.#labeler = TopicLabeler.restore(s.labels)
    this.#lexical = s.lexical ? LexicalVectorizer.restore(s.lexical) : null
    this.#dedup = ScalableBloomFilter.restore(s.dedup)
    this.#pending = new Map(s.pending)
    this.#probe = new Map(s.probe.map(([id, v]) => [id, decodeF32(v)]))
    this.#probeVector = new Map(s.pendingProbe.map(([id, v]) => [id, decodeF32(v)]))
    this.#peakVendi = s.peakVendi
    this.#lastVendi = s.lastVendi
    this.#simulatedVectors = s.simulatedVectors
    this.#vectors = s.vectors
    for (const id of evicted) this.#probe.delete(id)
    this.#probeMax = undefined
    this.#labels = new Map(s.labelCache)
    this.#sinceLabels = s.sinceLabels
    if (s.options.dedup.capacity !== this.options.dedup.capacity || s.options.dedup.falsePositiveRate !== this.options.dedup.falsePositiveRate) {
      ctx.logger.warn({ saved: s.options.dedup, configured: this.options.dedup }, 'sink: the duplicate filter keeps the size it was created with; the configured dedup settings apply to a new sample (new topic prefix) only')
    }
    // A shrunken K evicts at restore: those tombstones go out with the first batch.
    this.#restoreEvictions = evicted
  }

  #restoreEvictions: string[] = []

  /** Tombstones for what a smaller K evicted at restore: the first output of whatever runs next. */
  #takeRestoreEvictions (): OutputRecord[] {
    const out: OutputRecord[] = this.#restoreEvictions.map((id) => ({ topic: 'sample', key: id, value: null }))
    this.#restoreEvictions = []
    return out
  }

  snapshot (): Buffer {
    const state: SinkState = {
      format: 'synthq.sink/1',
      options: this.options,
      vectors: this.#vectors,
      counters: this.#counters,
      reservoir: this.#reservoir.snapshot(),
      topics: this.#topics.snapshot(),
      labels: this.#labeler.snapshot(),
      lexical: this.#lexical?.snapshot() ?? null,
      dedup: this.#dedup.snapshot(),
      pending: [...this.#pending],
      probe: [...this.#probe].map(([id, v]) => [id, encodeF32(v)]),
      pendingProbe: [...this.#probeVector].map(([id, v]) => [id, encodeF32(v)]),
      peakVendi: this.#peakVendi,
      lastVendi: this.#lastVendi,
      simulatedVectors: this.#simulatedVectors,
      labelCache: [...this.#labels],
      sinceLabels: this.#sinceLabels,
    }
    return gzipSync(JSON.stringify(state), { level: 1 })
  }

  async processBatch (records: ReadonlyArray<InputRecord<ScoredInstructionValue>>, ctx: ProcessorContext): Promise<BatchResult> {
    const outputs = this.#takeRestoreEvictions()
    const rejected: RejectedRecord[] = []
    const candidates: Array<InputRecord<ScoredInstructionValue>> = []
    for (const r of records) {
      this.#counters.seen++
      const v = r.value
      if (typeof v?.id !== 'string' || typeof v.instruction !== 'string' || !Number.isInteger(v.total)) {
        this.#counters.rejected++
        rejected.push({ record: r, reason: 'not a scored instruction (id, instruction and an integer total are required)', errorClass: 'InvalidRecord' })
        continue
      }
      const byTotal = this.#counters.byTotal ??= new Array<number>(8).fill(0)
      byTotal[Math.max(0, Math.min(7, v.total))]!++
      if (v.total < this.options.minScore) { this.#counters.dropped.below_min_score++; continue }
      if (this.#dedup.has(`id\u0000${v.id}`)) { this.#counters.dropped.duplicate_id++; continue }
      const tk = `text\u0000${textKey(v.instruction)}`
      if (this.#dedup.has(tk)) { this.#counters.dropped.duplicate_text++; this.#dedup.add(`id\u0000${v.id}`); continue }
      this.#dedup.add(`id\u0000${v.id}`)
      this.#dedup.add(tk)
      candidates.push(r)
    }
    if (candidates.length === 0) return { outputs, rejected }
    const vectors = await this.#vectorsOf(candidates, ctx, rejected)
    candidates.forEach((r, i) => {
      const vector = vectors[i]
      if (!vector) return
      const v = r.value
      this.#pending.set(v.id, {
        id: v.id, instruction: v.instruction, situation_id: v.situation_id, document: v.document, scene: v.scene,
        query_compositions: v.query_compositions, criteria: v.criteria, total: v.total, vectors: this.#vectors ?? 'unknown',
        admitted_at: 0, lineage: ctx.lineage(r, this.#llm && this.#vectors !== 'lexical' ? { model: { endpoint: this.#llm.settings.endpoint.name, name: this.#llm.settings.model }, simulated: this.#simulatedVectors } : {}),
      })
      this.#probeVector.set(v.id, Float32Array.from(vector))
      this.#place(this.#topics.assign(v.id, vector, r.timestamp), outputs, ctx.now())
    })
    return { outputs, rejected }
  }

  /** Vectors of rows waiting for warm-up (kept until their topic is known; at most `warmup`). */
  #probeVector = new Map<string, Float32Array>()

  async #vectorsOf (records: ReadonlyArray<InputRecord<ScoredInstructionValue>>, ctx: ProcessorContext, rejected: RejectedRecord[]): Promise<Array<Float32Array | Float64Array | undefined>> {
    const texts = records.map((r) => r.value.instruction)
    if (!this.#llm) {
      this.#lexical ??= new LexicalVectorizer({ seed: this.options.seed })
      this.#vectors = 'lexical'
      return texts.map((t) => this.#lexical!.vector(t))
    }
    let result: EmbedResult
    try {
      result = await this.#llm.embed({ texts, signal: ctx.signal })
    } catch (err) {
      if (!isRecordFault(err) || records.length === 1) {
        if (isRecordFault(err)) {
          this.#counters.rejected++
          rejected.push({ record: records[0]!, reason: `no embedding: ${(err as Error).message}`, errorClass: (err as Error).name })
          return [undefined]
        }
        throw err // transient or fatal: the runtime rolls the batch back and tries again
      }
      // One text spoils the request (e.g. too long for the model): find it, keep the rest.
      const out: Array<Float32Array | Float64Array | undefined> = []
      for (const r of records) out.push(...await this.#vectorsOf([r], ctx, rejected))
      return out
    }
    this.#vectors = `${result.endpoint}/${result.model}`
    if (result.simulated) this.#simulatedVectors = true
    return result.vectors
  }

  #place (assignments: Assignment[], outputs: OutputRecord[], now: number): void {
    for (const a of assignments) {
      const row = this.#pending.get(a.id)
      const vector = this.#probeVector.get(a.id)
      this.#pending.delete(a.id)
      this.#probeVector.delete(a.id)
      if (!row) continue
      this.#labeler.add(a.topic, row.instruction)
      if (++this.#sinceLabels >= LABEL_REFRESH || !this.#labels.has(a.topic)) {
        this.#labels = this.#labeler.labels(this.options.labelWords)
        this.#sinceLabels = 0
      }
      this.#counters.offered++
      const res = this.#reservoir.offer({ id: a.id, topic: a.topic, score: row.total, payload: null })
      for (const e of res.evicted) {
        this.#counters.evicted++
        if (this.#probe.delete(e.id) && this.#probeMax?.id === e.id) this.#probeMax = undefined
        outputs.push({ topic: 'sample', key: e.id, value: null })
      }
      if (this.#counters.offered % VENDI_EVERY === 0) this.#measureVendi() // whether or not this offer is admitted
      if (!res.admitted) continue
      this.#counters.admitted++
      if (vector) this.#offerProbe(a.id, vector)
      const value: SampleRowValue = { ...row, topic: a.topic, topic_label: this.#labels.get(a.topic) ?? `topic_${a.topic}`, topic_similarity: a.similarity, admitted_at: now }
      outputs.push({ topic: 'sample', key: a.id, value })
    }
  }

  /**
   * The probe: the `diversityProbe` sample members with the smallest seeded hash of their id
   * (a bottom-k sketch, so a uniform random subset of what was admitted), each with its vector,
   * for the Vendi score. Members evicted from the sample leave it; it refills from later
   * admissions whose hash is below its largest.
   */
  #offerProbe (id: string, vector: Float32Array): void {
    const cap = this.options.diversityProbe
    if (cap === 0) return
    const h = this.#probeHash(id)
    if (this.#probe.size >= cap) {
      this.#probeMax ??= this.#findProbeMax()
      if (h >= this.#probeMax.h) return
      this.#probe.delete(this.#probeMax.id)
      this.#probeMax = undefined
    }
    this.#probe.set(id, vector)
    if (this.#probeMax && h > this.#probeMax.h) this.#probeMax = { id, h }
  }

  #probeMax: { id: string, h: number } | undefined
  #probeHash (id: string): number { return hash32(this.options.seed ^ 0x7f4a7c15, id) }
  #findProbeMax (): { id: string, h: number } {
    let max = { id: '', h: -1 }
    for (const id of this.#probe.keys()) {
      const h = this.#probeHash(id)
      if (h > max.h) max = { id, h }
    }
    return max
  }

  punctuate (now: number, ctx: StatefulContext): OutputRecord[] {
    const outputs = this.#takeRestoreEvictions()
    const deadline = this.#topics.warmupDeadline()
    if (deadline === undefined || now < deadline) return outputs
    ctx.logger.info({ buffered: this.#pending.size }, 'sink: warm-up deadline reached; seeding topics from what arrived')
    this.#place(this.#topics.flushWarmup(), outputs, now)
    return outputs
  }

  flush (ctx: StatefulContext): OutputRecord[] {
    const outputs = this.#takeRestoreEvictions()
    this.#place(this.#topics.flushWarmup(), outputs, ctx.now())
    return outputs
  }

  metrics (): Record<string, number> {
    const r = this.#reservoir.stats()
    return {
      seen: this.#counters.seen,
      kept: r.size,
      topics: r.topics,
      warmupBuffered: this.#pending.size,
      droppedBelowMinScore: this.#counters.dropped.below_min_score,
      droppedDuplicateId: this.#counters.dropped.duplicate_id,
      droppedDuplicateText: this.#counters.dropped.duplicate_text,
      rejected: this.#counters.rejected,
      admitted: this.#counters.admitted,
      evicted: this.#counters.evicted,
      ...(r.balanceRatio !== null ? { balanceRatio: r.balanceRatio } : {}),
      ...(this.#lastVendi !== null ? { vendi: this.#lastVendi } : {}),
      // Every valid scored instruction read, by total: the filter's input, restored with the state.
      ...Object.fromEntries((this.#counters.byTotal ?? []).map((n, i) => [`seen_total_${i}`, n])),
    }
  }

  #measureVendi (): void {
    if (this.#probe.size < 2) return
    this.#lastVendi = vendiScore([...this.#probe.values()], { seed: this.options.seed }).score
    if (this.#lastVendi > this.#peakVendi) this.#peakVendi = this.#lastVendi
  }
}

function emptyCounters (): SinkCounters {
  return { seen: 0, dropped: { below_min_score: 0, duplicate_id: 0, duplicate_text: 0 }, offered: 0, admitted: 0, evicted: 0, rejected: 0, byTotal: new Array<number>(8).fill(0) }
}

/**
 * An error that is the input's fault: the endpoint refused this request (400, 413, 422 — e.g. a
 * text too long for the model) or answered it wrongly. Not the endpoint's: unreachable after the
 * client's retries, a rejected key or unknown model, a budget stop — those roll the batch back.
 */
function isRecordFault (err: unknown): boolean {
  if (err instanceof LlmRejectedError) return !err.endpointMisconfigured && (err.status === 400 || err.status === 413 || err.status === 422)
  return err instanceof LlmOutputError
}

function encodeF32 (v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
}

function decodeF32 (b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64')
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
}

function checkOptions (o: SinkOptions): void {
  if (!Number.isInteger(o.minScore) || o.minScore < 0 || o.minScore > 7) throw new ConfigError(`sink: minScore must be an integer from 0 to 7, got ${String(o.minScore)}`)
  if (!['auto', 'embeddings', 'lexical'].includes(o.vectors)) throw new ConfigError(`sink: vectors must be auto, embeddings or lexical, got ${String(o.vectors)}`)
  if (!Number.isInteger(o.labelWords) || o.labelWords < 1) throw new ConfigError(`sink: labelWords must be an integer ≥ 1, got ${String(o.labelWords)}`)
  if (!Number.isInteger(o.diversityProbe) || o.diversityProbe < 0) throw new ConfigError(`sink: diversityProbe must be an integer ≥ 0, got ${String(o.diversityProbe)}`)
}

/** Reads a checkpoint's state (for export and status, which do not run the sink). */
export function readSinkState (state: Buffer): SinkState {
  const s = JSON.parse(gunzipSync(state).toString('utf8')) as SinkState
  if (s?.format !== 'synthq.sink/1') throw new RecordInvalidError(`sink checkpoint: unknown format ${String(s?.format)}`, ['format'])
  return s
}

export function topicBalancedSink (options: Partial<SinkOptions> = {}): TopicBalancedSink {
  return new TopicBalancedSink(options)
}
