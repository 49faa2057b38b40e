/**
 * The response stages on the mock context: response answers each instruction of the sample
 * (without its document, by default) and forwards tombstones; an instruction evicted before its
 * turn is never sent to the model, and one evicted while its call is in flight — by a tombstone
 * on the input or by its row leaving the sample table — has its call aborted and its response
 * dropped and counted. response-b makes the pair; the judge asks both orders and keeps a
 * preference only when they agree.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { JsonRequest, JsonResult } from '../../src/llm/client.ts'
import type { StageSettings } from '../../src/llm/config.ts'
import { combineVerdicts, judge, type PreferenceValue } from '../../src/processors/response/judge.ts'
import { responseB, type ResponsePairValue } from '../../src/processors/response/response-b.ts'
import { response, type ResponseValue } from '../../src/processors/response/response.ts'
import type { SampleRowValue } from '../../src/processors/sink/types.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { SAMPLES } from '../fixtures/records.ts'

const ROW = SAMPLES.sample as unknown as SampleRowValue
const NOW = 1_800_000_000_000

function row (id: string): SampleRowValue {
  return { ...ROW, id, instruction: `${ROW.instruction} (${id})` }
}

/** A scripted LLM whose answers wait for `release()`: calls stay in flight until then. */
class GatedLlm extends ScriptedLlm {
  #open!: () => void
  gate = new Promise<void>((resolve) => { this.#open = resolve })
  started = 0
  release (): void { this.#open() }
  override async json<T> (s: StageSettings, req: JsonRequest<T>): Promise<JsonResult<T>> {
    this.started++
    await this.gate
    return await super.json(s, req)
  }
}

const answer = { assistant_response: '1. Compare the wheels.\n2. Decide.' }

test('response: an instruction of the sample gets its response, with lineage, model, temperature and tokens; the document is not shown', async () => {
  const llm = new ScriptedLlm().answer('response', answer, { simulated: true })
  const ctx = new MockProcessorContext({ stage: 'response', llm, now: NOW, outputs: ['responses'], tables: { sample: { 'ins-1': row('ins-1') } } })
  const p = response({ showDocument: false, settleMs: 2_000 })
  const input = ctx.input('sample', row('ins-1'), { partition: 2, offset: 7 })
  await ctx.process(p, input)
  const [out] = ctx.forwarded<ResponseValue>('responses')
  assert.equal(out!.key, 'ins-1')
  assert.equal(out!.value.response, answer.assistant_response)
  assert.equal(out!.value.instruction, row('ins-1').instruction)
  assert.deepEqual(out!.value.model, { endpoint: 'scripted', name: 'scripted-model', temperature: 0.7 })
  assert.deepEqual(out!.value.prompt, { id: 'response', version: '1' })
  assert.equal(out!.value.document_shown, false)
  assert.equal(out!.value.total, ROW.total)
  assert.deepEqual(out!.value.lineage.upstream, [{ topic: 'synthq.sample', id: 'ins-1', partition: 2, offset: 7 }])
  assert.deepEqual(out!.value.lineage.prompt, { id: 'response', version: '1' })
  assert.equal(out!.value.lineage.simulated, true)
  // The responder saw the instruction alone: not the document's title, URL or copied details.
  const asked = llm.callsFor('response')[0]!.messages.at(-1)!.content
  assert.equal(asked, row('ins-1').instruction)
  assert.deepEqual(p.metrics!(), { responses: 1, evicted_before_call: 0, evicted_in_flight: 0, tombstones: 0 })
})

test('response: showDocument shows what the sample row keeps of the document', async () => {
  const llm = new ScriptedLlm().answer('response', answer)
  const ctx = new MockProcessorContext({ stage: 'response', llm, now: NOW, tables: { sample: { 'ins-1': row('ins-1') } } })
  await ctx.process(response({ showDocument: true, settleMs: 2_000 }), ctx.input('sample', row('ins-1')))
  const asked = llm.callsFor('response')[0]!.messages.at(-1)!.content
  assert.match(asked, new RegExp(ROW.document.title!))
  assert.match(asked, /punctures after 10 km/)
  assert.equal(ctx.forwarded<ResponseValue>()[0]!.value.document_shown, true)
})

test('response: a tombstone of the sample deletes the response downstream', async () => {
  const ctx = new MockProcessorContext({ stage: 'response', llm: new ScriptedLlm(), now: NOW, outputs: ['responses'], tables: { sample: {} } })
  const p = response({ showDocument: false, settleMs: 2_000 })
  await ctx.process(p, ctx.input('sample', null, { key: 'ins-9' }))
  assert.deepEqual(ctx.forwarded<null>().map((o) => [o.topic, o.key, o.value]), [['responses', 'ins-9', null]])
  assert.equal(p.metrics!().tombstones, 1)
})

test('response: an instruction already gone from the sample table costs nothing — no call, no output, counted', async () => {
  const llm = new ScriptedLlm().answer('response', answer)
  const ctx = new MockProcessorContext({ stage: 'response', llm, now: NOW, tables: { sample: { other: row('other') } } })
  const p = response({ showDocument: false, settleMs: 2_000 })
  // Written 10 s ago, and the table (which has read past it) no longer holds it.
  await ctx.process(p, ctx.input('sample', row('ins-1'), { timestamp: NOW - 10_000 }))
  assert.deepEqual(ctx.forwarded(), [])
  assert.equal(llm.callsFor('response').length, 0)
  assert.equal(p.metrics!().evicted_before_call, 1)
})

test('response: a row the table has not read yet is waited for, not taken for an eviction', async () => {
  const llm = new ScriptedLlm().answer('response', answer)
  const ctx = new MockProcessorContext({ stage: 'response', llm, now: NOW, tables: { sample: {} } })
  const p = response({ showDocument: false, settleMs: 2_000 })
  // Fresh record, table behind: the row arrives 100 ms later.
  setTimeout(() => ctx.putRow('sample', 'ins-1', row('ins-1')), 100)
  await ctx.process(p, ctx.input('sample', row('ins-1'), { timestamp: NOW }))
  assert.equal(ctx.forwarded<ResponseValue>('responses').length, 1)
  assert.equal(p.metrics!().evicted_before_call, 0)
})

test('response: a tombstone arriving while the call is in flight aborts it; the response is dropped and counted', async () => {
  const llm = new GatedLlm().answer('response', answer)
  const ctx = new MockProcessorContext({ stage: 'response', llm, now: NOW, tables: { sample: { 'ins-1': row('ins-1') } } })
  const p = response({ showDocument: false, settleMs: 2_000 })
  const upsert = ctx.process(p, ctx.input('sample', row('ins-1')))
  while (llm.started === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  // The sink evicted it: the tombstone comes down the same partition while the call runs.
  await ctx.process(p, ctx.input('sample', null, { key: 'ins-1' }))
  await upsert
  llm.release()
  assert.deepEqual(ctx.forwarded<null>().map((o) => [o.key, o.value]), [['ins-1', null]], 'only the tombstone: no response after it')
  assert.equal(p.metrics!().evicted_in_flight, 1)
})

test('response: the row leaving the sample table while the call is in flight aborts it', async () => {
  const llm = new GatedLlm().answer('response', answer)
  const ctx = new MockProcessorContext({ stage: 'response', llm, now: NOW, tables: { sample: { 'ins-1': row('ins-1') } } })
  const p = response({ showDocument: false, settleMs: 2_000 })
  const upsert = ctx.process(p, ctx.input('sample', row('ins-1')))
  while (llm.started === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  ctx.putRow('sample', 'ins-1', null)
  await upsert
  llm.release()
  assert.deepEqual(ctx.forwarded(), [])
  assert.equal(p.metrics!().evicted_in_flight, 1)
})

const responseValue = (id: string, text: string): ResponseValue => ({
  id, instruction: row(id).instruction, response: text, model: { endpoint: 'scripted', name: 'model-a', temperature: 0.2 }, prompt: { id: 'response', version: '1' },
  prompt_tokens: 10, completion_tokens: 5, cached: false, document_shown: false, total: 6, topic: 3, document: ROW.document,
  lineage: { ...ROW.lineage, stage: 'response', simulated: false },
})

test('response-b: the second responder answers the same prompt; the pair carries both, tombstones follow', async () => {
  const llm = new ScriptedLlm().answer('response', { assistant_response: 'Answer B' })
  const ctx = new MockProcessorContext({ stage: 'response-b', llm, now: NOW, outputs: ['responsePairs'], tables: { sample: { 'ins-1': row('ins-1') } } })
  const p = responseB({ settleMs: 2_000 })
  await ctx.process(p, ctx.input('responses', responseValue('ins-1', 'Answer A')))
  await ctx.process(p, ctx.input('responses', null, { key: 'ins-1' }))
  const [pair, tomb] = ctx.forwarded<ResponsePairValue | null>('responsePairs')
  assert.equal(pair!.value!.a.response, 'Answer A')
  assert.equal(pair!.value!.a.model.name, 'model-a')
  assert.equal(pair!.value!.b.response, 'Answer B')
  assert.deepEqual(pair!.value!.b.model, { endpoint: 'scripted', name: 'scripted-model', temperature: 0.7 })
  assert.equal(llm.callsFor('response')[0]!.messages.at(-1)!.content, row('ins-1').instruction)
  assert.deepEqual([tomb!.key, tomb!.value], ['ins-1', null])
})

test('judge: both orders agree → a preference; a tie or disagreement is kept as such, and counted', () => {
  assert.deepEqual(combineVerdicts('A', 'B'), { outcome: 'preferred', winner: 'a', verdicts: ['a', 'a'] })
  assert.deepEqual(combineVerdicts('B', 'A'), { outcome: 'preferred', winner: 'b', verdicts: ['b', 'b'] })
  assert.deepEqual(combineVerdicts('A', 'A'), { outcome: 'inconsistent', verdicts: ['a', 'b'] }, 'always the first shown: position bias')
  assert.deepEqual(combineVerdicts('tie', 'B'), { outcome: 'tie', verdicts: ['tie', 'a'] })
})

test('judge: asks in both orders and writes chosen/rejected with the reasons; ties and inconsistent verdicts carry no pair', async () => {
  // The judge prefers whichever text says "better", wherever it is shown; "same" → the first shown.
  const llm = new ScriptedLlm().answer('judge', (req) => {
    const text = req.messages.at(-1)!.content
    const a = text.slice(text.indexOf('### Response A'), text.indexOf('### Response B'))
    const b = text.slice(text.indexOf('### Response B'))
    if (a.includes('tie')) return { judge_reason: 'Equal.', better_response: 'tie' }
    if (a.includes('same') && b.includes('same')) return { judge_reason: 'First is fine.', better_response: 'A' }
    return { judge_reason: 'One is better.', better_response: a.includes('better') ? 'A' : 'B' }
  })
  const ctx = new MockProcessorContext({ stage: 'judge', llm, now: NOW, outputs: ['preferences'], tables: { sample: { p1: row('p1'), p2: row('p2'), p3: row('p3') } } })
  const p = judge({ settleMs: 2_000 })
  const pair = (id: string, a: string, b: string): ResponsePairValue => ({
    id, instruction: row(id).instruction,
    a: { response: a, model: { endpoint: 'e', name: 'model-a', temperature: 0.7 }, prompt: { id: 'response', version: '1' }, prompt_tokens: 1, completion_tokens: 1, cached: false, simulated: false },
    b: { response: b, model: { endpoint: 'e', name: 'model-b', temperature: 1 }, prompt: { id: 'response', version: '1' }, prompt_tokens: 1, completion_tokens: 1, cached: false, simulated: false },
    lineage: { ...ROW.lineage, stage: 'response-b' },
  })
  await ctx.process(p, ctx.input('responsePairs', pair('p1', 'plain', 'better one')))
  await ctx.process(p, ctx.input('responsePairs', pair('p2', 'same', 'same')))
  await ctx.process(p, ctx.input('responsePairs', pair('p3', 'tie', 'tie')))
  const out = ctx.forwarded<PreferenceValue>('preferences').map((o) => o.value)
  assert.equal(llm.callsFor('judge').length, 6, 'two calls per pair')
  // The second call shows the pair the other way round.
  assert.match(llm.callsFor('judge')[1]!.messages.at(-1)!.content, /### Response A\nbetter one/)
  assert.deepEqual(out.map((v) => [v.id, v.outcome, v.chosen, v.rejected, v.chosen_model]), [
    ['p1', 'preferred', 'better one', 'plain', 'e/model-b@1'],
    ['p2', 'inconsistent', null, null, null],
    ['p3', 'tie', null, null, null],
  ])
  assert.match(out[0]!.reason, /^a first: One is better\. \| b first: One is better\.$/)
  assert.deepEqual(out[0]!.judge, { endpoint: 'scripted', name: 'scripted-model' })
  const m = p.metrics!()
  assert.deepEqual([m.preferred, m.ties, m.inconsistent, m.agreement], [1, 1, 1, 0.5])
})
