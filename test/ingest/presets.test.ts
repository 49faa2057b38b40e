/**
 * Each preset on real records: C4, Stack Exchange and seeds from data/ (ids equal to those
 * `npm start` and the search index give: src/search/readers.ts), unarXive from the shared
 * corpora when present, and FineWeb, PILE and MathPILE records in their published shapes.
 */
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { readDocuments } from '../../src/search/readers.ts'
import { contentKey } from '../../src/ingest/record-mapping.ts'
import { testTmpDir } from '../helpers/env.ts'
import { headLines, ingest, readTopic, REPO_DATA, SHARED_DATA } from './ingest-harness.ts'

interface Doc { id: string, text: string, url: string | null, title: string | null, corpus: string, license: string | null, metadata: Record<string, string>, ingested_at: number }

async function ingestFile (file: string, args: string[] = [], topic = 'synthq.documents'): Promise<{ code: number, stderr: string, rows: Array<{ key: string | null, value: Doc }> }> {
  const db = join(testTmpDir('ingest-preset'), 'synthq.db')
  const r = await ingest([file, '--db', db, '--rejects', join(db, '..', 'rejects.jsonl'), ...args], { db })
  return { code: r.code, stderr: r.stderr, rows: await readTopic<Doc>(db, topic) }
}

async function readerIds (file: string): Promise<string[]> {
  const ids: string[] = []
  for await (const d of readDocuments(file, {}, { onReject: () => {} })) ids.push(d.id)
  return ids
}

test('c4 (detected) on data/web: ids, url, timestamp, licence ODC-BY, as npm start', async () => {
  const file = join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl')
  const { code, rows, stderr } = await ingestFile(file)
  assert.equal(code, 0, stderr)
  assert.deepEqual(rows.map((r) => r.key), await readerIds(file))
  const first = rows[0]!.value
  const src = JSON.parse(headLines(file, 1)[0]!) as { text: string, url: string, timestamp: string }
  assert.deepEqual({ ...first, ingested_at: 0 }, { id: rows[0]!.key, text: src.text, url: src.url, title: null, corpus: 'c4', license: 'ODC-BY', metadata: { timestamp: src.timestamp }, ingested_at: 0 })
  assert.ok(first.ingested_at > Date.now() - 60_000)
})

test('stackexchange (detected) on data/math and data/tech: ids, urls, titles as the search index', async () => {
  for (const file of [join(REPO_DATA, 'math', 'math-stackexchange-200.jsonl'), join(REPO_DATA, 'tech', 'physics-stackexchange-100.jsonl')]) {
    const { code, rows } = await ingestFile(file)
    assert.equal(code, 0)
    const expected: Array<{ id: string, url: string | null | undefined, title: string | null | undefined, text: string }> = []
    for await (const d of readDocuments(file, {}, { onReject: () => {} })) expected.push({ id: d.id, url: d.url, title: d.title, text: d.text })
    assert.deepEqual(rows.map((r) => ({ id: r.value.id, url: r.value.url, title: r.value.title, text: r.value.text })), expected)
    assert.equal(rows[0]!.value.license, 'CC BY-SA')
    assert.match(rows[0]!.value.metadata.site!, /stackexchange\.com$/)
  }
})

test('seeds (--to seeds, detected) on data/seeds: the seed ids, prompts and sources', async () => {
  const file = join(REPO_DATA, 'seeds', 'oasst-prompts-en.jsonl')
  const db = join(testTmpDir('ingest-seeds'), 'synthq.db')
  const r = await ingest([file, '--to', 'seeds', '--db', db], { db })
  assert.equal(r.code, 0, r.stderr)
  const rows = await readTopic<{ id: string, prompt: string, source: string }>(db, 'synthq.instructions.real')
  const src = headLines(file, 1000).map((l) => JSON.parse(l) as { id: string, prompt: string, source: string })
  assert.deepEqual(rows.map((x) => [x.key, x.value.prompt, x.value.source]), src.map((s) => [s.id, s.prompt, s.source]))
  // --preset seeds implies --to seeds
  const db2 = join(testTmpDir('ingest-seeds'), 'synthq.db')
  assert.equal((await ingest([file, '--preset', 'seeds', '--db', db2], { db: db2 })).code, 0)
  assert.equal((await readTopic(db2, 'synthq.instructions.real')).length, src.length)
})

