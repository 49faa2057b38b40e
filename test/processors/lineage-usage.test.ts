/**
 * lineage.usage: every record an LLM stage writes carries the tokens of the call that made it
 * (summed when it took several: the judge's two orders, the seed gate's scoring call), with
 * `cached` when no call spent tokens this time; stages without a call write null. The schema
 * change is BACKWARD compatible: a record written before the field existed decodes with null.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import avro from 'avsc'
import { conceptExtraction } from '../../src/processors/concept-extraction/concept-extraction.ts'
import { instructionGeneration, type SituationRecord } from '../../src/processors/instruction/instruction-generation.ts'
import { buildLineage, sumUsage, type Lineage } from '../../src/processors/lineage.ts'
import type { InputRecord } from '../../src/processors/processor.ts'
import { judge } from '../../src/processors/response/judge.ts'
import { responseB, type ResponsePairValue } from '../../src/processors/response/response-b.ts'
import { response, type ResponseValue } from '../../src/processors/response/response.ts'
import { CRITERIA, type Scores } from '../../src/processors/scoring/prompt.ts'
import { scoring, type SynthesizedRecord } from '../../src/processors/scoring/scoring.ts'
import type { SampleRowValue } from '../../src/processors/sink/types.ts'
import { situationEnvisioning, type CleanDocument } from '../../src/processors/situation/situation-envisioning.ts'
import { situationGrounding, type GroundedRecord } from '../../src/processors/situation/situation-grounding.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { SAMPLES } from '../fixtures/records.ts'

type WithLineage = { lineage: Lineage }
const scores = (met: number): Scores => Object.fromEntries(CRITERIA.map((c, i) => [c, { analysis: c, score: i < met ? 1 : 0 }])) as Scores
const ROW = SAMPLES.sample as unknown as SampleRowValue
const input = (value: unknown): InputRecord => ({ topic: 'documents', key: 'k', value, partition: 0, offset: '0', timestamp: 1 })

test('buildLineage: usage in snake_case when given, null without a call', () => {
  assert.equal(buildLineage('s', 'r', () => 't', [input({})], {}, 1).usage, null)
  assert.deepEqual(buildLineage('s', 'r', () => 't', [input({})], { usage: { promptTokens: 120, completionTokens: 30, cached: true } }, 1).usage, { prompt_tokens: 120, completion_tokens: 30, cached: true })
  // Only this stage's own call: an upstream record's usage is not carried over.
  const up = { lineage: buildLineage('up', 'r', () => 't', [input({})], { usage: { promptTokens: 5, completionTokens: 5, cached: false } }, 1) }
  assert.equal(buildLineage('s', 'r', () => 't', [input(up)], {}, 2).usage, null)
})

test('sumUsage: tokens add up; cached only when every call was a cache hit', () => {
  assert.deepEqual(sumUsage({ promptTokens: 100, completionTokens: 20, cached: false }, { promptTokens: 90, completionTokens: 7, cached: true }), { promptTokens: 190, completionTokens: 27, cached: false })
  assert.deepEqual(sumUsage({ promptTokens: 1, completionTokens: 2, cached: true }, { promptTokens: 3, completionTokens: 4, cached: true }), { promptTokens: 4, completionTokens: 6, cached: true })
})

test('single-call stages record their call: scoring, situation-grounding, situation-envisioning, instruction-generation, response', async () => {
  const usage = { promptTokens: 812, completionTokens: 164, cached: false }
  const want = { prompt_tokens: 812, completion_tokens: 164, cached: false }

  const sc = new MockProcessorContext({ stage: 'scoring', llm: new ScriptedLlm().answer('scoring', scores(5), { usage }) })
  await sc.process(scoring(), sc.input('synthesizedInstructions', SAMPLES.synthesizedInstructions as unknown as SynthesizedRecord))
  assert.deepEqual(sc.forwarded<WithLineage>()[0]!.value.lineage.usage, want, 'scoring')

  const grounding = { scene: 'A seller.', query_compositions: { ability: 'a', knowledge: 'k', extra_information: 'e', output: 'o' } }
  const gr = new MockProcessorContext({ stage: 'situation-grounding', llm: new ScriptedLlm().answer('situation-grounding', grounding, { usage }) })
  const g = situationGrounding({ documentTokens: 4096, tokenizer: 'approx' })
  await gr.init(g)
  await gr.process(g, gr.input('groundedInstructions', SAMPLES.groundedInstructions as unknown as GroundedRecord))
  assert.deepEqual(gr.forwarded<WithLineage>()[0]!.value.lineage.usage, want, 'situation-grounding')

  const envisioned = { thought: 't', scene: 's', query_compositions: grounding.query_compositions }
  const en = new MockProcessorContext({ stage: 'situation-envisioning', llm: new ScriptedLlm().answer('situation-envisioning', envisioned, { usage }), tables: { demonstrations: { a: SAMPLES.demonstrations } } })
  const e = situationEnvisioning({ seed: 7, k: 1, resampleEvery: 1, excerptTokens: 64, documentTokens: 512, promptTokens: 4096, tokenizer: 'approx' })
  await en.init(e)
  await en.process(e, en.input('cleanDocuments', SAMPLES.cleanDocuments as unknown as CleanDocument))
  assert.deepEqual(en.forwarded<WithLineage>()[0]!.value.lineage.usage, want, 'situation-envisioning')

  const ig = new MockProcessorContext({ stage: 'instruction-generation', llm: new ScriptedLlm().answer('instruction-generation', { query: 'Redesign the rover wheel for 10 km of sharp rocks.' }, { usage }), tables: { demonstrations: {} } })
  const i = instructionGeneration({ excerptTokens: 64, tokenizer: 'approx' })
  await ig.init(i)
  await ig.process(i, ig.input('situations', SAMPLES.situations as unknown as SituationRecord))
  assert.deepEqual(ig.forwarded<WithLineage>()[0]!.value.lineage.usage, want, 'instruction-generation')

  // A cache hit keeps the original call's counts and says so.
  const rs = new MockProcessorContext({ stage: 'response', llm: new ScriptedLlm().answer('response', { assistant_response: 'A.' }, { usage: { ...usage, cached: true } }), tables: { sample: { 'ins-1': ROW } } })
  await rs.process(response({ showDocument: false, settleMs: 2_000 }), rs.input('sample', ROW))
  assert.deepEqual(rs.forwarded<WithLineage>()[0]!.value.lineage.usage, { ...want, cached: true }, 'response')
})

test('concept-extraction with a seed gate: the gate call and the extraction call are summed', async () => {
  const llm = new ScriptedLlm()
    .answer('scoring', scores(7), { usage: { promptTokens: 300, completionTokens: 200, cached: true } })
    .answer('concept-extraction', { intention: 'i', keywords: ['k'] }, { usage: { promptTokens: 150, completionTokens: 25 } })
  const ctx = new MockProcessorContext({ stage: 'concept-extraction', llm })
  await ctx.process(conceptExtraction({ seedGate: 3 }), ctx.input('realInstructions', { id: 's', prompt: 'How?', source: 'x', metadata: {} }))
  assert.deepEqual(ctx.forwarded<WithLineage>()[0]!.value.lineage.usage, { prompt_tokens: 450, completion_tokens: 225, cached: false })
  // Without the gate: the extraction alone.
  const solo = new MockProcessorContext({ stage: 'concept-extraction', llm })
  await solo.process(conceptExtraction(), solo.input('realInstructions', { id: 't', prompt: 'Why?', source: 'x', metadata: {} }))
  assert.deepEqual(solo.forwarded<WithLineage>()[0]!.value.lineage.usage, { prompt_tokens: 150, completion_tokens: 25, cached: false })
})

test('the judge sums its two orders; response-b records its own call, not the upstream response', async () => {
  const jllm = new ScriptedLlm()
    .answer('judge', { judge_reason: 'r', better_response: 'A' }, { times: 1, usage: { promptTokens: 400, completionTokens: 40 } })
    .answer('judge', { judge_reason: 'r', better_response: 'B' }, { times: 1, usage: { promptTokens: 410, completionTokens: 50 } })
  const jctx = new MockProcessorContext({ stage: 'judge', llm: jllm, tables: { sample: { 'ins-1': ROW } } })
  const side = { model: { endpoint: 'e', name: 'm', temperature: 1 }, prompt: { id: 'response', version: '1' }, prompt_tokens: 9, completion_tokens: 9, cached: false, simulated: false }
  const pair: ResponsePairValue = { id: 'ins-1', instruction: ROW.instruction, a: { ...side, response: 'x' }, b: { ...side, response: 'y' }, lineage: ROW.lineage }
  await jctx.process(judge({ settleMs: 2_000 }), jctx.input('responsePairs', pair))
  assert.deepEqual(jctx.forwarded<WithLineage>()[0]!.value.lineage.usage, { prompt_tokens: 810, completion_tokens: 90, cached: false })

  const bllm = new ScriptedLlm().answer('response', { assistant_response: 'B.' }, { usage: { promptTokens: 70, completionTokens: 33 } })
  const bctx = new MockProcessorContext({ stage: 'response-b', llm: bllm, tables: { sample: { 'ins-1': ROW } } })
  const a: ResponseValue = { id: 'ins-1', instruction: ROW.instruction, response: 'A.', ...side, document_shown: false, total: 6, topic: 1, document: ROW.document, lineage: { ...ROW.lineage, usage: { prompt_tokens: 9, completion_tokens: 9, cached: false } } }
  await bctx.process(responseB({ settleMs: 2_000 }), bctx.input('responses', a))
  assert.deepEqual(bctx.forwarded<WithLineage>()[0]!.value.lineage.usage, { prompt_tokens: 70, completion_tokens: 33, cached: false })
})

test('lineage.usage is a BACKWARD-compatible addition: a record written without it decodes with null', () => {
  const now = SchemaCatalog.load().get('synthq.ScoredInstruction')
  // The same schema as it was before the field: usage removed from the nested Lineage.
  const before = JSON.parse(now.schema) as { fields: Array<{ name: string, type: { fields?: Array<{ name: string }> } }> }
  const lin = before.fields.find((f) => f.name === 'lineage')!.type
  lin.fields = lin.fields!.filter((f) => f.name !== 'usage')
  const old = avro.Type.forSchema(before as unknown as avro.Schema)
  const { usage: _, ...oldLineage } = SAMPLES.scoredInstructions.lineage as Lineage
  const bytes = old.toBuffer({ ...SAMPLES.scoredInstructions, lineage: oldLineage })
  // What the registry's BACKWARD check does: the new reader resolves the old writer.
  const read = now.type.createResolver(old)
  const decoded = now.type.fromBuffer(bytes, read) as WithLineage
  assert.equal(decoded.lineage.usage, null)
  const round = now.type.fromBuffer(now.type.toBuffer(SAMPLES.scoredInstructions)) as WithLineage
  assert.deepEqual({ ...round.lineage.usage }, { prompt_tokens: 812, completion_tokens: 164, cached: false })
})
