/**
 * tokenizer.ts: counts equal the libraries' own encodings on real documents; truncation keeps
 * its promises (≤ maxTokens re-encoded, a prefix, no broken characters, near the budget, at a
 * boundary) on hundreds of real texts and on CJK / emoji / math; the model → family table.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { encode as cl100kEncode } from 'gpt-tokenizer/encoding/cl100k_base'
import { encode as o200kEncode } from 'gpt-tokenizer/encoding/o200k_base'
import llama3 from 'llama3-tokenizer-js'
import { ConfigError } from '../../src/errors.ts'
import { normalizeText, toWellFormed } from '../../src/hygiene/normalize.ts'
import { tokenizerFamilyFor, tokenizerFor, tokenizerLoadStats, type TokenizerFamily } from '../../src/hygiene/tokenizer.ts'
import { realDataSample } from '../helpers/env.ts'
import { MIXED_SCRIPT, c4, mathDocs, physicsDocs } from './real-data.ts'

const docs = [...c4().slice(0, realDataSample(200)), ...mathDocs().slice(0, realDataSample(70)), ...physicsDocs().slice(0, realDataSample(30))]
const FAMILIES: TokenizerFamily[] = ['llama3', 'o200k', 'cl100k']

test(`counts equal the libraries' own encode length (no BOS/EOS) on ${docs.length} real documents`, () => {
  const llama = tokenizerFor('meta-llama/Meta-Llama-3-8B-Instruct')
  const o200k = tokenizerFor('gpt-4o-mini')
  const cl100k = tokenizerFor('gpt-4')
  assert.deepEqual([llama.family, o200k.family, cl100k.family], ['llama3', 'o200k', 'cl100k'])
  for (const d of docs) {
    assert.equal(llama.count(d), llama3.encode(d, { bos: false, eos: false }).length)
    assert.equal(o200k.count(d), o200kEncode(d).length)
    assert.equal(cl100k.count(d), cl100kEncode(d).length)
  }
  assert.equal(llama.count(MIXED_SCRIPT), llama3.encode(MIXED_SCRIPT, { bos: false, eos: false }).length)
  assert.equal(o200k.count(MIXED_SCRIPT), o200kEncode(MIXED_SCRIPT).length)
  assert.equal(llama.count(''), 0)
  assert.equal(o200k.count(''), 0)
})

test('special-token text in a document: Llama 3 counts it as the special token, OpenAI families as text (no throw)', () => {
  const llama = tokenizerFor('llama-3.1-8b')
  assert.equal(llama.count('a <|eot_id|> b'), 4) // 'a', ' ', <|eot_id|>, ' b'
  assert.ok(llama.count('a <|eot_ix|> b') > 6)
  const o = tokenizerFor('gpt-4o')
  assert.doesNotThrow(() => o.count('the <|endoftext|> marker'))
  assert.ok(o.count('<|endoftext|>') > 1)
  assert.ok(o.truncate('x <|endoftext|> '.repeat(100), 20).tokens <= 20)
})

function checkTruncation (family: TokenizerFamily, original: string, max: number): { tokens: number, truncated: boolean, atBoundary: boolean } {
  const tok = tokenizerFor('any', family)
  const r = tok.truncate(original, max)
  const where = `${family} max=${max} text=${JSON.stringify(original.slice(0, 60))}`
  assert.ok(r.tokens <= max, `${where}: ${r.tokens} tokens`)
  assert.equal(r.tokens, tok.count(r.text), `${where}: reported count is the re-encoded count`)
  assert.ok(original.startsWith(r.text), `${where}: a prefix`)
  assert.equal(r.text.includes('\uFFFD'), original.slice(0, r.text.length).includes('\uFFFD'), `${where}: no U+FFFD introduced`)
  const last = r.text.charCodeAt(r.text.length - 1)
  assert.ok(!(last >= 0xd800 && last <= 0xdbff), `${where}: no half surrogate pair`)
  if (!r.truncated) assert.equal(r.text, original)
  else assert.ok(r.text.length < original.length)
  const next = original[r.text.length]
  return { tokens: r.tokens, truncated: r.truncated, atBoundary: next === undefined || /\s/.test(next) }
}

test(`truncate on ${docs.length} real documents × 5 budgets × 3 vocabularies: ≤ max, exact count, a prefix, no broken characters, close to max, at word boundaries`, (t) => {
  let cases = 0
  let truncated = 0
  let boundary = 0
  let worstSlack = 0
  for (const family of FAMILIES) {
    for (const d of docs) {
      for (const max of [1, 16, 64, 256, 1024]) {
        const r = checkTruncation(family, d, max)
        cases++
        if (!r.truncated) continue
        // Boundary preference costs at most the 32-token look-back (plus re-encoding effects).
        if (max >= 64) {
          truncated++
          if (r.atBoundary) boundary++
          worstSlack = Math.max(worstSlack, max - r.tokens)
          assert.ok(r.tokens >= max - 40, `${family} max=${max}: only ${r.tokens} tokens kept`)
        }
      }
    }
  }
  t.diagnostic(`${cases} truncations; with max ≥ 64, ${truncated} cut, ${boundary} (${(100 * boundary / truncated).toFixed(1)} %) end at whitespace; at most ${worstSlack} tokens below the budget (max ≥ 64)`)
  assert.ok(boundary / truncated > 0.97)
})

test('truncate prefers a sentence end within the last 32 tokens', () => {
  const tok = tokenizerFor('llama3')
  let sentence = 0
  let n = 0
  for (const d of c4().slice(0, 200)) {
    const text = normalizeText(d)
    const r = tok.truncate(text, 128)
    if (!r.truncated) continue
    n++
    if (/[.!?]["')\]]*$/.test(r.text)) sentence++
  }
  assert.ok(n > 50)
  assert.ok(sentence / n > 0.8, `${sentence} of ${n} end a sentence`)
})

test('truncate on CJK, emoji (ZWJ, flags), math and astral characters: every budget 1…300', () => {
  const text = MIXED_SCRIPT.repeat(3)
  for (const family of FAMILIES) {
    let prev = -1
    for (let max = 1; max <= 300; max++) {
      const r = checkTruncation(family, text, max)
      assert.ok(r.tokens >= prev - 40, `${family}: kept tokens do not collapse as the budget grows (max ${max})`)
      prev = Math.max(prev, r.tokens)
    }
  }
  // No grapheme cluster is split: an emoji ZWJ sequence is kept whole or dropped whole.
  const emoji = '👨‍👩‍👧‍👦'.repeat(40)
  for (const family of FAMILIES) {
    for (let max = 1; max <= 60; max++) {
      const r = tokenizerFor('x', family).truncate(emoji, max)
      assert.equal(r.text.length % '👨‍👩‍👧‍👦'.length, 0, `${family} max=${max}: ${JSON.stringify(r.text.slice(-4))}`)
    }
  }
})

test('gpt-tokenizer\'s shared streaming decoder is never left mid-character by truncate', () => {
  const tok = tokenizerFor('gpt-4o')
  for (let max = 1; max < 120; max++) tok.truncate('𝔘𝔫𝔦𝔠𝔬𝔡𝔢 龘龘 😀 '.repeat(20), max)
  // Same module instance as the tokenizer's (CommonJS build, require cache).
  const require = createRequire(import.meta.url)
  const lib = require('gpt-tokenizer/encoding/o200k_base') as { encode: (s: string) => number[], decode: (ids: number[]) => string }
  assert.equal(lib.decode(lib.encode('龘 😀 ok')), '龘 😀 ok')
})

test('truncating a 200 kB document encodes only a window, and agrees with decoding the first tokens of the full encoding', () => {
  const big = normalizeText(c4().join('\n\n')).slice(0, 200_000)
  const llama = tokenizerFor('llama3')
  const r = llama.truncate(big, 4096)
  assert.ok(r.truncated && r.tokens <= 4096 && r.tokens >= 4096 - 40)
  const reference = llama3.decode(llama3.encode(big, { bos: false, eos: false }).slice(0, 4096))
  assert.ok(reference.startsWith(r.text))
  const o = tokenizerFor('gpt-4o').truncate(big, 4096)
  assert.ok(o.truncated && o.tokens <= 4096 && o.tokens >= 4096 - 40)
})

test('unnormalised input with lone surrogates: they come back as U+FFFD and do not stop the cut early', () => {
  const damaged = 'abc \uD800 def \uDC00 ghi 😀 jkl '.repeat(30)
  const wellFormed = toWellFormed(damaged)
  for (const family of FAMILIES) {
    const tok = tokenizerFor('x', family)
    for (const max of [3, 20, 100]) {
      const r = tok.truncate(damaged, max)
      assert.ok(wellFormed.startsWith(r.text) && r.tokens <= max && r.tokens === tok.count(r.text), `${family} ${max}`)
      assert.ok(r.tokens >= max - 8, `${family} ${max}: ${r.tokens}`)
    }
  }
})

test('truncate: budget 0, empty text, invalid budgets', () => {
  const tok = tokenizerFor('llama3')
  assert.deepEqual(tok.truncate('hello', 0), { text: '', tokens: 0, truncated: true })
  assert.deepEqual(tok.truncate('', 10), { text: '', tokens: 0, truncated: false })
  assert.deepEqual(tok.truncate('hello world', 10), { text: 'hello world', tokens: 2, truncated: false })
  assert.throws(() => tok.truncate('x', -1), ConfigError)
  assert.throws(() => tok.truncate('x', 1.5), ConfigError)
})

test('approx: ceil(chars / 4), marked as an estimate, truncation within 4 × max characters', () => {
  const tok = tokenizerFor('some-model', 'approx')
  assert.equal(tok.family, 'approx')
  assert.equal(tok.exact, false)
  assert.match(tok.note, /estimate/)
  assert.equal(tok.count('abcde'), 2)
  for (const d of docs.slice(0, 50)) {
    const r = tok.truncate(d, 100)
    assert.ok(r.text.length <= 400 && r.tokens <= 100 && d.startsWith(r.text))
  }
})

test('model name → family', () => {
  const cases: Array<[string, TokenizerFamily, boolean]> = [
    ['meta-llama/Meta-Llama-3.1-8B-Instruct', 'llama3', true],
    ['llama-3.3-70b-versatile', 'llama3', true],
    ['sim-llama', 'llama3', true],
    ['sim-small', 'llama3', true],
    ['meta-llama/Llama-2-7b-chat-hf', 'llama3', false],
    ['meta-llama/Llama-4-Scout-17B-16E', 'llama3', false],
    ['gpt-4o', 'o200k', true],
    ['openai/gpt-4o-mini', 'o200k', true],
    ['gpt-4.1-nano', 'o200k', true],
    ['gpt-5', 'o200k', true],
    ['o1-preview', 'o200k', true],
    ['o3-mini', 'o200k', true],
    ['o4-mini', 'o200k', true],
    ['gpt-oss-20b', 'o200k', true],
    ['gpt-4', 'cl100k', true],
    ['gpt-4-turbo-2024-04-09', 'cl100k', true],
    ['gpt-3.5-turbo', 'cl100k', true],
    ['mistralai/Mistral-7B-Instruct-v0.3', 'llama3', false],
    ['Qwen/Qwen2.5-7B-Instruct', 'llama3', false],
    ['google/gemma-2-9b-it', 'llama3', false],
    ['my-finetune', 'llama3', false],
  ]
  for (const [model, family, exact] of cases) {
    const c = tokenizerFamilyFor(model)
    assert.deepEqual([c.family, c.exact], [family, exact], model)
    const tok = tokenizerFor(model)
    assert.equal(tok.family, family)
    assert.equal(tok.exact, exact)
    assert.ok(tok.note.includes(model))
  }
  assert.match(tokenizerFor('Qwen/Qwen2.5-7B-Instruct').note, /approximation/)
  assert.equal(tokenizerFor('gpt-4o', 'llama3').family, 'llama3')
  assert.throws(() => tokenizerFor('gpt-4o', 'bert' as TokenizerFamily), ConfigError)
})

test('vocabularies are loaded once, lazily, and their cost is reported', () => {
  const stats = tokenizerLoadStats()
  const families = stats.map((s) => s.family).sort()
  assert.deepEqual(families, ['cl100k', 'llama3', 'o200k'])
  for (const s of stats) assert.ok(s.loadMs > 0)
  tokenizerFor('gpt-4o').load()
  assert.equal(tokenizerLoadStats().length, 3)
})
