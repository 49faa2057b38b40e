/**
 * instruction-generation on the mock context: a situation becomes one synthesized instruction
 * keyed by its document; the demonstrations shown are the situation's, looked up in the table —
 * one removed from the pool since is left out, and lineage records the ids actually shown.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { instructionGeneration, type SituationRecord } from '../../src/processors/instruction/instruction-generation.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { SAMPLES } from '../fixtures/records.ts'

/** An output read by path in assertions (its shape is the topic's schema, checked in test/serde). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

const SITUATION = SAMPLES.situations as unknown as SituationRecord
const demo = (id: string, prompt: string): Record<string, unknown> => ({ ...SAMPLES.demonstrations, instruction_id: id, prompt })

test('a situation becomes an instruction keyed by its document, carrying scene, compositions and lineage', async () => {
  const llm = new ScriptedLlm().answer('instruction-generation', { query: 'Given 20-inch wheels punctured after 10 km, propose a redesign.' })
  const ctx = new MockProcessorContext({ stage: 'instruction-generation', llm, outputs: ['synthesizedInstructions'], tables: { demonstrations: { 'seed-1': demo('seed-1', 'Seed one?'), 'seed-7': demo('seed-7', 'Seed seven?') } } })
  const p = instructionGeneration({ excerptTokens: 64, tokenizer: 'approx' })
  await ctx.init(p)
  await ctx.process(p, ctx.input('situations', SITUATION))
  const [out] = ctx.forwarded<Json>('synthesizedInstructions')
  assert.equal(out!.key, 'ins-doc-c4-0001')
  assert.equal(out!.value.instruction, 'Given 20-inch wheels punctured after 10 km, propose a redesign.')
  assert.equal(out!.value.situation_id, 'sit-1')
  assert.deepEqual(out!.value.document, SITUATION.document)
  assert.equal(out!.value.scene, SITUATION.scene)
  assert.deepEqual(out!.value.query_compositions, SITUATION.query_compositions)
  assert.deepEqual(out!.value.lineage.demonstration_ids, ['seed-1', 'seed-7'])
  assert.equal(out!.value.lineage.sampling_seed, 42, 'the draw\'s seed travels on')
  assert.deepEqual(out!.value.lineage.prompt, { id: 'instruction-generation', version: '1' })
  // Both demonstrations were shown, in the situation's order, then the scene.
  const asked = llm.calls[0]!.messages.map((m) => m.content).join('\n')
  assert.ok(asked.indexOf('Seed one?') < asked.indexOf('Seed seven?'))
  assert.ok(asked.includes(SITUATION.scene))
})

test('a demonstration gone from the pool is left out of the prompt and of the lineage', async () => {
  const llm = new ScriptedLlm().answer('instruction-generation', { query: 'How should the wheels be redesigned?' })
  const ctx = new MockProcessorContext({ stage: 'instruction-generation', llm, tables: { demonstrations: { 'seed-7': demo('seed-7', 'Seed seven?') } } })
  const p = instructionGeneration({ excerptTokens: 64, tokenizer: 'approx' })
  await ctx.init(p)
  await ctx.process(p, ctx.input('situations', SITUATION))
  assert.deepEqual((ctx.forwarded()[0]!.value.lineage as { demonstration_ids: string[] }).demonstration_ids, ['seed-7'])
  assert.ok(!llm.calls[0]!.messages.map((m) => m.content).join('\n').includes('Seed one?'))
})

test('an empty answer is refused by the prompt\'s schema: nothing is emitted', async () => {
  const ctx = new MockProcessorContext({ stage: 'instruction-generation', llm: new ScriptedLlm().answer('instruction-generation', { query: '' }), tables: { demonstrations: {} } })
  const p = instructionGeneration({ excerptTokens: 64, tokenizer: 'approx' })
  await ctx.init(p)
  await assert.rejects(ctx.process(p, ctx.input('situations', SITUATION)), /does not match the schema/)
  assert.deepEqual(ctx.forwarded(), [])
})
