/**
 * situation-envisioning takes documents as document-hygiene left them: it cuts one to the
 * budget only when it may not fit, and then exactly as the tokenizer would. On the mock context:
 * a situation per document, made with k demonstrations drawn from the table and named in its
 * lineage, shared by the documents of one draw, and made without examples when the pool is empty.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { tokenizerFor } from '../../src/hygiene/tokenizer.ts'
import { fitDocument, situationEnvisioning, type CleanDocument } from '../../src/processors/situation/situation-envisioning.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { SAMPLES } from '../fixtures/records.ts'

/** An output read by path in assertions (its shape is the topic's schema, checked in test/serde). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

const tokenizer = tokenizerFor('llama3')
const doc = (text: string, extra: Partial<CleanDocument> = {}): CleanDocument => ({ id: 'd', text, url: null, title: null, corpus: 'c4', ...extra })
const pages = readFileSync(new URL('../../data/web/c4-en-validation-600.jsonl', import.meta.url), 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, 60).map((l) => (JSON.parse(l) as { text: string }).text.trim())

test('a document is cut exactly as the tokenizer cuts it, whatever the budget', () => {
  tokenizer.load()
  for (const budget of [16, 64, 256, 4096]) {
    for (const text of pages) assert.equal(fitDocument(doc(text), budget, tokenizer), tokenizer.truncate(text, budget).text, `budget ${budget}`)
  }
})

test('the token count document-hygiene recorded is trusted only for the same vocabulary and when it fits', () => {
  const long = pages.reduce((a, b) => (b.length > a.length ? b : a))
  const exact = tokenizer.count(long)
  // Hygiene's count says it fits: taken as is, no second encoding.
  assert.equal(fitDocument(doc(long, { tokens: exact, tokenizer: 'llama3' }), exact, tokenizer), long)
  // Over the budget, or counted with another vocabulary: cut by this one.
  assert.equal(fitDocument(doc(long, { tokens: exact, tokenizer: 'llama3' }), 50, tokenizer), tokenizer.truncate(long, 50).text)
  assert.equal(fitDocument(doc(long, { tokens: 10, tokenizer: 'o200k' }), 50, tokenizer), tokenizer.truncate(long, 50).text)
  // Multi-byte text: a short string in characters can still be many tokens.
  const cjk = '龘'.repeat(40)
  assert.equal(fitDocument(doc(cjk), 50, tokenizer), tokenizer.truncate(cjk, 50).text)
})

// ── the processor on the mock context ─────────────────────────────────────────────────────────

const envisioned = { thought: 'An engineer would ask how to stop the punctures.', scene: 'A rover engineer reviewing wheel wear.', query_compositions: { ability: 'design', knowledge: 'materials', extra_information: '10 km', output: 'a plan' } }
const demoRow = (id: string): Record<string, unknown> => ({ ...SAMPLES.demonstrations, instruction_id: id, prompt: `Seed question ${id}?` })
const envisioning = (): ReturnType<typeof situationEnvisioning> => situationEnvisioning({ seed: 7, k: 2, resampleEvery: 2, excerptTokens: 64, documentTokens: 512, promptTokens: 4096, tokenizer: 'approx' })

test('a document becomes a situation keyed sit-<document>, made with k demonstrations from the table, named in its lineage', async () => {
  const llm = new ScriptedLlm().answer('situation-envisioning', envisioned)
  const ctx = new MockProcessorContext({ stage: 'situation-envisioning', llm, outputs: ['situations'], tables: { demonstrations: { a: demoRow('a'), b: demoRow('b'), c: demoRow('c') } } })
  const p = envisioning()
  await ctx.init(p)
  const clean = SAMPLES.cleanDocuments as unknown as CleanDocument
  await ctx.process(p, ctx.input('cleanDocuments', clean))
  const [out] = ctx.forwarded<Json>('situations')
  assert.equal(out!.key, `sit-${clean.id}`)
  assert.deepEqual({ thought: out!.value.thought, scene: out!.value.scene, query_compositions: out!.value.query_compositions }, envisioned)
  assert.equal(out!.value.document_text, clean.text)
  const ids: string[] = out!.value.lineage.demonstration_ids
  assert.equal(ids.length, 2)
  assert.ok(ids.every((id) => ['a', 'b', 'c'].includes(id)))
  assert.equal(typeof out!.value.lineage.sampling_seed, 'number')
  // The demonstrations named in the lineage are those the model was shown.
  const asked = llm.calls[0]!.messages.map((m) => m.content).join('\n')
  for (const id of ['a', 'b', 'c']) assert.equal(asked.includes(`Seed question ${id}?`), ids.includes(id), id)
})

test('documents sharing a draw share its demonstrations; an empty pool envisions without examples and counts it', async () => {
  const llm = new ScriptedLlm().answer('situation-envisioning', envisioned)
  const ctx = new MockProcessorContext({ stage: 'situation-envisioning', llm, tables: { demonstrations: { a: demoRow('a'), b: demoRow('b'), c: demoRow('c') } } })
  const p = envisioning()
  await ctx.init(p)
  const clean = SAMPLES.cleanDocuments as unknown as CleanDocument
  for (const id of ['d1', 'd2']) await ctx.process(p, ctx.input('cleanDocuments', { ...clean, id }))
  const [first, second] = ctx.forwarded<{ lineage: { demonstration_ids: string[] } }>()
  assert.deepEqual(first!.value.lineage.demonstration_ids, second!.value.lineage.demonstration_ids, 'resampleEvery 2: one draw for both')

  const empty = new MockProcessorContext({ stage: 'situation-envisioning', llm, tables: { demonstrations: {} } })
  const q = envisioning()
  await empty.init(q)
  await empty.process(q, empty.input('cleanDocuments', clean))
  assert.deepEqual((empty.forwarded()[0]!.value.lineage as { demonstration_ids: string[] }).demonstration_ids, [])
  assert.equal(q.metrics!().withoutDemonstrations, 1)
})
