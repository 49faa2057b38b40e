/**
 * situation-grounding on the mock context: a real instruction with its retrieved document becomes
 * a demonstration (scene + query compositions) keyed by the instruction; the document is cut to
 * the token budget before the call, and the cut text is what the demonstration keeps.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { tokenizerFor } from '../../src/hygiene/tokenizer.ts'
import { situationGrounding, type GroundedRecord } from '../../src/processors/situation/situation-grounding.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { SAMPLES } from '../fixtures/records.ts'

/** An output read by path in assertions (its shape is the topic's schema, checked in test/serde). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

const GROUNDED = SAMPLES.groundedInstructions as unknown as GroundedRecord
const grounding = { scene: 'A ceramics seller whose traffic fell after the holidays.', query_compositions: { ability: 'marketing', knowledge: 'Etsy search', extra_information: 'sales fell 40 %', output: 'a 4-week plan' } }

test('the instruction and its document become a demonstration keyed by the instruction, with lineage', async () => {
  const llm = new ScriptedLlm().answer('situation-grounding', grounding)
  const ctx = new MockProcessorContext({ stage: 'situation-grounding', llm, outputs: ['demonstrations'] })
  const p = situationGrounding({ documentTokens: 4096, tokenizer: 'approx' })
  await ctx.init(p)
  await ctx.process(p, ctx.input('groundedInstructions', GROUNDED))
  const [out] = ctx.forwarded<Json>('demonstrations')
  assert.equal(out!.key, 'seed-1')
  assert.deepEqual({ ...out!.value, lineage: undefined }, {
    instruction_id: 'seed-1', prompt: GROUNDED.prompt, document: GROUNDED.document, document_text: GROUNDED.document_text,
    scene: grounding.scene, query_compositions: grounding.query_compositions, seed_score: 7, lineage: undefined,
  })
  assert.deepEqual(out!.value.lineage.prompt, { id: 'situation-grounding', version: '1' })
  // The steps so far: concept extraction (from the grounded record's history), then search retrieval.
  assert.deepEqual(out!.value.lineage.steps.map((s: { stage: string }) => s.stage), ['concept-extraction', 'search-retrieval'])
  // The model saw the document and the instruction.
  const asked = llm.calls[0]!.messages.at(-1)!.content
  assert.ok(asked.includes(GROUNDED.document_text) && asked.includes(GROUNDED.prompt))
})

test('a long document is cut to the token budget before the call, exactly as the tokenizer cuts it', async () => {
  const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ')
  const llm = new ScriptedLlm().answer('situation-grounding', grounding)
  const ctx = new MockProcessorContext({ stage: 'situation-grounding', llm })
  const p = situationGrounding({ documentTokens: 50, tokenizer: 'llama3' })
  await ctx.init(p)
  await ctx.process(p, ctx.input('groundedInstructions', { ...GROUNDED, document_text: long }))
  const cut = tokenizerFor('llama3').truncate(long, 50).text
  assert.ok(cut.length < long.length)
  assert.equal(ctx.forwarded()[0]!.value.document_text, cut)
  assert.ok(llm.calls[0]!.messages.at(-1)!.content.includes(cut) && !llm.calls[0]!.messages.at(-1)!.content.includes('word399'))
})
