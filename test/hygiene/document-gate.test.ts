/**
 * document-gate.ts: each rejection reason, with its figure; accepted documents come out
 * normalised, within the token budget and with the content hash of their whole text; what the
 * default gate does to the real corpora shipped in data/.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.ts'
import { checkDocument } from '../../src/hygiene/document-gate.ts'
import { contentHash, normalizeText } from '../../src/hygiene/normalize.ts'
import { tokenizerFor } from '../../src/hygiene/tokenizer.ts'
import { c4, mathDocs, physicsDocs } from './real-data.ts'

const tokenizer = tokenizerFor('meta-llama/Meta-Llama-3-8B-Instruct')
const base = { maxTokens: 4096, tokenizer }

function reason (text: string, opts: Partial<Parameters<typeof checkDocument>[1]> = {}): string {
  const r = checkDocument(text, { ...base, ...opts })
  assert.equal(r.ok, false, `expected a rejection for ${JSON.stringify(text.slice(0, 40))}`)
  return r.ok ? '' : r.reason
}

test('rejection reasons name the figure that failed', () => {
  assert.equal(reason(''), 'empty after normalisation')
  assert.equal(reason(' \u200B\r\n\t\uFEFF \n\n '), 'empty after normalisation')
  assert.equal(reason('This sentence has exactly fifty-seven characters in it ok.'.slice(0, 57)), 'too short: 57 characters, minimum 200')
  assert.equal(reason('x'.repeat(2_345_678)), 'oversize: 2.3 M characters, maximum 1 M')
  assert.equal(reason('x'.repeat(60_001), { maxChars: 60_000 }), 'oversize: 60 k characters, maximum 60 k')
  // 31 letters per 100 non-space characters.
  const table = Array.from({ length: 10 }, () => 'abcdefghijklmnopqrstuvwxyzabcde' + '0123456789012345678901234567890123456789012345678901234567890123456789'.slice(0, 69)).join(' ')
  assert.equal(reason(table), 'mostly non-text: 31 % letters, minimum 50 %')
  // 12 % U+FFFD among code points.
  const damaged = Array.from({ length: 25 }, () => 'Caf\uFFFD opened \uFFFDn 1999 ok,\uFFFD').join('').slice(0, 600)
  assert.match(reason(damaged), /^encoding damage: 1[0-9] % replacement characters, maximum 1 %$/)
  assert.equal(reason('abcd'.repeat(66) + '\uFFFD'.repeat(36)), 'encoding damage: 12 % replacement characters, maximum 1 %')
  assert.equal(reason('abcd'.repeat(246) + 'a' + '\uFFFD'.repeat(14) + '\uD800'), 'encoding damage: 1.5 % replacement characters, maximum 1 %')
})

test('thresholds are options', () => {
  const short = 'A short but perfectly good paragraph of text.'
  assert.equal(checkDocument(short, { ...base, minChars: 10 }).ok, true)
  const formula = '$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$ and $$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$ '.repeat(5)
  assert.match(reason(formula, { minChars: 10 }), /^mostly non-text: \d+ % letters, minimum 50 %$/)
  assert.equal(checkDocument(formula, { ...base, minChars: 10, minLetterRatio: 0.2 }).ok, true)
  assert.throws(() => checkDocument('text', { ...base, maxTokens: 0 }), ConfigError)
})

test('accepted documents: normalised, truncated to maxTokens with the real tokenizer, hashed on the whole text', () => {
  const doc = c4().find((d) => d.length > 20_000)!
  const r = checkDocument(`\uFEFF${doc.replace(/\n/g, '\r\n')}`, { ...base, maxTokens: 256 })
  assert.ok(r.ok)
  assert.equal(r.truncated, true)
  assert.ok(r.tokens <= 256 && r.tokens === tokenizer.count(r.text))
  assert.ok(normalizeText(doc).startsWith(r.text))
  assert.equal(r.hash, contentHash(doc), 'hash of the whole document, not of the truncated text')
  assert.match(r.hash, /^[0-9a-f]{64}$/)
  const small = c4().find((d) => d.length > 400 && d.length < 2000)!
  const s = checkDocument(small, base)
  assert.ok(s.ok)
  assert.deepEqual([s.truncated, s.text, s.tokens], [false, normalizeText(small), tokenizer.count(normalizeText(small))])
})

test('the default gate on the real corpora in data/', (t) => {
  const summary: string[] = []
  for (const [name, docs] of [['c4', c4()], ['math', mathDocs()], ['physics', physicsDocs()]] as const) {
    const reasons = new Map<string, number>()
    let truncated = 0
    for (const d of docs) {
      const r = checkDocument(d, base)
      if (r.ok) { if (r.truncated) truncated++; continue }
      const kind = r.reason.replace(/:.*/, '')
      reasons.set(kind, (reasons.get(kind) ?? 0) + 1)
    }
    summary.push(`${name} ${docs.length}: ${[...reasons].map(([k, n]) => `${n} ${k}`).join(', ') || 'none rejected'}; ${truncated} truncated to 4096 tokens`)
    if (name === 'c4') {
      assert.ok((reasons.get('too short') ?? 0) > 0)
      assert.equal(reasons.get('mostly non-text'), undefined)
    }
    assert.equal(reasons.get('encoding damage'), undefined)
  }
  t.diagnostic(summary.join('\n'))
})
