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
 * (src/sink/clusters). Every drop is counted by reason (metrics(), the checkpoint, `synthq
 * status`); records it cannot read at all are rejected to the dead-letter topic.
 *
 * A stateful processor (see ../stateful.ts): the reservoir, the topic model, the duplicate
 * filter, the counters and the instructions waiting for warm-up to end are one snapshot,
 * checkpointed with the input offsets, so a crash neither loses nor double-counts input. The
 * snapshot's format is state-codec.ts's; the Vendi probe (a worker thread measures it, off this
 * event loop) is diversity-probe.ts's; options and record types are in types.ts.
 * Deterministic for a seed and an input order: no clock in any decision except the warm-up
 * deadline, which only a punctuation (idle input) applies.
 *
 * Config (`pipeline.sink`, see docs/sink.md):
 *
 *   sink: { k: 100000, policy: top, minScore: 3, vectors: auto,
 *           topics: { warmup: 500, maxTopics: 256, maxWarmupMs: 60000 },
 *           dedup: { capacity: 1000000, falsePositiveRate: 0.00001 } }   # first slice; it grows
 */
import type { Worker } from 'node:worker_threads'
import { ConfigError } from '../../errors.ts'
import { LlmOutputError, LlmRejectedError } from '../../llm/errors.ts'
import type { EmbedResult, StageLlm } from '../../llm/client.ts'
import { ScalableBloomFilter, textKey } from '../../sink/dedup/index.ts'
import { TopicBalancedReservoir } from '../../sink/reservoir/index.ts'
import { LEXICAL_NOTICE, LexicalVectorizer, OnlineTopicModel, TopicLabeler, type Assignment } from '../../sink/clusters/index.ts'
import type { InputRecord, OutputRecord, ProcessorContext } from '../processor.ts'
import { inTurn } from '../../runtime/turns.ts'
import type { BatchResult, RejectedRecord, StatefulContext, StatefulProcessor } from '../stateful.ts'
import { DiversityProbe, type VendiMode } from './diversity-probe.ts'
import { decodeF32, encodeF32, encodeSinkState, readSinkState, SINK_STATE_FORMAT, type SinkState } from './state-codec.ts'
import { DEFAULT_SINK_OPTIONS, type PendingRow, type SampleRowValue, type ScoredInstructionValue, type SinkCounters, type SinkOptions } from './types.ts'

// The sink's public names, from the modules that now hold them (importers keep one path).
export { readSinkState, type SinkState } from './state-codec.ts'
export { DEFAULT_SINK_OPTIONS, type DropReason, type SampleRowValue, type ScoredInstructionValue, type SinkCounters, type SinkOptions, type VectorSource } from './types.ts'
export type { VendiMode } from './diversity-probe.ts'

