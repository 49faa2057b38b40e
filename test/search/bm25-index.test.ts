/**
 * The embedded BM25 index on a small hand-made corpus: keyword queries find the right document,
 * multi-word keywords (titles kept whole) match as phrases and still partially, the title weighs
 * more than the body, hostile input never turns into FTS5 syntax, empty queries give nothing,
 * and the file round-trips (re-adding replaces, read-only reopening, clear errors).
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { ConfigError } from '../../src/errors.ts'
import { Bm25Index, fts5MatchExpression, type IndexDoc } from '../../src/search/bm25-index.ts'
import { queryString } from '../../src/search/search-backend.ts'
import { testTmpDir } from '../helpers/env.ts'

const DOCS: IndexDoc[] = [
  { id: 'tolkien', title: 'The Lord of the Rings', text: 'An epic high-fantasy novel by J. R. R. Tolkien. Frodo Baggins carries the One Ring to Mount Doom so that Sauron cannot rule Middle-earth.', url: 'https://example.org/lotr', corpus: 'books' },
  { id: 'saturn', title: 'Rings of Saturn', text: 'The rings of the planet Saturn are made mostly of ice particles, with a smaller amount of rocky debris and dust.', corpus: 'astronomy' },
  { id: 'overfitting', title: 'Overfitting in machine learning', text: 'A model that fits the noise in its training data generalises badly. Regularization and cross-validation reduce overfitting.' },
  { id: 'cooking', title: 'Learning to cook', text: 'Cooking is a skill: learning a few recipes well matters more than owning a machine such as a stand mixer.' },
  { id: 'cafe', title: 'Café culture in Paris', text: 'Parisian cafés serve espresso at the counter; sitting on the terrace costs more.' },
  { id: 'running', title: null, text: 'Tips for runners: good running shoes, steady pacing and rest days prevent injuries.' },
  { id: 'boolean', title: 'Boolean logic', text: 'The operators AND, OR and NOT combine truth values; NEAR is a search operator, not a logical one.' },
  { id: 'volcano-title', title: 'Volcano eruptions', text: 'Magma rises through the crust and erupts as lava, ash and gas from a vent in the mountain.' },
  { id: 'volcano-body', title: 'A trip to Iceland', text: 'We hiked past a volcano, saw geysers and glaciers, and ate lamb soup in a small town.' },
]

function fixture (): Bm25Index {
  const index = Bm25Index.open(':memory:')
  index.add(DOCS)
  return index
}

const ids = async (index: Bm25Index, keywords: string[], k = 5): Promise<string[]> => (await index.search({ keywords }, { k })).map((h) => h.id)

test('keyword queries find the document they are about', async () => {
  const index = fixture()
  assert.equal((await ids(index, ['overfitting', 'regularization']))[0], 'overfitting')
  assert.equal((await ids(index, ['Saturn', 'ice particles']))[0], 'saturn')
  assert.equal((await ids(index, ['espresso', 'Paris']))[0], 'cafe')
  assert.equal((await ids(index, ['Frodo', 'Mount Doom']))[0], 'tolkien')
  // Stemming (porter) and accent folding (remove_diacritics 2): "runs" finds "running"/"runners", "cafe" finds "Café".
  assert.equal((await ids(index, ['runs']))[0], 'running')
  assert.equal((await ids(index, ['cafe']))[0], 'cafe')
  await index.close()
})

test('hits carry the document and come best first, k of them', async () => {
  const index = fixture()
  const hits = await index.search({ keywords: ['rings'] }, { k: 5 })
  assert.deepEqual(hits.map((h) => h.id).sort(), ['saturn', 'tolkien'])
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1]!.score >= hits[i]!.score)
  const top = (await index.search({ keywords: ['Tolkien'] }))[0]!
  assert.deepEqual(top, { ...DOCS[0], score: top.score })
  assert.ok(top.score > 0)
  assert.equal((await index.search({ keywords: ['machine', 'learning', 'rings', 'volcano'] }, { k: 2 })).length, 2)
  await assert.rejects(index.search({ keywords: ['rings'] }, { k: 0 }), ConfigError)
  await index.close()
})

test('a multi-word keyword matches as a phrase first, and word by word too', async () => {
  const index = fixture()
  // "machine learning" as a phrase is in one title; the other document has both words apart.
  const ml = await ids(index, ['machine learning'])
  assert.equal(ml[0], 'overfitting')
  assert.ok(ml.includes('cooking'), 'the words alone still match')
  // A title kept whole, with its stopwords…
  assert.equal((await ids(index, ['The Lord of the Rings']))[0], 'tolkien')
  // …and worded differently (no exact phrase): the single words still find it.
  assert.equal((await ids(index, ['Lord of Rings']))[0], 'tolkien')
  assert.equal(fts5MatchExpression({ keywords: ['The Lord of the Rings'] }), '"the lord of the rings" OR "lord" OR "rings"')
  await index.close()
})

test('the title weighs more than the body', async () => {
  const index = fixture()
  assert.deepEqual(await ids(index, ['volcano']), ['volcano-title', 'volcano-body'])
  await index.close()
})

test('FTS5 syntax in keywords is plain text, never an operator', async () => {
  const index = fixture()
  const hostile = ['"', '""', '"unbalanced', 'AND', 'OR', 'NOT', 'NEAR(', 'NEAR(rings saturn, 2)', '*', 'saturn*', ':', 'title:rings',
    '{title text}: rings', '-', '-saturn', '^saturn', '(saturn', 'rings)', 'a + b', "ice' OR 1=1 --", 'rings AND NOT saturn', '\\', '\u0000', '🙂']
  for (const kw of hostile) {
    const expr = fts5MatchExpression({ keywords: [kw] })
    assert.match(expr, /^("[\p{L}\p{N}\p{M} ]+"( OR "[\p{L}\p{N}\p{M} ]+")*)?$/u, `${JSON.stringify(kw)} → ${expr}`)
    const hits = await index.search({ keywords: [kw] })
    assert.ok(Array.isArray(hits), kw)
  }
  // The words survive, the syntax does not.
  assert.equal((await ids(index, ['AND']))[0], 'boolean')
  assert.equal((await ids(index, ['NEAR(']))[0], 'boolean')
  for (const kw of ['saturn*', '-saturn', '^saturn', '(saturn']) assert.equal((await ids(index, [kw]))[0], 'saturn', kw)
  // "title:rings" is not a column filter: "rings" matches both ring documents.
  assert.deepEqual((await ids(index, ['title:rings'])).sort(), ['saturn', 'tolkien'])
  assert.equal(fts5MatchExpression({ keywords: ['rings AND NOT saturn'] }), '"rings and not saturn" OR "rings" OR "saturn"')
  // A keyword of punctuation only is dropped; the others still count.
  assert.equal(fts5MatchExpression({ keywords: ['*', ':', 'rings', '"-"'] }), '"rings"')
  await index.close()
})

test('an empty query gives no hits, not an error', async () => {
  const index = fixture()
  for (const keywords of [[], [''], ['  ', '\t'], ['*', '-', ':', '"']]) {
    assert.deepEqual(await index.search({ keywords }), [], JSON.stringify(keywords))
  }
  assert.deepEqual(await index.search({ keywords: [], text: '  ' }), [])
  assert.equal(fts5MatchExpression({ keywords: [] }), '')
  await index.close()
})

test('the query string joins the keywords; the intention text adds its content words to BM25', async () => {
  assert.equal(queryString({ keywords: [' machine  learning ', 'Overfitting', 'overfitting', ''], text: 'How to  avoid it?' }), 'machine learning Overfitting How to avoid it?')
  assert.equal(fts5MatchExpression({ keywords: ['overfitting'], text: 'The user wants to avoid it.' }), '"overfitting" OR "user" OR "wants" OR "avoid"')
  // A single stopword keyword is kept (it is all the user gave); repeated terms appear once.
  assert.equal(fts5MatchExpression({ keywords: ['the', 'The', 'rings of saturn', 'saturn'] }), '"the" OR "rings of saturn" OR "rings" OR "saturn"')
  const index = fixture()
  assert.equal((await index.search({ keywords: ['rings'], text: 'about the planet Saturn and its ice' }))[0]?.id, 'saturn')
  await index.close()
})

test('re-adding an id replaces the document; count and get', async () => {
  const index = fixture()
  assert.equal(index.count, DOCS.length)
  index.add([{ id: 'saturn', title: 'Jupiter', text: 'The largest planet has faint rings of dust.', corpus: null }])
  assert.equal(index.count, DOCS.length)
  assert.equal(index.get('saturn')?.title, 'Jupiter')
  assert.deepEqual(await ids(index, ['ice particles']), [], 'the old text is no longer indexed')
  assert.equal((await ids(index, ['Jupiter']))[0], 'saturn')
  assert.equal(index.get('nope'), undefined)
  assert.throws(() => index.add([{ id: '', text: 'x' }]), /id must be a non-empty string/)
  assert.throws(() => index.add([{ id: 'x', text: 42 as unknown as string }]), /text must be a string/)
  await index.close()
  await index.close()
  await assert.rejects(index.search({ keywords: ['rings'] }), /closed/)
})

test('the index file persists, reopens read-only, and refuses what is not an index', async () => {
  const dir = testTmpDir('bm25')
  const path = join(dir, 'sub', 'index.db')
  const w = Bm25Index.open(path)
  w.add(DOCS)
  w.optimize()
  await w.close()
  const r = Bm25Index.open(path, { readonly: true })
  assert.equal(r.count, DOCS.length)
  assert.equal((await ids(r, ['Tolkien']))[0], 'tolkien')
  assert.throws(() => r.add(DOCS), (e: unknown) => e instanceof ConfigError && /read-only/.test(e.message))
  await r.close()
  // Reopening for writing keeps the documents and adds more.
  const w2 = Bm25Index.open(path)
  w2.add([{ id: 'new', text: 'a brand new document about quasars' }])
  assert.equal(w2.count, DOCS.length + 1)
  await w2.close()

  assert.throws(() => Bm25Index.open(join(dir, 'missing.db'), { readonly: true }), (e: unknown) => e instanceof ConfigError && /synthq index build/.test(e.message))
  const other = join(dir, 'other.db')
  const db = new Database(other)
  db.exec('CREATE TABLE t (x)')
  db.close()
  assert.throws(() => Bm25Index.open(other), (e: unknown) => e instanceof ConfigError && /not a synthq search index/.test(e.message))
  assert.throws(() => Bm25Index.open(other, { readonly: true }), (e: unknown) => e instanceof ConfigError && /not a synthq search index/.test(e.message))
  const junk = join(dir, 'junk.db')
  writeFileSync(junk, 'this is not sqlite at all, just text that is long enough to look like a header'.repeat(20))
  assert.throws(() => Bm25Index.open(junk, { readonly: true }), ConfigError)
})

test('an aborted signal stops the search', async () => {
  const index = fixture()
  const ac = new AbortController()
  ac.abort(new Error('stopping'))
  await assert.rejects(index.search({ keywords: ['rings'] }, { signal: ac.signal }), /stopping/)
  await index.close()
})
