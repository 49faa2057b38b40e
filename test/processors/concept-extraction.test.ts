/**
 * concept-extraction on the mock context: an instruction becomes its intention and at most five
 * keywords, normalised first; empty and benchmark-like instructions are rejected with the reason
 * before any call; with a seed quality gate, seeds scoring below it are rejected with their score.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Decontaminator } from '../../src/hygiene/decontam.ts'
import { conceptExtraction, type RealInstruction } from '../../src/processors/concept-extraction/concept-extraction.ts'
import { CRITERIA, type Scores } from '../../src/processors/scoring/prompt.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'

const seed = (id: string, prompt: string): RealInstruction => ({ id, prompt, source: 'oasst', metadata: {} })
const scores = (met: number): Scores => Object.fromEntries(CRITERIA.map((c, i) => [c, { analysis: c, score: i < met ? 1 : 0 }])) as Scores
const concepts = { intention: 'The user wants to revive a seasonal online shop.', keywords: ['Etsy', 'seasonality', 'SEO', 'listings', 'promotion', 'sixth one'] }

test('an instruction becomes intention + at most five keywords, from the normalised text, with lineage', async () => {
  // The schema allows five keywords; a sixth is cut by the processor even if a lenient model sends it.
  const llm = new ScriptedLlm().answer('concept-extraction', { ...concepts, keywords: concepts.keywords.slice(0, 5) })
  const ctx = new MockProcessorContext({ stage: 'concept-extraction', llm, outputs: ['concepts'] })
  const input = ctx.input('realInstructions', seed('seed-1', '  How do I keep my   Etsy shop\tvisible?  '))
  await ctx.process(conceptExtraction(), input)
  const [out] = ctx.forwarded<Record<string, unknown> & { lineage: Record<string, unknown> }>('concepts')
  assert.equal(out!.key, 'seed-1')
  assert.equal(out!.value.prompt, 'How do I keep my Etsy shop visible?', 'normalised whitespace')
  assert.equal(out!.value.intention, concepts.intention)
  assert.deepEqual(out!.value.keywords, ['Etsy', 'seasonality', 'SEO', 'listings', 'promotion'])
  assert.equal(out!.value.seed_score, null, 'no gate, no score')
  assert.deepEqual(out!.value.lineage.prompt, { id: 'concept-extraction', version: '1' })
  assert.deepEqual(out!.value.lineage.upstream, [{ topic: 'synthq.instructions.real', id: 'seed-1', partition: 0, offset: 0 }])
  // The model saw the normalised instruction.
  assert.match(llm.calls[0]!.messages.at(-1)!.content, /Instruction: How do I keep my Etsy shop visible\?$/)
})

test('a model answer with six keywords fails the schema: nothing is emitted for it', async () => {
  const ctx = new MockProcessorContext({ stage: 'concept-extraction', llm: new ScriptedLlm().answer('concept-extraction', concepts) })
  await assert.rejects(ctx.process(conceptExtraction(), ctx.input('realInstructions', seed('s6', 'Plan a trip to Kyoto'))), /keywords/)
  assert.deepEqual(ctx.forwarded(), [])
})

test('empty and benchmark-like instructions are rejected with the reason, before any LLM call', async () => {
  const benchmark = 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?'
  const decontaminator = new Decontaminator()
  decontaminator.addPrompt('gsm8k', 'gsm8k-test-1', benchmark)
  const llm = new ScriptedLlm().answer('concept-extraction', { ...concepts, keywords: ['x'] })
  const ctx = new MockProcessorContext({ stage: 'concept-extraction', llm })
  const p = conceptExtraction({ decontaminator })
  await ctx.process(p, ctx.input('realInstructions', seed('blank', ' \n\t ')))
  await ctx.process(p, ctx.input('realInstructions', seed('leak', benchmark)))
  assert.deepEqual(ctx.rejections().map((r) => [r.record.key, r.errorClass]), [['blank', 'EmptyInput'], ['leak', 'Decontaminated']])
  assert.match(ctx.rejections()[0]!.reason, /instruction blank is empty after normalisation/)
  assert.match(ctx.rejections()[1]!.reason, /resembles gsm8k prompt gsm8k-test-1/)
  assert.equal(llm.calls.length, 0)
  assert.deepEqual(p.metrics!(), { decontaminated: 1, belowSeedGate: 0 })
})

test('the seed gate scores each seed first: below the gate rejected with its score, at the gate kept with it', async () => {
  // The scoring prompt answers by the seed's text; concept extraction answers everything else.
  const llm = new ScriptedLlm()
    .answer('scoring', (req) => scores(req.messages.at(-1)!.content.includes('something vague') ? 2 : 6), { stage: 'concept-extraction' })
    .answer('concept-extraction', { ...concepts, keywords: ['k'] })
  const ctx = new MockProcessorContext({ stage: 'concept-extraction', llm })
  const p = conceptExtraction({ seedGate: 6 })
  await ctx.process(p, ctx.input('realInstructions', seed('weak', 'something vague')))
  await ctx.process(p, ctx.input('realInstructions', seed('strong', 'Compare B-trees and LSM trees for a write-heavy workload')))
  assert.deepEqual(ctx.rejections().map((r) => [r.record.key, r.errorClass, r.reason]), [['weak', 'BelowSeedGate', 'instruction weak scored 2/7, below the seed quality gate of 6']])
  assert.deepEqual(ctx.forwarded().map((o) => [o.key, o.value.seed_score]), [['strong', 6]])
  // The weak seed cost one call (scoring), the strong one two (scoring, then concepts).
  assert.deepEqual(llm.calls.map((c) => c.prompt.id), ['scoring', 'scoring', 'concept-extraction'])
  assert.equal(p.metrics!().belowSeedGate, 1)
})
