/**
 * The sink as a stateful processor (TopicBalancedSink), driven by hand with a context built
 * here, no runtime and (but for one test) no LLM: the filter and duplicate drops are counted and
 * never emitted; warm-up holds records back until it has `warmup` of them, end of input
 * (flush) or its deadline (punctuate); the sample topic's upserts and tombstones always
 * describe the reservoir; a checkpoint taken anywhere, restored into a new sink, continues
 * exactly as the uninterrupted run (same outputs, same final state: the exactly-once
 * property); restore refuses another policy or seed and shrinks the sample to a smaller K;
 * unreadable records are rejected with a reason; embeddings come from the stage's endpoint
 * (the simulator here) and `auto` falls back to lexical vectors when there is none.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { gunzipSync, gzipSync } from 'node:zlib'
import { ConfigError, RecordInvalidError } from '../../src/errors.ts'
import { LlmClient, type StageLlm } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim } from '../../src/llm/sim/server.ts'
import { createLogger, type Logger } from '../../src/log.ts'
import { buildLineage } from '../../src/processors/lineage.ts'
import type { InputRecord, OutputRecord, ProcessorContext } from '../../src/processors/processor.ts'
import { TopicBalancedSink, type SampleRowValue, type ScoredInstructionValue, type SinkOptions, type SinkState } from '../../src/processors/sink/topic-balanced-sink.ts'
import type { StatefulContext } from '../../src/processors/stateful.ts'
import { LEXICAL_NOTICE } from '../../src/sink/clusters/index.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testTmpDir } from '../helpers/env.ts'
import { THEMES, VERBS } from '../fixtures/instruction-themes.ts'

const BASE = SAMPLES.scoredInstructions as unknown as ScoredInstructionValue
/** Record timestamps start here (the warm-up deadline counts from the first one). */
const T0 = 1_764_028_800_000
/** The processing clock: fixed, so admitted_at and lineage.created_at are reproducible. */
const NOW = T0 + 3_600_000

function context (o: { now?: () => number, logger?: Logger, llm?: () => StageLlm } = {}): ProcessorContext {
  const now = o.now ?? (() => NOW)
  return {
    stage: 'sink',
    runId: 'run-sink-test',
    logger: o.logger ?? createLogger({ level: 'silent' }),
    now,
    signal: new AbortController().signal,
    llm: o.llm ?? (() => { throw new Error('no LLM in this test') }),
    table: () => { throw new Error('no tables in a stateful stage') },
    lineage: (inputs, opts = {}) => buildLineage('sink', 'run-sink-test', () => 'synthq.instructions.scored', Array.isArray(inputs) ? inputs : [inputs], opts, now()),
  }
}

function stateful (ctx: ProcessorContext): StatefulContext {
  const { signal: _s, ...rest } = ctx
  return rest
}


/** The text of instruction i: topic words of topic i mod 6, and a number that makes it unique. */
function textOf (i: number): string {
  const words = THEMES[i % THEMES.length]!
  const pick = (j: number): string => words[(i * 7 + j * 3) % words.length]!
  return `${VERBS[(i * 5) % VERBS.length]} the ${pick(0)} and ${pick(1)} of ${pick(2)} case ${i}`
}

function value (i: number, over: Partial<ScoredInstructionValue> = {}): ScoredInstructionValue {
  return { ...BASE, id: `ins-${i}`, instruction: textOf(i), total: 3 + ((i * 7) % 5), lineage: { ...BASE.lineage, simulated: false }, ...over }
}

function input (v: unknown, offset: number, timestamp = T0 + offset): InputRecord<ScoredInstructionValue> {
  const key = (v as { id?: unknown } | null)?.id
  return { topic: 'scoredInstructions', key: typeof key === 'string' ? key : null, value: v as ScoredInstructionValue, partition: 0, offset: String(offset), timestamp }
}

/** n records that all pass the filter and dedup. */
function kept (n: number, from = 0): Array<InputRecord<ScoredInstructionValue>> {
  return Array.from({ length: n }, (_, j) => input(value(from + j), from + j))
}