test('unarxive (detected) on the shared unarXive sample: arxiv ids and per-paper licences', { skip: !existsSync(join(SHARED_DATA, 'tech', 'unarxive_2212_sample.jsonl')) }, async () => {
  const file = join(SHARED_DATA, 'tech', 'unarxive_2212_sample.jsonl')
  const { rows } = await ingestFile(file, ['--max-bytes', '4m'])
  assert.deepEqual(rows.map((r) => r.key), await readerIds(file))
  assert.ok(rows.every((r) => r.value.id.startsWith('arxiv:') && r.value.url === `https://arxiv.org/abs/${r.value.id.slice(6)}`))
  assert.ok(rows.some((r) => r.value.license === 'http://creativecommons.org/licenses/by/4.0/'))
})

function writeJsonl (name: string, recs: unknown[]): string {
  const file = join(testTmpDir('ingest-shape'), name)
  writeFileSync(file, recs.map((r) => JSON.stringify(r)).join('\n') + '\n')
  return file
}

test('fineweb (detected): its own id, url, ODC-By 1.0, the crawl fields as metadata', async () => {
  const rec = { text: 'How to repot an orchid without harming its roots.', id: '<urn:uuid:0a1b2c3d-0000-4000-8000-000000000001>', dump: 'CC-MAIN-2024-10', url: 'https://example.org/orchids', date: '2024-02-21T10:11:12Z', file_path: 's3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/x.warc.gz', language: 'en', language_score: 0.93, token_count: 12 }
  const { rows, stderr } = await ingestFile(writeJsonl('fw.jsonl', [rec]))
  assert.match(stderr, /preset fineweb/)
  assert.deepEqual({ ...rows[0]!.value, ingested_at: 0 }, {
    id: rec.id, text: rec.text, url: rec.url, title: null, corpus: 'fineweb', license: 'ODC-By 1.0', ingested_at: 0,
    metadata: { dump: rec.dump, date: rec.date, file_path: rec.file_path, language: 'en', language_score: '0.93', token_count: '12' },
  })
})

test('pile (detected): content key, pile_set_name as metadata, no licence', async () => {
  const rec = { text: 'Abstract: We report a randomized trial of ...', meta: { pile_set_name: 'PubMed Abstracts' } }
  const { rows } = await ingestFile(writeJsonl('pile.jsonl', [rec, rec]))
  assert.equal(rows.length, 1, 'the same text twice is one document')
  assert.deepEqual({ ...rows[0]!.value, ingested_at: 0 }, { id: contentKey(rec.text), text: rec.text, url: null, title: null, corpus: 'pile', license: null, metadata: { pile_set_name: 'PubMed Abstracts' }, ingested_at: 0 })
  assert.match(rows[0]!.key!, /^sha256:[0-9a-f]{64}$/)
})

test('mathpile (detected): subset as metadata; --corpus and --license override', async () => {
  const rec = { text: 'Theorem. Every finite integral domain is a field.', subset: 'proofwiki', meta: { title: 'Finite Integral Domain is Galois Field' } }
  const { rows } = await ingestFile(writeJsonl('mp.jsonl', [rec]), ['--corpus', 'mathpile-v0.2', '--license', 'CC BY-SA 4.0'])
  assert.deepEqual({ ...rows[0]!.value, ingested_at: 0 }, { id: contentKey(rec.text), text: rec.text, url: null, title: 'Finite Integral Domain is Galois Field', corpus: 'mathpile-v0.2', license: 'CC BY-SA 4.0', metadata: { subset: 'proofwiki' }, ingested_at: 0 })
})

test('custom --map with dotted paths; unmapped scalar fields become metadata', async () => {
  const rec = { content: 'A page about tide pools.', meta: { doc_id: 981, link: 'https://tide.example' }, heading: 'Tide pools', lang: 'en', score: 3 }
  const { rows, code } = await ingestFile(writeJsonl('custom.jsonl', [rec]), ['--map', 'text=content', '--map', 'id=meta.doc_id', '--map', 'url=meta.link', '--map', 'title=heading'])
  assert.equal(code, 0)
  assert.deepEqual({ ...rows[0]!.value, ingested_at: 0 }, { id: '981', text: rec.content, url: rec.meta.link, title: 'Tide pools', corpus: 'custom', license: null, metadata: { lang: 'en', score: '3' }, ingested_at: 0 })
})