/** How the sink runs, as opposed to what it keeps (SinkOptions): not part of the checkpoint. */
export interface SinkRuntimeOptions {
  /** Where the Vendi score is computed: a worker thread (default) or in line, blocking (the old way; benchmarks). */
  vendi?: VendiMode
  /** A Vendi measurement not answered within this many ms is skipped (default 120 s). */
  vendiTimeoutMs?: number
  /** Starts the Vendi worker (tests inject failing ones). */
  spawnVendiWorker?: () => Worker
}

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
  readonly #probe: DiversityProbe
  #simulatedVectors = false
  /** What vectors come from: "endpoint/model", "lexical", or null before the first batch. */
  #vectors: string | null = null
  #llm: StageLlm | undefined
  #labels = new Map<number, string>()
  #sinceLabels = 0

  constructor (options: Partial<SinkOptions> = {}, runtime: SinkRuntimeOptions = {}) {
    this.options = { ...DEFAULT_SINK_OPTIONS, ...options, topics: { ...DEFAULT_SINK_OPTIONS.topics, ...options.topics }, dedup: { ...DEFAULT_SINK_OPTIONS.dedup, ...options.dedup } }
    checkOptions(this.options)
    this.#probe = new DiversityProbe({
      capacity: this.options.diversityProbe, seed: this.options.seed, mode: runtime.vendi ?? 'worker',
      ...(runtime.vendiTimeoutMs !== undefined ? { timeoutMs: runtime.vendiTimeoutMs } : {}), ...(runtime.spawnVendiWorker ? { spawn: runtime.spawnVendiWorker } : {}),
    })
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
    this.#probe.reset()
    this.#simulatedVectors = false
    this.#probeVector.clear()
    this.#vectors = null
    this.#labels.clear()
    this.#sinceLabels = 0
    this.#restoreEvictions = []
  }

  init (ctx: StatefulContext): void {
    this.#probe.logger = ctx.logger
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
    this.#probe.logger ??= ctx.logger
    if (state === null) return
    const s = readSinkState(state)
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
    this.#probe.reset(s)
    this.#probeVector = new Map(s.pendingProbe.map(([id, v]) => [id, decodeF32(v)]))
    this.#simulatedVectors = s.simulatedVectors
    this.#vectors = s.vectors
    for (const id of evicted) this.#probe.remove(id)
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

  /** The whole state as checkpoint bytes, compressed off the event loop (state-codec.ts). */
  async snapshot (): Promise<Buffer> {
    return await encodeSinkState(await this.checkpointState())
  }

  /**
   * The state snapshot() encodes, once the Vendi measurements asked for so far have their scores
   * (so a checkpoint holds them, as an in-line measurement would have). It shares objects with
   * the live sink: serialise it before the next batch.
   */
  async checkpointState (): Promise<SinkState> {
    await this.#probe.settle()
    return {
      format: SINK_STATE_FORMAT,
      options: this.options,
      vectors: this.#vectors,
      counters: this.#counters,
      reservoir: this.#reservoir.snapshot(),
      topics: this.#topics.snapshot(),
      labels: this.#labeler.snapshot(),
      lexical: this.#lexical?.snapshot() ?? null,
      dedup: this.#dedup.snapshot(),
      pending: [...this.#pending],
      probe: this.#probe.saved(),
      pendingProbe: [...this.#probeVector].map(([id, v]) => [id, encodeF32(v)]),
      peakVendi: this.#probe.peak,
      lastVendi: this.#probe.last,
      simulatedVectors: this.#simulatedVectors,
      labelCache: [...this.#labels],
      sinceLabels: this.#sinceLabels,
    }
  }

  /**
   * A batch, one record at a time in turns of the event loop (runtime/turns.ts's inTurn): a batch
   * of 256 is 60–80 ms of work with embeddings and ~750 ms with lexical vectors, which in one go
   * held the process's event loop (its Kafka heartbeats, metrics, other stages' requests) that
   * long. Records are still handled strictly in order and nothing else touches the state
   * meanwhile (the runtime awaits one batch before the next, a punctuation or a checkpoint), so
   * the outputs and the state are those of the all-at-once loop.
   */
  async processBatch (records: ReadonlyArray<InputRecord<ScoredInstructionValue>>, ctx: ProcessorContext): Promise<BatchResult> {
    const outputs = this.#takeRestoreEvictions()
    const rejected: RejectedRecord[] = []
    const candidates: Array<InputRecord<ScoredInstructionValue>> = []
    for (const r of records) {
      if (await inTurn(() => this.#screen(r, rejected))) candidates.push(r)
    }
    if (candidates.length === 0) return { outputs, rejected }
    const vectors = await this.#vectorsOf(candidates, ctx, rejected)
    for (let i = 0; i < candidates.length; i++) {
      const vector = vectors[i]
      if (!vector) continue
      const r = candidates[i]!
      const { assignments, now } = await inTurn(() => this.#hold(r, vector, ctx))
      // The assignment that ends warm-up releases the whole buffer (500 rows): a turn each.
      for (const a of assignments) await inTurn(() => { this.#placeOne(a, outputs, now) })
    }
    return { outputs, rejected }
  }

  /** Filter and dedup of one record: true if it goes on to be embedded. */
  #screen (r: InputRecord<ScoredInstructionValue>, rejected: RejectedRecord[]): boolean {
    this.#counters.seen++
    const v = r.value
    if (typeof v?.id !== 'string' || typeof v.instruction !== 'string' || !Number.isInteger(v.total)) {
      this.#counters.rejected++
      rejected.push({ record: r, reason: 'not a scored instruction (id, instruction and an integer total are required)', errorClass: 'InvalidRecord' })
      return false
    }
    const byTotal = this.#counters.byTotal ??= new Array<number>(8).fill(0)
    byTotal[Math.max(0, Math.min(7, v.total))]!++
    if (v.total < this.options.minScore) { this.#counters.dropped.below_min_score++; return false }
    if (this.#dedup.has(`id\u0000${v.id}`)) { this.#counters.dropped.duplicate_id++; return false }
    const tk = `text\u0000${textKey(v.instruction)}`
    if (this.#dedup.has(tk)) { this.#counters.dropped.duplicate_text++; this.#dedup.add(`id\u0000${v.id}`); return false }
    this.#dedup.add(`id\u0000${v.id}`)
    this.#dedup.add(tk)
    return true
  }

  /** Holds a vectorised record until its topic is known; the assignments this made final, and the time to stamp them with. */
  #hold (r: InputRecord<ScoredInstructionValue>, vector: Float32Array | Float64Array, ctx: ProcessorContext): { assignments: Assignment[], now: number } {
    const v = r.value
    this.#pending.set(v.id, {
      id: v.id, instruction: v.instruction, situation_id: v.situation_id, document: v.document, scene: v.scene,
      query_compositions: v.query_compositions, criteria: v.criteria, total: v.total, vectors: this.#vectors ?? 'unknown',
      admitted_at: 0, lineage: ctx.lineage(r, this.#llm && this.#vectors !== 'lexical' ? { model: { endpoint: this.#llm.settings.endpoint.name, name: this.#llm.settings.model }, simulated: this.#simulatedVectors } : {}),
    })
    this.#probeVector.set(v.id, Float32Array.from(vector))
    return { assignments: this.#topics.assign(v.id, vector, r.timestamp), now: ctx.now() }
  }

  /** Vectors of rows waiting for warm-up (kept until their topic is known; at most `warmup`). */
  #probeVector = new Map<string, Float32Array>()

  async #vectorsOf (records: ReadonlyArray<InputRecord<ScoredInstructionValue>>, ctx: ProcessorContext, rejected: RejectedRecord[]): Promise<Array<Float32Array | Float64Array | undefined>> {
    const texts = records.map((r) => r.value.instruction)
    if (!this.#llm) {
      this.#lexical ??= new LexicalVectorizer({ seed: this.options.seed })
      this.#vectors = 'lexical'
      // Hashing words is most of a lexical batch's time: a turn per text.
      const lexical = this.#lexical
      const out: Float64Array[] = []
      for (const t of texts) out.push(await inTurn(() => lexical.vector(t)))
      return out
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
    for (const a of assignments) this.#placeOne(a, outputs, now)
  }

  #placeOne (a: Assignment, outputs: OutputRecord[], now: number): void {
    const row = this.#pending.get(a.id)
    const vector = this.#probeVector.get(a.id)
    this.#pending.delete(a.id)
    this.#probeVector.delete(a.id)
    if (!row) return
    this.#labeler.add(a.topic, row.instruction)
    if (++this.#sinceLabels >= LABEL_REFRESH || !this.#labels.has(a.topic)) {
      this.#labels = this.#labeler.labels(this.options.labelWords)
      this.#sinceLabels = 0
    }
    this.#counters.offered++
    const res = this.#reservoir.offer({ id: a.id, topic: a.topic, score: row.total, payload: null })
    for (const e of res.evicted) {
      this.#counters.evicted++
      this.#probe.remove(e.id)
      outputs.push({ topic: 'sample', key: e.id, value: null })
    }
    if (this.#counters.offered % VENDI_EVERY === 0) this.#probe.measure() // whether or not this offer is admitted
    if (!res.admitted) return
    this.#counters.admitted++
    if (vector) this.#probe.offer(a.id, vector)
    const value: SampleRowValue = { ...row, topic: a.topic, topic_label: this.#labels.get(a.topic) ?? `topic_${a.topic}`, topic_similarity: a.similarity, admitted_at: now }
    outputs.push({ topic: 'sample', key: a.id, value })
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
      ...(this.#probe.last !== null ? { vendi: this.#probe.last } : {}),
      // Vendi measurements skipped because the worker failed (this process only), and those in flight.
      vendiFailures: this.#probe.failures,
      vendiQueued: this.#probe.queued,
      // Every valid scored instruction read, by total: the filter's input, restored with the state.
      ...Object.fromEntries((this.#counters.byTotal ?? []).map((n, i) => [`seen_total_${i}`, n])),
    }
  }

  /** Stops the Vendi worker, so that the process can exit at once. */
  async close (): Promise<void> {
    await this.#probe.close()
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

function checkOptions (o: SinkOptions): void {
  if (!Number.isInteger(o.minScore) || o.minScore < 0 || o.minScore > 7) throw new ConfigError(`sink: minScore must be an integer from 0 to 7, got ${String(o.minScore)}`)
  if (!['auto', 'embeddings', 'lexical'].includes(o.vectors)) throw new ConfigError(`sink: vectors must be auto, embeddings or lexical, got ${String(o.vectors)}`)
  if (!Number.isInteger(o.labelWords) || o.labelWords < 1) throw new ConfigError(`sink: labelWords must be an integer ≥ 1, got ${String(o.labelWords)}`)
  if (!Number.isInteger(o.diversityProbe) || o.diversityProbe < 0) throw new ConfigError(`sink: diversityProbe must be an integer ≥ 0, got ${String(o.diversityProbe)}`)
}

export function topicBalancedSink (options: Partial<SinkOptions> = {}, runtime: SinkRuntimeOptions = {}): TopicBalancedSink {
  return new TopicBalancedSink(options, runtime)
}
