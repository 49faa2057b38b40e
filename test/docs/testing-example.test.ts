/**
 * The processor unit test shown in docs/testing.md, run as a test; the second test keeps the
 * page's copy identical to the code between the example markers below.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

// example:start
import { emit, reject, type Processor } from '../../src/processors/processor.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'

/** Your processor: asks the stage's LLM for a title and rejects documents without text. */
const titler: Processor<{ id: string, text: string }> = {
  name: 'titler',
  async process (record, ctx) {
    if (!record.value.text.trim()) return reject(`document ${record.value.id} is empty`, { errorClass: 'EmptyInput' })
    const llm = ctx.llm()
    const r = await llm.json<{ title: string }>({
      prompt: { id: 'titler', version: '1' },
      messages: [{ role: 'user', content: record.value.text }],
      schema: { type: 'object', required: ['title'], properties: { title: { type: 'string' } } },
    })
    return emit({ topic: 'situations', key: record.value.id, value: { title: r.value.title, lineage: ctx.lineage(record, { model: llm.model }) } })
  },
}

test('titler: one titled output per document, empty ones rejected with the reason', async () => {
  const llm = new ScriptedLlm().answer('titler', (req) => ({ title: `About ${req.text.split(' ')[0]}` }))
  const ctx = new MockProcessorContext({ stage: 'titler', llm, outputs: ['situations'], now: Date.UTC(2026, 0, 1) })

  await ctx.process(titler, ctx.input('documents', { id: 'd1', text: 'Tides and harbours' }))
  await ctx.process(titler, ctx.input('documents', { id: 'd2', text: '   ' }))

  const [out] = ctx.forwarded<{ title: string, lineage: { created_at: number } }>('situations')
  assert.equal(out!.key, 'd1')
  assert.equal(out!.value.title, 'About Tides')
  assert.equal(out!.value.lineage.created_at, Date.UTC(2026, 0, 1))
  assert.deepEqual(ctx.rejections().map((r) => [r.record.key, r.errorClass, r.reason]), [['d2', 'EmptyInput', 'document d2 is empty']])
  assert.equal(llm.calls.length, 1, 'no call for the empty document')
})
// example:end

test('docs/testing.md shows this example verbatim', () => {
  const source = readFileSync(new URL(import.meta.url), 'utf8')
  const code = source.slice(source.indexOf('// example:start\n') + 17, source.indexOf('// example:end'))
  const page = readFileSync(new URL('../../docs/testing.md', import.meta.url), 'utf8')
  const block = /<!-- example:start[^>]*-->\n```ts\n([\s\S]*?)```\n<!-- example:end -->/.exec(page)
  assert.ok(block, 'docs/testing.md has the example block')
  assert.equal(block[1], code)
})
