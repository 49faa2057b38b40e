/**
 * The sink (topicBalancedSink, a stateful processor) on the mock context, through its public
 * factory and the StatefulProcessor interface only: totals below 3 of 7 are dropped and counted,
 * duplicates (same id, same normalised text) too; unreadable records are rejected with the
 * reason; warm-up holds records until flush; a full sample evicts with a tombstone, keeping the
 * highest totals; embeddings come from the stage's LLM and are named in the lineage; a batch is
 * processed across turns of the event loop with the results of the record-by-record order.
 */
import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'
import { performance } from 'node:perf_hooks'
import type { InputRecord } from '../../src/processors/processor.ts'
import { readSinkState, topicBalancedSink, type ScoredInstructionValue, type SinkOptions } from '../../src/processors/sink/topic-balanced-sink.ts'
import type { StatefulProcessor } from '../../src/processors/stateful.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { inTurn, TURN_MS } from '../../src/runtime/turns.ts'
import { THEMES, VERBS } from '../fixtures/instruction-themes.ts'
import { SAMPLES } from '../fixtures/records.ts'

const BASE = SAMPLES.scoredInstructions as unknown as ScoredInstructionValue
const open: StatefulProcessor[] = []
afterEach(async () => { for (const s of open.splice(0)) await s.close?.() })

/** A sink with a tiny warm-up, lexical vectors unless told otherwise, restored empty. */
async function sink (ctx: MockProcessorContext, o: Partial<SinkOptions> = {}): Promise<StatefulProcessor<ScoredInstructionValue>> {
  const s = topicBalancedSink({ k: 100, vectors: 'lexical', topics: { warmup: 4, maxTopics: 8, maxWarmupMs: 60_000, newTopicThreshold: 'auto' }, ...o })
  open.push(s)
  await ctx.init(s)
  s.restore(null, ctx.statefulContext())
  return s
}

const text = (i: number): string => `${VERBS[i % VERBS.length]} the ${THEMES[i % THEMES.length]!.slice(0, 3).join(' and ')} case ${i}`
const scored = (i: number, total: number, over: Partial<ScoredInstructionValue> = {}): ScoredInstructionValue => ({ ...BASE, id: `ins-${i}`, instruction: text(i), total, ...over })
const inputs = (ctx: MockProcessorContext, values: unknown[]): Array<InputRecord<ScoredInstructionValue>> => values.map((v) => ctx.input('scoredInstructions', v as ScoredInstructionValue))

/** What the sample holds after the outputs so far: upserts minus tombstones. */
function sample (ctx: MockProcessorContext): Map<string, { total: number }> {
  const m = new Map<string, { total: number }>()
  for (const o of ctx.forwarded<{ total: number } | null>('sample')) {
    if (o.value === null) m.delete(o.key)
    else m.set(o.key, o.value)
  }
  return m
}

test('keep ≥ 3 of 7: lower totals are dropped and counted, never emitted; the rest enter the sample', async () => {
  const ctx = new MockProcessorContext({ stage: 'sink', outputs: ['sample'] })
  const s = await sink(ctx)
  await ctx.processBatch(s, inputs(ctx, [0, 1, 2, 3, 4, 5, 6, 7].map((t) => scored(t, t))))
  ctx.captureOutputs(s.flush!(ctx.statefulContext()))
  assert.deepEqual([...sample(ctx).keys()].sort(), ['ins-3', 'ins-4', 'ins-5', 'ins-6', 'ins-7'])
  const m = s.metrics!()
  assert.equal(m.droppedBelowMinScore, 3)
  assert.equal(m.kept, 5)
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((t) => m[`seen_total_${t}`]), [1, 1, 1, 1, 1, 1, 1, 1])
  assert.deepEqual(ctx.rejections(), [])
})

test('a higher minScore moves the line', async () => {
  const ctx = new MockProcessorContext({ stage: 'sink' })
  const s = await sink(ctx, { minScore: 6 })
  await ctx.processBatch(s, inputs(ctx, [3, 5, 6, 7].map((t) => scored(t, t))))
  ctx.captureOutputs(s.flush!(ctx.statefulContext()))
  assert.deepEqual([...sample(ctx).keys()].sort(), ['ins-6', 'ins-7'])
})

test('duplicates by id and by normalised text are dropped and counted', async () => {
  const ctx = new MockProcessorContext({ stage: 'sink' })
  const s = await sink(ctx)
  await ctx.processBatch(s, inputs(ctx, [
    scored(1, 5), scored(1, 6), // same id
    scored(2, 5), scored(3, 5, { instruction: `  ${text(2).toUpperCase()}!! ` }), // same text, case and punctuation changed
  ]))
  ctx.captureOutputs(s.flush!(ctx.statefulContext()))
  assert.deepEqual([...sample(ctx).keys()].sort(), ['ins-1', 'ins-2'])
  assert.equal(sample(ctx).get('ins-1')!.total, 5, 'the first of an id wins')
  assert.deepEqual([s.metrics!().droppedDuplicateId, s.metrics!().droppedDuplicateText], [1, 1])
})

test('a record that is not a scored instruction is rejected with the reason; the batch goes on', async () => {
  const ctx = new MockProcessorContext({ stage: 'sink' })
  const s = await sink(ctx)
  const batch = inputs(ctx, [{ id: 'broken', instruction: 'x', total: 'seven' }, scored(1, 7)])
  await ctx.processBatch(s, batch)
  ctx.captureOutputs(s.flush!(ctx.statefulContext()))
  assert.deepEqual(ctx.rejections(), [{ record: batch[0], reason: 'not a scored instruction (id, instruction and an integer total are required)', errorClass: 'InvalidRecord' }])
  assert.deepEqual([...sample(ctx).keys()], ['ins-1'])
})

