/**
 * normalize.ts: the canonical form of a text, its hash, and the quality signals — on crafted
 * edge cases and on every real document shipped in data/.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { contentHash, normalizeForHash, normalizeText, textQuality, toWellFormed } from '../../src/hygiene/normalize.ts'
import { MIXED_SCRIPT, c4, mathDocs, oasstPrompts, physicsDocs } from './real-data.ts'

test('NFC: decomposed accents are composed, composed text is unchanged', () => {
  assert.equal(normalizeText('Cafe\u0301 A\u030Angstro\u0308m'), 'Caf\u00E9 \u00C5ngstr\u00F6m')
  assert.equal(normalizeText('Caf\u00E9'), 'Caf\u00E9')
  assert.equal(normalizeText('Cafe\u0301'), normalizeText('Caf\u00E9'))
})

test('NFC, not NFKC: superscripts, math letters, fractions and ligatures survive', () => {
  const s = 'x² + y² = r², ℝ ⊂ ℂ, ½ + ⅓, ﬁnal, 𝔘𝔫𝔦, ㎏, Ⅻ'
  assert.equal(normalizeText(s), s)
})

test('zero-width spaces, word joiners, BOMs and soft hyphens are removed; ZWJ/ZWNJ are kept', () => {
  assert.equal(normalizeText('\uFEFFzero\u200Bwidth\u2060join\u00ADed'), 'zerowidthjoined')
  assert.equal(normalizeText('coder 👩\u200D💻'), 'coder 👩\u200D💻')
  assert.equal(normalizeText('می\u200Cخواهم'), 'می\u200Cخواهم')
})

test('a removed character between a letter and its combining mark still lets them compose (removal before NFC)', () => {
  assert.equal(normalizeText('e\u200B\u0301'), '\u00E9')
  assert.equal(normalizeText(normalizeText('e\u200B\u0301')), '\u00E9')
})

test('line endings: CRLF, CR, NEL, VT, FF, U+2028 and U+2029 become \\n', () => {
  assert.equal(normalizeText('a\r\nb\rc\u0085d\u000Be\u000Cf\u2028g\u2029h'), 'a\nb\nc\nd\ne\nf\ng\nh')
})

test('control characters are removed except \\n and \\t (tabs then collapse to a space)', () => {
  assert.equal(normalizeText('a\u0000b\u0007c\u001Bd\u007Fe\u0090f'), 'abcdef')
  assert.equal(normalizeText('col1\tcol2\t\tcol3'), 'col1 col2 col3')
})

test('spaces: runs (NBSP, ideographic and thin spaces included) collapse, lines are trimmed', () => {
  assert.equal(normalizeText('  a \t  b\u00A0\u00A0c\u3000d\u2009e  \n   f   '), 'a b c d e\nf')
})

test('blank lines: at most one in a row, none at either end', () => {
  assert.equal(normalizeText('\n\n a\n\n\n\nb\n \n\t\n\nc\n\n'), 'a\n\nb\n\nc')
  assert.equal(normalizeText('a\n\nb'), 'a\n\nb')
})

test('keepIndentation keeps leading whitespace (code) and still cleans the rest', () => {
  const code = 'def f(x):\r\n    if x:  \r\n        return  x\r\n\r\n\r\n\r\n    return 0\n'
  assert.equal(normalizeText(code, { keepIndentation: true }), 'def f(x):\n    if x:\n        return x\n\n    return 0')
  assert.equal(normalizeText(code), 'def f(x):\nif x:\nreturn x\n\nreturn 0')
})

test('lone surrogates become U+FFFD; valid pairs are kept', () => {
  assert.equal(toWellFormed('a\uD800b\uDC00c😀'), 'a\uFFFDb\uFFFDc😀')
  assert.equal(normalizeText('x\uDBFF'), 'x\uFFFD')
  assert.equal(normalizeText('😀\uD83D'), '😀\uFFFD')
})

test('idempotent on every real document and prompt in data/, and on mixed scripts', () => {
  const texts = [...c4(), ...mathDocs(), ...physicsDocs(), ...oasstPrompts().map((p) => p.prompt), MIXED_SCRIPT]
  for (const t of texts) {
    const once = normalizeText(t)
    assert.equal(normalizeText(once), once)
    assert.equal(normalizeText(once, { keepIndentation: true }), normalizeText(once, { keepIndentation: true }))
    assert.equal(normalizeForHash(once), normalizeForHash(t))
  }
})

test('normalizeForHash: lowercase, every whitespace run one space', () => {
  assert.equal(normalizeForHash('  Hello\n\n  WORLD\t!  '), 'hello world !')
})

test('contentHash is stable across case, whitespace, line endings, invisible characters and composition', () => {
  const base = 'The Café opened in 1999.\nIt serves crêpes.'
  const variants = [
    'the café opened in 1999. it serves crêpes.',
    'THE CAFÉ OPENED IN 1999.\r\n\r\nIT SERVES CRÊPES.',
    '\uFEFF  The  Cafe\u0301 opened\u200B in 1999.\n\n\n\nIt serves cre\u0302pes.  ',
    'The\tCafé\u00A0opened in 1999. It serves crêpes.',
  ]
  for (const v of variants) assert.equal(contentHash(v), contentHash(base), v)
  assert.notEqual(contentHash('The Café opened in 1998. It serves crêpes.'), contentHash(base))
  // sha256 hex of the normalised form, and pinned so that a change of normalisation is noticed
  // (it would change every content-derived id).
  assert.equal(contentHash('  Hello \r\n World  '), createHash('sha256').update('hello world').digest('hex'))
  assert.equal(contentHash('Hello World'), 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9')
})

test('contentHash separates the real documents (no two C4 documents share one by accident)', () => {
  const docs = c4()
  const hashes = new Set(docs.map(contentHash))
  const distinct = new Set(docs.map(normalizeForHash)).size
  assert.equal(hashes.size, distinct)
})

test('textQuality: replacement characters and lone surrogates, controls, letters', () => {
  const damaged = 'caf\uFFFD cr\uFFFDpe \uD800 ok'
  const q = textQuality(damaged)
  assert.equal(q.chars, damaged.length)
  assert.equal(q.replacementRatio, 3 / damaged.length)
  assert.equal(textQuality('a\u0000b\u0001').controlRatio, 0.5)
  assert.equal(textQuality('ab12').letterRatio, 0.5)
  assert.equal(textQuality('é😀').chars, 2, 'a surrogate pair counts once')
  assert.equal(textQuality('हिन्दी').letterRatio, 1, 'combining vowel signs count as letters')
  assert.deepEqual(textQuality(''), { chars: 0, replacementRatio: 0, controlRatio: 0, letterRatio: 0 })
  assert.doesNotThrow(() => textQuality('\uDC00\uD800\uD800'))
})

test('textQuality on real documents: prose is mostly letters, nothing is damaged', (t) => {
  const ratios = c4().map((d) => textQuality(normalizeText(d)))
  const minLetters = Math.min(...ratios.map((q) => q.letterRatio))
  const maxRepl = Math.max(...ratios.map((q) => q.replacementRatio))
  t.diagnostic(`C4 600: lowest letter ratio ${minLetters.toFixed(2)}, highest replacement ratio ${maxRepl.toFixed(4)}`)
  assert.ok(minLetters > 0.5)
  assert.ok(maxRepl < 0.01)
  assert.ok(textQuality('| 2019 | 12.5 | 13.1 |\n| 2020 | 11.0 | 12.4 |').letterRatio < 0.1)
})