/** A stream with drops mixed in: low scores, repeated ids, repeated texts (case/punctuation changed). */
function mixed (n: number): Array<InputRecord<ScoredInstructionValue>> {
  const out: Array<InputRecord<ScoredInstructionValue>> = []
  for (let i = 0; i < n; i++) {
    if (i % 11 === 10) out.push(input(value(i, { total: i % 3 }), i))
    else if (i % 17 === 16) out.push(input(value(i - 9, { instruction: `other text ${i}` }), i)) // id of an earlier record
    else if (i % 23 === 22) out.push(input(value(i, { instruction: `  ${textOf(i - 5).toUpperCase()}!! ` }), i)) // text of an earlier one
    else out.push(input(value(i), i))
  }
  return out
}

const upserts = (outs: readonly OutputRecord[]): Array<OutputRecord<SampleRowValue>> => outs.filter((o) => o.value !== null) as Array<OutputRecord<SampleRowValue>>
const tombstones = (outs: readonly OutputRecord[]): OutputRecord[] => outs.filter((o) => o.value === null)
const parse = (b: Buffer): SinkState => JSON.parse(gunzipSync(b).toString('utf8')) as SinkState
const members = (s: SinkState): string[] => s.reservoir.topics.flatMap((t) => t.items.map(([id]) => id)).sort()

/**
 * A duplicate filter sized for tests: the default (10M items at 1e-6) is a 36 MB bit array that
 * every snapshot would carry (see the 'default options' test).
 */
const SMALL_DEDUP = { capacity: 100_000, falsePositiveRate: 1e-6 }

function sink (options: Partial<SinkOptions>, ctx: ProcessorContext = context(), state: Buffer | null = null): TopicBalancedSink {
  const s = new TopicBalancedSink({ vectors: 'lexical', dedup: SMALL_DEDUP, ...options })
  s.init(stateful(ctx))
  s.restore(state, stateful(ctx))
  return s
}

async function feed (s: TopicBalancedSink, records: ReadonlyArray<InputRecord<ScoredInstructionValue>>, batch: number, ctx = context()): Promise<OutputRecord[]> {
  const out: OutputRecord[] = []
  for (let i = 0; i < records.length; i += batch) {
    const r = await s.processBatch(records.slice(i, i + batch), ctx)
    assert.deepEqual(r.rejected, [])
    out.push(...r.outputs)
  }
  return out
}

/** Applies outputs to a compacted view of the sample, checking each is consistent with it. */
function apply (live: Set<string>, outs: readonly OutputRecord[]): void {
  for (const o of outs) {
    assert.equal(o.topic, 'sample')
    if (o.value === null) {
      assert.ok(live.has(o.key), `tombstone for ${o.key}, which is not in the sample`)
      live.delete(o.key)
    } else {
      assert.ok(!live.has(o.key), `${o.key} upserted twice while kept`)
      assert.equal((o.value as SampleRowValue).id, o.key)
      live.add(o.key)
    }
  }
}