test('warm-up holds records back until it has enough of them or the input ends (flush)', async () => {
  const ctx = new MockProcessorContext({ stage: 'sink' })
  const s = await sink(ctx)
  await ctx.processBatch(s, inputs(ctx, [scored(1, 7), scored(2, 7)]))
  assert.deepEqual(ctx.forwarded(), [], 'fewer than the warm-up: nothing yet')
  assert.equal(s.metrics!().warmupBuffered, 2)
  ctx.captureOutputs(s.flush!(ctx.statefulContext()))
  assert.deepEqual([...sample(ctx).keys()].sort(), ['ins-1', 'ins-2'])
})

test('a full sample keeps the highest totals: what is pushed out leaves with a tombstone', async () => {
  const ctx = new MockProcessorContext({ stage: 'sink' })
  // One topic, so the whole budget is one topic's.
  const s = await sink(ctx, { k: 2, topics: { warmup: 1, maxTopics: 1, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
  const same = (i: number, total: number): ScoredInstructionValue => scored(i, total, { instruction: `Explain tide harbour estuary case ${i}` })
  await ctx.processBatch(s, inputs(ctx, [same(1, 4), same(2, 5), same(3, 7)]))
  ctx.captureOutputs(s.flush!(ctx.statefulContext()))
  assert.deepEqual([...sample(ctx).entries()].map(([k, v]) => [k, v.total]).sort(), [['ins-2', 5], ['ins-3', 7]])
  assert.ok(ctx.forwarded('sample').some((o) => o.key === 'ins-1' && o.value === null), 'ins-1 was tombstoned')
  assert.equal(s.metrics!().evicted, 1)
})

test('embeddings come from the stage\'s LLM; the sample rows name the model in their lineage', async () => {
  // Two clear directions: instructions about tides and about sourdough.
  const llm = new ScriptedLlm().embeddings((t) => (t.includes('tide') ? [1, 0.1, 0] : [0, 0.1, 1]))
  const ctx = new MockProcessorContext({ stage: 'sink', llm })
  const s = await sink(ctx, { vectors: 'embeddings' })
  await ctx.processBatch(s, inputs(ctx, [
    scored(1, 6, { instruction: 'Explain the tide at the harbour' }), scored(2, 6, { instruction: 'Explain the tide in the estuary' }),
    scored(3, 6, { instruction: 'Bake a sourdough loaf' }), scored(4, 6, { instruction: 'Feed a sourdough starter' }),
  ]))
  ctx.captureOutputs(s.flush!(ctx.statefulContext()))
  const rows = ctx.forwarded<{ topic: number, vectors: string, lineage: { model: unknown } }>('sample').filter((o) => o.value !== null)
  assert.equal(rows.length, 4)
  assert.ok(rows.every((r) => r.value.vectors === 'scripted/scripted-model'))
  assert.deepEqual(rows[0]!.value.lineage.model, { endpoint: 'scripted', name: 'scripted-model' })
  const topicOf = new Map(rows.map((r) => [r.key, r.value.topic]))
  assert.equal(topicOf.get('ins-1'), topicOf.get('ins-2'))
  assert.equal(topicOf.get('ins-3'), topicOf.get('ins-4'))
  assert.notEqual(topicOf.get('ins-1'), topicOf.get('ins-3'))
})

test('a batch is processed in turns of the event loop, with the results of processing it in input order', async () => {
  const values = Array.from({ length: 300 }, (_, i) => scored(i, 3 + (i % 5)))
  const options: Partial<SinkOptions> = { k: 120, topics: { warmup: 40, maxTopics: 8, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } }

  // Reference: one record per batch, each awaited before the next — the order the loop keeps.
  const refCtx = new MockProcessorContext({ stage: 'sink', outputs: ['sample'] })
  const ref = await sink(refCtx, options)
  for (const r of inputs(refCtx, values)) await refCtx.processBatch(ref, [r])

  const ctx = new MockProcessorContext({ stage: 'sink', outputs: ['sample'] })
  const s = await sink(ctx, options)
  const records = inputs(ctx, values)
  // Use up this turn's budget for record work (inTurn starts its clock at its first call in a
  // turn), so the batch cannot finish in it whatever the machine's speed: its records must wait
  // for a later turn, after the callback below. A spin, not a sleep: nothing is waited for.
  await inTurn(() => undefined)
  for (const start = performance.now(); performance.now() - start <= TURN_MS;);
  let otherTurn = false
  setImmediate(() => { otherTurn = true })
  const batch = ctx.processBatch(s, records)
  assert.equal(otherTurn, false)
  const result = await batch
  assert.equal(otherTurn, true, 'a callback queued before the batch ran before the batch finished')

  assert.deepEqual(result.rejected, [])
  assert.deepEqual(ctx.forwarded('sample').map((o) => [o.key, o.value]), refCtx.forwarded('sample').map((o) => [o.key, o.value]))
  assert.deepEqual(s.metrics!(), ref.metrics!())
  assert.deepEqual(readSinkState(await s.snapshot()), readSinkState(await ref.snapshot()))
  assert.ok(s.metrics!().admitted! > 0 && s.metrics!().topics! > 1, 'warm-up ended inside the batch and topics formed')
})
