import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { createLogger } from '../../src/log.ts'
import { cacheKey, ResponseCache } from '../../src/llm/response-cache.ts'
import { openLlmDatabase } from '../../src/llm/store.ts'
import { Budget, costOf, firstAnswersNote, UsageLedger } from '../../src/llm/usage.ts'
import { testTmpDir } from '../helpers/env.ts'

const silent = createLogger({ level: 'silent' })

test('cache keys: equal for equal inputs in any key order, different for any change that matters', () => {
  const base = { baseUrl: 'http://a/v1', model: 'm', messages: [{ role: 'user', content: 'hi' }], params: { temperature: 0.7, max_tokens: 10 }, prompt: { id: 'p', version: '1' }, schema: { type: 'object' } }
  const k = cacheKey(base)
  assert.equal(cacheKey({ ...base, params: { max_tokens: 10, temperature: 0.7 } }), k)
  for (const changed of [
    { ...base, baseUrl: 'http://b/v1' },
    { ...base, model: 'n' },
    { ...base, messages: [{ role: 'user', content: 'hi!' }] },
    { ...base, params: { temperature: 0.8, max_tokens: 10 } },
    { ...base, prompt: { id: 'p', version: '2' } },
    { ...base, schema: { type: 'array' } },
  ]) assert.notEqual(cacheKey(changed), k)
})

test('cache and ledger survive reopening the database', () => {
  const path = join(testTmpDir('llm-store'), 'llm.db')
  let db = openLlmDatabase(path)
  const cache = new ResponseCache(db)
  assert.equal(cache.get('k1'), undefined)
  cache.put('k1', 'scoring', 'm', { content: '{"a":1}', promptTokens: 10, completionTokens: 3, simulated: true })
  const ledger = new UsageLedger(db, new Map([['m', { input: 1, output: 2 }]]))
  ledger.recordRequest({ stage: 'scoring', model: 'm', endpoint: 'e', promptTokens: 1_000_000, completionTokens: 500_000, cachedPromptTokens: 0, estimated: false })
  ledger.recordCall('scoring', 'm', 'e', false)
  db.close()
  db = openLlmDatabase(path)
  assert.deepEqual(new ResponseCache(db).get('k1'), { content: '{"a":1}', promptTokens: 10, completionTokens: 3, simulated: true })
  const again = new UsageLedger(db, new Map())
  assert.equal(again.totals.costUsd, 2)
  assert.equal(again.totals.tokens, 1_500_000)
  const [row] = again.rows()
  assert.equal(row?.calls, 1)
  assert.equal(row?.cacheMisses, 1)
  db.close()
})

test('cost uses the cached-input price for cached prompt tokens', () => {
  assert.equal(costOf({ input: 2, output: 8, cachedInput: 0.5 }, { promptTokens: 1_000_000, completionTokens: 0, cachedPromptTokens: 600_000 }), 0.4 * 2 + 0.6 * 0.5)
  assert.equal(costOf(undefined, { promptTokens: 5, completionTokens: 5, cachedPromptTokens: 0 }), 0)
})

test('budget: admits under the limit, holds callers past it, releases them when raised', async () => {
  const db = openLlmDatabase(':memory:')
  const ledger = new UsageLedger(db, new Map())
  const pauses: string[] = []
  const budget = new Budget({ tokens: 100 }, ledger, silent, (why) => pauses.push(why))
  await budget.admit()
  ledger.recordRequest({ stage: 's', model: 'm', endpoint: 'e', promptTokens: 90, completionTokens: 20, cachedPromptTokens: 0, estimated: false })
  let admitted = 0
  const held = [budget.admit().then(() => admitted++), budget.admit().then(() => admitted++)]
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.equal(admitted, 0, 'callers are held past the budget')
  assert.equal(budget.waiting, 2)
  assert.ok(budget.paused)
  assert.deepEqual(pauses, ['LLM tokens 110 reached the budget of 100'], 'the pause is announced once')
  const ac = new AbortController()
  const aborted = budget.admit(ac.signal)
  ac.abort(new Error('shutdown'))
  await assert.rejects(aborted, /shutdown/)
  budget.raise({ tokens: 1000 })
  await Promise.all(held)
  assert.equal(admitted, 2)
  assert.ok(!budget.paused)
  db.close()
})

test('first-answer note: the stage\'s valid share and repairs; nothing for a stage that asked nothing', () => {
  assert.equal(firstAnswersNote({ firstAnswers: 56, validFirstTry: 50, repairs: 6 }), ', first answers valid 50/56, 6 repairs')
  assert.equal(firstAnswersNote({ firstAnswers: 0, validFirstTry: 0, repairs: 0 }), '')
  assert.equal(firstAnswersNote(undefined), '')
})
