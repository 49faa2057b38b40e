/**
 * situation-envisioning takes documents as document-hygiene left them: it cuts one to the
 * budget only when it may not fit, and then exactly as the tokenizer would.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { tokenizerFor } from '../../src/hygiene/tokenizer.ts'
import { fitDocument, type CleanDocument } from '../../src/processors/situation/situation-envisioning.ts'

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
