/**
 * scoring on the mock context: the total is computed from the seven criteria (never taken from
 * the model), every total is emitted (the sink filters), lineage keeps the demonstrations and
 * seed behind the instruction, a benchmark look-alike is rejected before any LLM call, and an
 * answer that misses a criterion fails as the real client fails it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LlmOutputError } from '../../src/llm/errors.ts'
import { Decontaminator } from '../../src/hygiene/decontam.ts'
import { CRITERIA, type Scores } from '../../src/processors/scoring/prompt.ts'
import { scoring, type SynthesizedRecord } from '../../src/processors/scoring/scoring.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { SAMPLES } from '../fixtures/records.ts'

const BASE = SAMPLES.synthesizedInstructions as unknown as SynthesizedRecord

/** Criteria answer: the first `met` criteria scored 1, the rest 0. */
function scores (met: number): Scores {
  return Object.fromEntries(CRITERIA.map((c, i) => [c, { analysis: `about ${c}`, score: i < met ? 1 : 0 }])) as Scores
}

function instruction (id: string, over: Partial<SynthesizedRecord> = {}): SynthesizedRecord {
  return { ...BASE, id, instruction: `${BASE.instruction} (${id})`, lineage: { ...BASE.lineage, demonstration_ids: ['demo-a', 'demo-b'], sampling_seed: 99 }, ...over }
}

test('the total is the number of criteria met, computed here; every total is emitted with the criteria', async () => {
  // The answer depends on the query: "met N" in the instruction makes N criteria met.
  const llm = new ScriptedLlm().answer('scoring', (req) => scores(Number(/met (\d)/.exec(req.text)?.[1] ?? 0)))
  const ctx = new MockProcessorContext({ stage: 'scoring', llm, outputs: ['scoredInstructions'] })
  const p = scoring()
  for (const n of [0, 2, 3, 7]) await ctx.process(p, ctx.input('synthesizedInstructions', instruction(`i${n}`, { instruction: `Plan it, met ${n}` })))

  const out = ctx.forwarded<{ id: string, total: number, criteria: Scores }>('scoredInstructions')
  assert.deepEqual(out.map((o) => [o.key, o.value.total]), [['i0', 0], ['i2', 2], ['i3', 3], ['i7', 7]])
  assert.deepEqual(out[1]!.value.criteria, scores(2))
  assert.deepEqual(ctx.rejections(), [])
  // The histogram of totals is the processor's own figure.
  assert.deepEqual(p.metrics!(), { decontaminated: 0, total_0: 1, total_1: 0, total_2: 1, total_3: 1, total_4: 0, total_5: 0, total_6: 0, total_7: 1 })
  // The instruction text went to the model; the prompt is the versioned scoring prompt.
  assert.match(llm.callsFor('scoring')[3]!.messages.at(-1)!.content, /Plan it, met 7/)
})

test('lineage names the input, the prompt and model, and keeps the demonstrations and seed of the instruction', async () => {
  const llm = new ScriptedLlm().answer('scoring', scores(5), { simulated: true })
  const ctx = new MockProcessorContext({ stage: 'scoring', llm, now: 1_800_000_000_000 })
  const input = ctx.input('synthesizedInstructions', instruction('ins-9'), { partition: 3, offset: 41 })
  await ctx.process(scoring(), input)
  const [out] = ctx.forwarded<{ lineage: Record<string, unknown>, situation_id: string, document: unknown }>()
  assert.equal(out!.input, input)
  assert.equal(out!.value.situation_id, BASE.situation_id)
  assert.deepEqual(out!.value.document, BASE.document)
  const l = out!.value.lineage
  assert.equal(l.stage, 'scoring')
  assert.deepEqual(l.upstream, [{ topic: 'synthq.instructions.synthesized', id: 'ins-9', partition: 3, offset: 41 }])
  assert.deepEqual(l.prompt, { id: 'scoring', version: '2' })
  assert.deepEqual(l.model, { endpoint: 'scripted', name: 'scripted-model' })
  assert.deepEqual(l.demonstration_ids, ['demo-a', 'demo-b'])
  assert.equal(l.sampling_seed, 99)
  assert.equal(l.simulated, true, 'a simulated answer marks the record')
  assert.equal(l.created_at, 1_800_000_000_000, 'stamped with the context clock')
})

test('an instruction resembling a benchmark prompt is rejected with the benchmark id, before any LLM call', async () => {
  const benchmark = 'Write a Python function that returns the n-th Fibonacci number using memoization and explain its complexity.'
  const decontaminator = new Decontaminator()
  decontaminator.addPrompt('humaneval', 'HumanEval/55', benchmark)
  const llm = new ScriptedLlm().answer('scoring', scores(7))
  const ctx = new MockProcessorContext({ stage: 'scoring', llm })
  const p = scoring({ decontaminator })
  const input = ctx.input('synthesizedInstructions', instruction('leak', { instruction: benchmark }))
  await ctx.process(p, input)
  assert.deepEqual(ctx.forwarded(), [])
  const [r] = ctx.rejections()
  assert.equal(r!.record, input)
  assert.equal(r!.errorClass, 'Decontaminated')
  assert.match(r!.reason, /^instruction leak resembles humaneval prompt HumanEval\/55/)
  assert.equal(llm.calls.length, 0, 'no tokens spent on a contaminated instruction')
  assert.equal(p.metrics!().decontaminated, 1)
})

test('an answer missing a criterion is not scored: the call fails as LlmOutputError (the runtime dead-letters it)', async () => {
  const { real_world_application: _dropped, ...six } = scores(7)
  const ctx = new MockProcessorContext({ stage: 'scoring', llm: new ScriptedLlm().answer('scoring', six) })
  await assert.rejects(ctx.process(scoring(), ctx.input('synthesizedInstructions', instruction('bad'))), (err: Error) => {
    assert.ok(err instanceof LlmOutputError)
    assert.match(err.message, /real_world_application/)
    return true
  })
  assert.deepEqual(ctx.forwarded(), [])
})