describe('filter and dedup', () => {
  it('drops totals below minScore (default 3), counted, nothing emitted', async () => {
    const s = sink({ topics: { warmup: 0, maxTopics: 16, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
    assert.equal(s.options.minScore, 3)
    const records = [0, 1, 2, 3, 7, 2, 5, 0].map((total, i) => input(value(i, { total }), i))
    const { outputs, rejected } = await s.processBatch(records, context())
    assert.deepEqual(rejected, [])
    assert.deepEqual(upserts(outputs).map((o) => o.key).sort(), ['ins-3', 'ins-4', 'ins-6'])
    assert.equal(tombstones(outputs).length, 0)
    const m = s.metrics()
    assert.equal(m.seen, 8)
    assert.equal(m.droppedBelowMinScore, 5)
    assert.equal(m.kept, 3)
    // minScore is configurable.
    const strict = sink({ minScore: 6, topics: { warmup: 0, maxTopics: 16, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
    const r2 = await strict.processBatch(records, context())
    assert.deepEqual(upserts(r2.outputs).map((o) => o.key), ['ins-4'])
    assert.equal(strict.metrics().droppedBelowMinScore, 7)
  })

  it('drops a repeated id and a repeated normalised text under a new id: counted, not emitted; seen counts every input', async () => {
    const s = sink({ topics: { warmup: 0, maxTopics: 16, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
    const records = [
      input(value(0, { instruction: 'Explain TCP slow start.' }), 0),
      input(value(1, { instruction: 'How do tides form in an estuary?' }), 1),
      input(value(0, { instruction: 'A completely different text under the same id' }), 2), // duplicate id
      input(value(2, { instruction: 'explain  tcp slow-start' }), 3), // duplicate text
      input(value(3, { instruction: 'HOW DO TIDES FORM IN AN ESTUARY' }), 4), // duplicate text
      input(value(1, { instruction: 'How do tides form in an estuary?' }), 5), // duplicate id (and text)
      input(value(4, { instruction: 'Explain TCP fast retransmit.' }), 6),
    ]
    const first = await s.processBatch(records.slice(0, 4), context())
    const second = await s.processBatch(records.slice(4), context())
    const outs = [...first.outputs, ...second.outputs]
    assert.deepEqual(upserts(outs).map((o) => o.key), ['ins-0', 'ins-1', 'ins-4'])
    assert.equal(upserts(outs).find((o) => o.key === 'ins-0')!.value!.instruction, 'Explain TCP slow start.', 'the first of a duplicate id wins')
    const m = s.metrics()
    assert.equal(m.seen, 7)
    assert.equal(m.droppedDuplicateId, 2)
    assert.equal(m.droppedDuplicateText, 2)
    assert.equal(m.kept, 3)
    // An id first dropped as a duplicate text is itself remembered: sent again, it is a duplicate id.
    const again = await s.processBatch([input(value(2, { instruction: 'Yet another text' }), 7)], context())
    assert.deepEqual(again.outputs, [])
    assert.equal(s.metrics().droppedDuplicateId, 3)
    // A record below minScore is not remembered: the same id later with a good score is kept.
    await s.processBatch([input(value(9, { total: 1 }), 8)], context())
    const later = await s.processBatch([input(value(9, { total: 6 }), 9)], context())
    assert.deepEqual(upserts(later.outputs).map((o) => o.key), ['ins-9'])
    assert.equal(s.metrics().seen, 10)
  })

  it('a record missing instruction, id or an integer total is rejected with a reason, and counted', async () => {
    const s = sink({ topics: { warmup: 0, maxTopics: 16, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
    const noInstruction: Record<string, unknown> = { ...value(1) }
    delete noInstruction.instruction
    const noTotal: Record<string, unknown> = { ...value(2) }
    delete noTotal.total
    const bad = [
      input(noInstruction, 1),
      input(noTotal, 2),
      input({ ...value(3), total: 4.5 }, 3),
      input({ ...value(4), id: 17 }, 4),
      input(null, 5),
      input('not an object', 6),
    ]
    const good = input(value(0), 0)
    const { outputs, rejected } = await s.processBatch([good, ...bad], context())
    assert.deepEqual(rejected.map((r) => r.record), bad)
    for (const r of rejected) {
      assert.match(r.reason, /instruction/)
      assert.equal(r.errorClass, 'InvalidRecord')
    }
    assert.deepEqual(upserts(outputs).map((o) => o.key), ['ins-0'])
    const m = s.metrics()
    assert.equal(m.rejected, bad.length)
    assert.equal(m.seen, bad.length + 1)
    assert.equal(m.kept, 1)
  })
})

describe('warm-up', () => {
  const topics = { warmup: 50, maxTopics: 16, maxWarmupMs: 60_000, newTopicThreshold: 'auto' as const }

  it('nothing is emitted for the first 49 kept records; the 50th places all 50 with their topics', async () => {
    const s = sink({ topics })
    const records = kept(50)
    // Drops in between do not count towards warm-up.
    const low = input(value(1000, { total: 1 }), 1000)
    for (let i = 0; i < 49; i++) {
      const r = await s.processBatch(i === 20 ? [low, records[i]!] : [records[i]!], context())
      assert.deepEqual(r.outputs, [], `output after kept record ${i + 1}`)
    }
    assert.equal(s.metrics().warmupBuffered, 49)
    assert.equal(s.metrics().kept, 0)
    const { outputs } = await s.processBatch([records[49]!], context())
    const rows = upserts(outputs)
    assert.equal(rows.length, 50)
    assert.equal(tombstones(outputs).length, 0)
    assert.deepEqual(rows.map((o) => o.key).sort(), records.map((r) => r.value.id).sort())
    const topicIds = new Set<number>()
    for (const { value: v } of rows) {
      assert.ok(v)
      assert.ok(Number.isInteger(v.topic) && v.topic >= 0, `topic ${v.topic}`)
      topicIds.add(v.topic)
      assert.equal(typeof v.topic_label, 'string')
      assert.ok(v.topic_label.length > 0)
      assert.ok(Number.isFinite(v.topic_similarity) && v.topic_similarity >= -1 && v.topic_similarity <= 1 + 1e-9, `similarity ${v.topic_similarity}`)
      assert.equal(v.vectors, 'lexical')
      assert.equal(v.admitted_at, NOW)
      assert.equal(v.lineage.stage, 'sink')
      assert.equal(v.lineage.model, null)
      assert.equal(v.lineage.simulated, false, 'lexical vectors of real input are not simulated')
      assert.deepEqual(v.lineage.upstream.map((u) => u.id), [v.id])
      const src = records.find((r) => r.value.id === v.id)!.value
      assert.equal(v.instruction, src.instruction)
      assert.equal(v.total, src.total)
    }
    assert.ok(topicIds.size >= 2, `50 records over 6 word sets fell into ${topicIds.size} topic(s)`)
    const m = s.metrics()
    assert.equal(m.warmupBuffered, 0)
    assert.equal(m.kept, 50)
    assert.equal(m.topics, topicIds.size)
    // After warm-up each record is placed as it arrives.
    const next = await s.processBatch(kept(1, 50), context())
    assert.deepEqual(upserts(next.outputs).map((o) => o.key), ['ins-50'])
  })

  it('flush(ctx) releases a partial warm-up (end of input)', async () => {
    const s = sink({ topics })
    const ctx = context()
    assert.deepEqual(await feed(s, kept(20), 7), [])
    const out = s.flush(stateful(ctx))
    assert.deepEqual(upserts(out).map((o) => o.key).sort(), kept(20).map((r) => r.value.id).sort())
    for (const o of upserts(out)) assert.equal(o.value!.vectors, 'lexical')
    assert.equal(s.metrics().warmupBuffered, 0)
    assert.equal(s.metrics().kept, 20)
    assert.deepEqual(s.flush(stateful(ctx)), [], 'a second flush has nothing to release')
    const next = await s.processBatch(kept(1, 20), ctx)
    assert.equal(upserts(next.outputs).length, 1, 'online after the flush')
    // flush with nothing buffered on a fresh sink
    assert.deepEqual(sink({ topics }).flush(stateful(ctx)), [])
  })

  it('punctuate(now) releases the warm-up only once now ≥ the deadline (first record + maxWarmupMs)', async () => {
    const s = sink({ topics: { ...topics, maxWarmupMs: 10_000 } })
    const ctx = stateful(context())
    assert.deepEqual(s.punctuate(T0 + 1e9, ctx), [], 'nothing buffered: nothing to release')
    assert.deepEqual(await feed(s, kept(20), 5), [])
    assert.deepEqual(s.punctuate(T0, ctx), [])
    assert.deepEqual(s.punctuate(T0 + 9_999, ctx), [])
    assert.equal(s.metrics().warmupBuffered, 20)
    const out = s.punctuate(T0 + 10_000, ctx)
    assert.equal(upserts(out).length, 20)
    for (const o of upserts(out)) assert.equal(o.value!.admitted_at, T0 + 10_000, 'admitted at the punctuation time')
    assert.equal(s.metrics().warmupBuffered, 0)
    assert.deepEqual(s.punctuate(T0 + 20_000, ctx), [], 'released once')
  })

  it('the warm-up deadline survives a checkpoint', async () => {
    const a = sink({ topics: { ...topics, maxWarmupMs: 10_000 } })
    await feed(a, kept(10), 10)
    const b = sink({ topics: { ...topics, maxWarmupMs: 10_000 } }, context(), await a.snapshot())
    assert.equal(b.metrics().warmupBuffered, 10)
    assert.deepEqual(b.punctuate(T0 + 9_999, stateful(context())), [])
    assert.equal(upserts(b.punctuate(T0 + 10_000, stateful(context()))).length, 10)
  })
})

describe('reservoir outputs', () => {
  for (const policy of ['top', 'uniform', 'weighted'] as const) {
    it(`${policy}: upserts − tombstones = kept, every tombstone follows its upsert, no id upserted twice while kept`, async () => {
      const s = sink({ k: 20, policy, topics: { warmup: 30, maxTopics: 16, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
      const records = kept(300)
      const outs = await feed(s, records, 13)
      const live = new Set<string>()
      apply(live, outs)
      const m = s.metrics()
      assert.equal(m.seen, 300)
      assert.equal(m.kept, 20)
      assert.equal(upserts(outs).length - tombstones(outs).length, m.kept)
      assert.equal(upserts(outs).length, m.admitted)
      assert.equal(tombstones(outs).length, m.evicted)
      assert.ok((m.evicted ?? 0) > 0)
      assert.deepEqual([...live].sort(), members(parse(await s.snapshot())), 'the sample topic holds exactly the reservoir')
      if (policy === 'top') {
        const scores = upserts(outs).filter((o) => live.has(o.key)).map((o) => o.value!.total)
        assert.ok(Math.min(...scores) >= 6, `top policy keeps high totals, got ${scores.join(',')}`)
      }
    })
  }
})

describe('checkpoints', () => {
  const OPTIONS: Partial<SinkOptions> = { k: 25, policy: 'top', seed: 11, diversityProbe: 15, topics: { warmup: 40, maxTopics: 16, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } }
  const RECORDS = mixed(360)
  const B = 16

  async function uninterrupted (): Promise<{ outputs: OutputRecord[], state: SinkState }> {
    const s = sink(OPTIONS)
    const outputs = await feed(s, RECORDS, B)
    outputs.push(...s.flush(stateful(context())))
    return { outputs, state: parse(await s.snapshot()) }
  }

  /** Outputs without their topic labels (the test below checks those separately). */
  const unlabelled = (outs: readonly OutputRecord[]): unknown[] => outs.map((o) => o.value === null ? o : { ...o, value: { ...(o.value as SampleRowValue), topic_label: '-' } })

  async function resumed (cut: number): Promise<{ before: OutputRecord[], after: OutputRecord[], snap: Buffer, final: Buffer, sink: TopicBalancedSink }> {
    const a = sink(OPTIONS)
    const before = await feed(a, RECORDS.slice(0, cut), B)
    const snap = await a.snapshot()
    const b = sink(OPTIONS, context(), snap)
    const after = await feed(b, RECORDS.slice(cut), B)
    after.push(...b.flush(stateful(context())))
    return { before, after, snap, final: await b.snapshot(), sink: b }
  }

  const CUTS = [0, 1, 10, 39, 43, 44, 45, 61, 100, 177, 250, 359, 360]

  it('restored anywhere (inside warm-up too), a new sink continues exactly as one uninterrupted run: same final state, same outputs', async (t) => {
    const ref = await uninterrupted()
    const live = new Set<string>()
    apply(live, ref.outputs)
    assert.deepEqual([...live].sort(), members(ref.state))
    assert.ok(ref.state.counters.evicted > 0 && ref.state.counters.dropped.duplicate_id > 0 && ref.state.counters.dropped.duplicate_text > 0 && ref.state.counters.dropped.below_min_score > 0)
    t.diagnostic(`reference: ${upserts(ref.outputs).length} upserts, ${tombstones(ref.outputs).length} tombstones, counters ${JSON.stringify(ref.state.counters)}`)
    for (const cut of CUTS) {
      const r = await resumed(cut)
      assert.deepEqual(parse(await sink(OPTIONS, context(), r.snap).snapshot()), parse(r.snap), `cut ${cut}: restore → snapshot changes the state`)
      assert.deepEqual(parse(r.final), ref.state, `cut ${cut}: final state differs`)
      assert.ok(r.final.equals(gzipSync(JSON.stringify(ref.state), { level: 1 })), `cut ${cut}: final snapshot bytes differ`)
      assert.deepEqual(unlabelled([...r.before, ...r.after]), unlabelled(ref.outputs), `cut ${cut}: outputs differ`)
      assert.deepEqual(r.sink.metrics(), sink(OPTIONS, context(), r.final).metrics())
    }
  })

  it('…including the topic labels on the rows', async () => {
    const ref = await uninterrupted()
    for (const cut of CUTS) {
      const r = await resumed(cut)
      const got = [...r.before, ...r.after]
      got.forEach((o, i) => {
        if (o.value !== null) assert.equal((o.value as SampleRowValue).topic_label, (ref.outputs[i]!.value as SampleRowValue).topic_label, `cut ${cut}, output ${i} (${o.key})`)
      })
    }
  })

  it('batch boundaries do not matter', async () => {
    const ref = await uninterrupted()
    for (const batch of [1, 7, 100, RECORDS.length]) {
      const s = sink(OPTIONS)
      const outputs = await feed(s, RECORDS, batch)
      outputs.push(...s.flush(stateful(context())))
      assert.deepEqual(parse(await s.snapshot()), ref.state, `batch ${batch}: final state differs`)
      assert.deepEqual(outputs, ref.outputs, `batch ${batch}: outputs differ`)
    }
  })

  it('restore refuses a checkpoint made with another policy or seed (ConfigError naming the field), or not a sink checkpoint', async () => {
    const a = sink({ ...OPTIONS, topics: { warmup: 5, maxTopics: 8, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
    await feed(a, kept(20), 20)
    const snap = await a.snapshot()
    const ctx = stateful(context())
    assert.throws(() => new TopicBalancedSink({ ...OPTIONS, vectors: 'lexical', dedup: SMALL_DEDUP, policy: 'uniform' }).restore(snap, ctx), (err: unknown) => err instanceof ConfigError && /policy/.test(err.message) && !/seed/.test(err.message))
    assert.throws(() => new TopicBalancedSink({ ...OPTIONS, vectors: 'lexical', dedup: SMALL_DEDUP, seed: 12 }).restore(snap, ctx), (err: unknown) => err instanceof ConfigError && /seed/.test(err.message))
    assert.throws(() => new TopicBalancedSink({ ...OPTIONS, vectors: 'lexical', dedup: SMALL_DEDUP }).restore(gzipSync(JSON.stringify({ format: 'synthq.other/1' })), ctx), RecordInvalidError)
    // Same policy and seed, other K, minScore: accepted.
    assert.doesNotThrow(() => new TopicBalancedSink({ ...OPTIONS, vectors: 'lexical', dedup: SMALL_DEDUP, k: 40, minScore: 4 }).restore(snap, ctx))
  })

  it('restore with a smaller K evicts, and the first processBatch after emits those tombstones (once)', async () => {
    const a = sink({ ...OPTIONS, k: 30 })
    const outs = await feed(a, kept(200), 25)
    const live = new Set<string>()
    apply(live, outs)
    assert.equal(live.size, 30)
    const snap = await a.snapshot()
    const b = sink({ ...OPTIONS, k: 10 }, context(), snap)
    assert.equal(b.metrics().kept, 10)
    const after = parse(await b.snapshot())
    assert.equal(after.options.k, 10)
    // The tombstones go out with the first batch, even one whose records are all dropped.
    const first = await b.processBatch([input(value(0), 0)], context()) // a duplicate id
    assert.equal(b.metrics().droppedDuplicateId, 1)
    assert.equal(tombstones(first.outputs).length, 20)
    assert.equal(upserts(first.outputs).length, 0)
    apply(live, first.outputs)
    assert.deepEqual([...live].sort(), members(after))
    const second = await b.processBatch(kept(5, 200), context())
    assert.ok(tombstones(second.outputs).length <= upserts(second.outputs).length, 'no tombstones left over from the resize')
    apply(live, second.outputs)
    assert.deepEqual([...live].sort(), members(parse(await b.snapshot())))
  })

  it('a resize is counted: admitted − evicted = kept after a smaller K', async () => {
    const a = sink({ ...OPTIONS, k: 30 })
    await feed(a, kept(200), 25)
    const b = sink({ ...OPTIONS, k: 10 }, context(), await a.snapshot())
    await b.processBatch([], context())
    const m = b.metrics()
    assert.equal(m.admitted! - m.evicted!, m.kept)
  })

  it('a shrink at restore followed by end of input (no new batch): flush releases the tombstones before the shrunk state is checkpointed', async () => {
    const a = sink({ ...OPTIONS, k: 30 })
    await feed(a, kept(200), 25)
    const b = sink({ ...OPTIONS, k: 10 }, context(), await a.snapshot())
    const out = b.flush(stateful(context()))
    assert.equal(tombstones(out).length, 20)
  })

  it('restore(null) after a shrinking restore starts empty: no stale tombstones', async () => {
    const a = sink({ ...OPTIONS, k: 30 })
    await feed(a, kept(200), 25)
    const b = sink({ ...OPTIONS, k: 10 }, context(), await a.snapshot())
    b.restore(null, stateful(context()))
    const r = await b.processBatch([], context())
    assert.deepEqual(r.outputs, [])
  })
})

describe('default options', () => {
  it('are the documented ones, and a checkpoint with them round-trips', async () => {
    const s = new TopicBalancedSink({ vectors: 'lexical' })
    assert.equal(s.options.k, 100_000)
    assert.equal(s.options.policy, 'top')
    assert.equal(s.options.minScore, 3)
    assert.equal(s.options.topics.warmup, 500)
    assert.equal(s.options.topics.maxWarmupMs, 60_000)
    assert.deepEqual(s.options.dedup, { capacity: 1_000_000, falsePositiveRate: 1e-5 })
    const ctx = context()
    s.restore(null, stateful(ctx))
    assert.deepEqual(await feed(s, kept(30), 30, ctx), [])
    const snap = await s.snapshot()
    const b = new TopicBalancedSink({ vectors: 'lexical' })
    b.restore(snap, stateful(ctx))
    assert.ok((await b.snapshot()).equals(snap))
    assert.equal(b.metrics().warmupBuffered, 30)
  })

  it('bad options are ConfigErrors', () => {
    for (const o of [{ minScore: 8 }, { minScore: -1 }, { minScore: 2.5 }, { vectors: 'neural' as never }, { labelWords: 0 }, { diversityProbe: -1 }, { dedup: { capacity: 0, falsePositiveRate: 0.01 } }, { k: -1 }, { k: 2.5 }, { topics: { warmup: -1, maxTopics: 8, maxWarmupMs: 1000, newTopicThreshold: 'auto' as const } }]) {
      assert.throws(() => new TopicBalancedSink({ vectors: 'lexical', dedup: SMALL_DEDUP, ...o }), ConfigError, JSON.stringify(o))
    }
  })
})

describe('vectors', () => {
  it('embeddings from the stage endpoint (the simulator): rows carry the endpoint/model and lineage.simulated', async () => {
    const sim = await startLlmSim({ profile: 'instant' })
    const settings = resolveLlmSettings({
      stages: ['sink'], embeddingStages: ['sink'], env: {},
      fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 16, initialConcurrency: 4, adaptiveConcurrency: true },
      fallbackEmbeddingModel: 'sim-embed-small',
    })
    const client = new LlmClient({ settings, logger: createLogger({ level: 'silent' }), dbPath: join(testTmpDir('sink-embed'), 'llm.db') })
    try {
      const ctx = context({ llm: () => client.stage('sink') })
      const options: Partial<SinkOptions> = { vectors: 'embeddings', dedup: SMALL_DEDUP, k: 8, topics: { warmup: 6, maxTopics: 8, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } }
      const s = new TopicBalancedSink(options)
      s.init(stateful(ctx))
      s.restore(null, stateful(ctx))
      const outs: OutputRecord[] = []
      for (let i = 0; i < 20; i += 5) outs.push(...(await s.processBatch(kept(5, i), ctx)).outputs)
      const rows = upserts(outs)
      assert.ok(rows.length >= 8)
      for (const { value: v } of rows) {
        assert.equal(v!.vectors, 'sim/sim-embed-small')
        assert.equal(v!.lineage.simulated, true)
        assert.deepEqual(v!.lineage.model, { endpoint: 'sim', name: 'sim-embed-small' })
      }
      const live = new Set<string>()
      apply(live, outs)
      assert.equal(live.size, 8)
      const state = parse(await s.snapshot())
      assert.equal(state.vectors, 'sim/sim-embed-small')
      assert.equal(state.simulatedVectors, true)
      assert.equal(state.lexical, null)
    } finally {
      await client.close()
      await sim.close()
    }
  })

  it('auto with no embedding endpoint: init() logs why and the sink uses lexical vectors', async () => {
    const lines: string[] = []
    const logger = createLogger({ level: 'info' }, { write: (s: string) => { lines.push(s) } })
    const ctx = context({ logger, llm: () => { throw new ConfigError('Stage sink has no LLM endpoint configured') } })
    const s = new TopicBalancedSink({ vectors: 'auto', dedup: SMALL_DEDUP, topics: { warmup: 3, maxTopics: 8, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
    assert.doesNotThrow(() => s.init(stateful(ctx)))
    const warn = lines.map((l) => JSON.parse(l) as { level: number, msg: string, reason?: string }).find((l) => l.msg.includes(LEXICAL_NOTICE))
    assert.ok(warn, `no lexical-fallback warning in ${lines.join('')}`)
    assert.equal(warn.level, 40)
    assert.match(warn.reason ?? '', /no LLM endpoint/)
    s.restore(null, stateful(ctx))
    const { outputs } = await s.processBatch(kept(5), ctx)
    assert.equal(upserts(outputs).length, 5)
    for (const o of upserts(outputs)) {
      assert.equal(o.value!.vectors, 'lexical')
      assert.equal(o.value!.lineage.model, null)
    }
    // embeddings, not auto: the missing endpoint is an error at init.
    assert.throws(() => new TopicBalancedSink({ vectors: 'embeddings', dedup: SMALL_DEDUP }).init(stateful(ctx)), ConfigError)
  })
})

describe('vector source', () => {
  it('a sample built from lexical vectors refuses to continue with an embedding model (and names both)', async () => {
    const ctx = context()
    const lexical = new TopicBalancedSink({ vectors: 'lexical', dedup: { capacity: 10_000, falsePositiveRate: 1e-4 } })
    lexical.init(stateful(ctx))
    lexical.restore(null, stateful(ctx))
    await feed(lexical, kept(5), 5, ctx)
    const snap = await lexical.snapshot()
    const fake = { settings: { endpoint: { name: 'gpu' }, model: 'bge-small' } } as unknown as StageLlm
    const withModel = context({ llm: () => fake })
    const embedding = new TopicBalancedSink({ vectors: 'auto', dedup: { capacity: 10_000, falsePositiveRate: 1e-4 } })
    embedding.init(stateful(withModel))
    assert.throws(() => embedding.restore(snap, stateful(withModel)), (e: unknown) => e instanceof ConfigError && /built from lexical vectors/.test(e.message) && /gpu\/bge-small/.test(e.message))
    const again = new TopicBalancedSink({ vectors: 'lexical', dedup: { capacity: 10_000, falsePositiveRate: 1e-4 } })
    again.init(stateful(ctx))
    again.restore(snap, stateful(ctx))
  })
})
