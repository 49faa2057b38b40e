/**
 * The sink alone, for its crash tests: a topology of one stateful stage (lexical vectors, so
 * no LLM; no wall-clock warm-up deadline, so the result is a function of the input order),
 * slowed down so that a run lasts long enough to be killed at many points, and the inputs with
 * everything the sink must count: low scores, duplicate ids, duplicate texts, unreadable bytes.
 */
import { gunzipSync } from 'node:zlib'
import { createLogger } from '../../src/log.ts'
import { buildLineage } from '../../src/processors/lineage.ts'
import type { InputRecord } from '../../src/processors/processor.ts'
import { TopicBalancedSink, type ScoredInstructionValue, type SinkOptions, type SinkState } from '../../src/processors/sink/topic-balanced-sink.ts'
import type { StatefulContext, StatefulProcessor } from '../../src/processors/stateful.ts'
import { TopologyBuilder, type Topology } from '../../src/topologies/topology.ts'
import { SAMPLES } from '../fixtures/records.ts'

export const CRASH_SINK_OPTIONS: Partial<SinkOptions> = {
  k: 150, policy: 'top', seed: 7, vectors: 'lexical', diversityProbe: 50,
  topics: { warmup: 80, maxTopics: 64, maxWarmupMs: 1e12, newTopicThreshold: 'auto' },
}

/** The sink with a pause in every batch. */
function slowed (inner: StatefulProcessor, ms: number): StatefulProcessor {
  return {
    name: inner.name,
    init: (ctx) => inner.init?.(ctx),
    restore: (state, ctx) => inner.restore(state, ctx),
    processBatch: async (records, ctx) => {
      if (ms) await new Promise((r) => setTimeout(r, ms))
      return await inner.processBatch(records, ctx)
    },
    snapshot: () => inner.snapshot(),
    metrics: () => inner.metrics?.() ?? {},
  }
}

export function sinkTopology (delayMs: number): Topology {
  return new TopologyBuilder('sink-crash')
    .statefulStage({
      name: 'sink', input: 'scoredInstructions', outputs: ['sample'], state: 'sinkState',
      batchSize: 16, checkpointIntervalMs: 150, checkpointRecords: 64, punctuateMs: 50,
      processor: () => slowed(new TopicBalancedSink(CRASH_SINK_OPTIONS), delayMs),
    })
    .build()
}

const TOPICS = ['orbital mechanics of a rover', 'sourdough fermentation', 'tax law for freelancers', 'guitar chord voicing', 'protein folding simulation', 'medieval castle sieges', 'database index tuning', 'marathon training plans']
const VERBS = ['Explain', 'Compare', 'Design', 'Critique', 'Estimate', 'Outline']

export interface SinkInput { key: string, value?: ScoredInstructionValue, raw?: Buffer }

/** n inputs: every 9th scores 2, every 37th repeats an id, every 41st repeats a text, every 53rd is not Avro. */
export function sinkInputs (n: number): SinkInput[] {
  const base = SAMPLES.scoredInstructions as unknown as ScoredInstructionValue
  const out: SinkInput[] = []
  const texts: string[] = []
  for (let i = 0; i < n; i++) {
    if (i % 53 === 52) { out.push({ key: `poison-${i}`, raw: Buffer.from(`not avro ${i}`) }); continue }
    const dupId = i % 37 === 36 && i > 40
    const dupText = i % 41 === 40 && texts.length > 10
    const id = dupId ? `s${i - 30}` : `s${i}`
    const text = dupText ? texts[i % 10]!.toUpperCase() : `${VERBS[i % VERBS.length]} ${TOPICS[(i * 7) % TOPICS.length]} step ${i} with care for case ${(i * 13) % 97}`
    texts.push(text)
    const total = i % 9 === 8 ? 2 : 3 + ((i * 5) % 5)
    out.push({ key: id, value: { ...base, id, instruction: text, total } })
  }
  return out
}

/** What the sink's state is after reading `inputs` once, in order, uninterrupted. */
export async function referenceState (inputs: SinkInput[]): Promise<SinkState> {
  const sink = new TopicBalancedSink(CRASH_SINK_OPTIONS)
  const logger = createLogger({ level: 'silent' })
  const ctx: StatefulContext = {
    stage: 'sink', runId: 'reference', logger, now: () => 0,
    llm: () => { throw new Error('no LLM') },
    table: () => { throw new Error('no tables') },
    lineage: (r, o = {}) => buildLineage('sink', 'reference', () => 'scored', Array.isArray(r) ? r : [r], o, 0),
  }
  sink.init(ctx)
  sink.restore(null, ctx)
  const records: InputRecord[] = inputs.flatMap((r, i) => r.value ? [{ topic: 'scoredInstructions', key: r.key, value: r.value, partition: 0, offset: String(i), timestamp: 0 }] : [])
  for (let i = 0; i < records.length; i += 100) await sink.processBatch(records.slice(i, i + 100) as Array<InputRecord<ScoredInstructionValue>>, { ...ctx, signal: new AbortController().signal })
  return JSON.parse(gunzipSync(await sink.snapshot()).toString('utf8')) as SinkState
}

/** The parts of a state that input decides (not run ids or clocks). */
export function comparable (s: SinkState): unknown {
  return { counters: s.counters, reservoir: s.reservoir, topics: s.topics, labels: s.labels, lexical: s.lexical, dedup: s.dedup, probe: s.probe, pending: s.pending.map(([id]) => id) }
}
