/**
 * Building the index from the repository's real data (data/README.md): SQuAD paragraphs and C4
 * pages, Stack Exchange Q&A, gzip'd input, and the generic/unarXive readers; SQuAD questions
 * find their own paragraph; bad records are reported with file:line and reason, and counted.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { ConfigError } from '../../src/errors.ts'
import { Bm25Index } from '../../src/search/bm25-index.ts'
import { runIndexCommand, type IndexIo } from '../../src/search/cli.ts'
import { buildIndex, c4DocumentId, listInputFiles, squadParagraphQuestions } from '../../src/search/index-build.ts'
import type { Reject } from '../../src/search/readers.ts'
import { formatReject, stackExchangeSiteFromFileName } from '../../src/search/readers.ts'
import { testTmpDir } from '../helpers/env.ts'

const DATA = resolve(import.meta.dirname, '..', '..', 'data')
const SQUAD = join(DATA, 'seeds', 'squad-v2-dev-3articles.json')
const C4 = join(DATA, 'web', 'c4-en-validation-600.jsonl')
const C4_DEMO = join(DATA, 'demo', 'c4-en-validation-sample.jsonl')
const MATH = join(DATA, 'math', 'math-stackexchange-200.jsonl')
const PHYSICS = join(DATA, 'tech', 'physics-stackexchange-100.jsonl')

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '')

function capture (): IndexIo & { stdout: () => string, stderr: () => string } {
  const out: string[] = []
  const err: string[] = []
  return { out: (s) => { out.push(s) }, err: (s) => { err.push(s) }, stdout: () => out.join(''), stderr: () => err.join('') }
}

// Function words left out when turning a question into keywords, as concept extraction would.
const QUESTION_STOPWORDS = new Set(('a an the of in on at to for from by with and or is are was were be been what which who whom whose ' +
  'when where why how did do does that this these those its it as than into about during after before many much one two can could ' +
  'would should has have had not no').split(' '))
function questionKeywords (question: string, n = 5): string[] {
  const words = question.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
  return [...new Set(words.filter((w) => w.length > 2 && !QUESTION_STOPWORDS.has(w)))].slice(0, n)
}

test('SQuAD + C4: one document per paragraph and per page, with stable ids', async () => {
  const index = Bm25Index.open(':memory:')
  const rejects: Reject[] = []
  const report = await buildIndex(index, [SQUAD, C4], { onReject: (r) => rejects.push(r) })
  const squad = JSON.parse(readFileSync(SQUAD, 'utf8')) as { data: Array<{ title: string, paragraphs: Array<{ context: string }> }> }
  const paragraphs = squad.data.reduce((n, a) => n + a.paragraphs.length, 0)
  assert.equal(paragraphs, 126)
  assert.deepEqual(rejects, [])
  assert.deepEqual(report.files.map((f) => [f.file, f.format, f.docs, f.rejects]), [[SQUAD, 'squad', 126, 0], [C4, 'c4', 600, 0]])
  assert.equal(report.docs, 726)
  assert.equal(report.indexCount, 726)
  assert.equal(index.count, 726)

  const p = index.get('squad:Computational_complexity_theory:0')
  assert.equal(p?.title, 'Computational complexity theory')
  assert.equal(p?.url, 'https://en.wikipedia.org/wiki/Computational_complexity_theory')
  assert.equal(p?.corpus, 'squad')
  assert.equal(p?.text, squad.data[1]!.paragraphs[0]!.context)

  const first = JSON.parse(lines(C4)[0]!) as { text: string, url: string }
  const id = `c4-${createHash('sha256').update(first.text).digest('hex').slice(0, 16)}`
  assert.equal(c4DocumentId(first.text), id)
  assert.deepEqual(index.get(id), { id, text: first.text, title: null, url: first.url, corpus: 'c4' })
  await index.close()
})

test('C4 ids are the demo feed\'s ids (c4-<sha256(text)[0:16]>, as demoDocuments in src/cli/run.ts)', async () => {
  const index = Bm25Index.open(':memory:')
  await buildIndex(index, [C4_DEMO])
  const demo = lines(C4_DEMO).map((l) => (JSON.parse(l) as { text: string }).text)
  assert.equal(index.count, demo.length)
  for (const text of demo) assert.equal(index.get(`c4-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`)?.text, text)
  await index.close()
})

test('SQuAD questions: their paragraph ids, and keyword queries find their own paragraph', async () => {
  const questions = squadParagraphQuestions(SQUAD)
  assert.equal(questions.length, 950)
  assert.equal(questions.filter((q) => q.isImpossible).length, 477)
  assert.deepEqual(questions[0], { questionId: '56ddde6b9a695914005b9628', question: 'In what country is Normandy located?', paragraphId: 'squad:Normans:0', isImpossible: false })

  const index = Bm25Index.open(':memory:')
  await buildIndex(index, [SQUAD, C4])
  for (const q of questions) assert.ok(index.get(q.paragraphId), q.paragraphId)

  // Distinctive words picked by hand, as an LLM's keywords would be.
  const byId = new Map(questions.map((q) => [q.questionId, q]))
  const cases: Array<[string, string[]]> = [
    ['56ddde6b9a695914005b962b', ['Norse leader']], //                                   Who was the Norse leader?
    ['56de16ca4396321400ee25c7', ['Battle of Hastings']], //                             When was the Battle of Hastings?
    ['56e16182e3433e1400422e28', ['theoretical computer science', 'classifying computational problems', 'difficulty']],
    ['5705e26d75f01819005e76d4', ['Southern California', 'abbreviated']], //             What is Southern California often abbreviated as?
    ['5705eb3375f01819005e7768', ['Universal', 'Warner Brothers', 'record company']], // … what other company runs a major record company?
  ]
  for (const [qid, keywords] of cases) {
    const q = byId.get(qid)!
    const top5 = (await index.search({ keywords }, { k: 5 })).map((h) => h.id)
    assert.ok(top5.includes(q.paragraphId), `${q.question} ${JSON.stringify(keywords)} → ${top5.join(', ')} (want ${q.paragraphId})`)
  }

  // Every answerable question, as its first five content words: recall@5 (0.87 when written).
  const answerable = questions.filter((q) => !q.isImpossible)
  let found = 0
  for (const q of answerable) {
    const hits = await index.search({ keywords: questionKeywords(q.question) }, { k: 5 })
    if (hits.some((h) => h.id === q.paragraphId)) found++
  }
  const recall = found / answerable.length
  assert.ok(recall >= 0.8, `recall@5 ${recall.toFixed(3)} over ${answerable.length} answerable questions`)
  await index.close()
})

test('Stack Exchange: title, question + answer, and the site\'s URL from the file name', async () => {
  assert.equal(stackExchangeSiteFromFileName('data/math/math-stackexchange-200.jsonl'), 'math.stackexchange.com')
  assert.equal(stackExchangeSiteFromFileName('x/physics-stackexchange-100.jsonl.gz'), 'physics.stackexchange.com')
  assert.equal(stackExchangeSiteFromFileName('stackoverflow_python.jsonl'), 'stackoverflow.com')
  assert.equal(stackExchangeSiteFromFileName('qa.jsonl'), undefined)

  const index = Bm25Index.open(':memory:')
  const report = await buildIndex(index, [MATH, PHYSICS])
  assert.deepEqual(report.files.map((f) => [f.format, f.docs, f.rejects]), [['stackexchange', 200, 0], ['stackexchange', 100, 0]])
  const rec = JSON.parse(lines(MATH)[0]!) as { input: string, output: string, meta: { post_id: number, post_title: string } }
  const doc = index.get(`stackexchange:math.stackexchange.com:${rec.meta.post_id}`)
  assert.deepEqual(doc, {
    id: `stackexchange:math.stackexchange.com:${rec.meta.post_id}`,
    title: rec.meta.post_title,
    text: `${rec.input}\n\n${rec.output}`,
    url: `https://math.stackexchange.com/questions/${rec.meta.post_id}`,
    corpus: 'stackexchange',
  })
  const hit = (await index.search({ keywords: [rec.meta.post_title] }, { k: 1 }))[0]
  assert.equal(hit?.id, doc?.id, 'a post title kept whole finds its post')

  // A file name that does not tell the site: indexed without URLs, and said so (never silently).
  const dir = testTmpDir('se-site')
  const anon = join(dir, 'qa.jsonl')
  writeFileSync(anon, lines(MATH).slice(0, 3).join('\n') + '\n')
  const notes: string[] = []
  const idx2 = Bm25Index.open(':memory:')
  await buildIndex(idx2, [anon], { onNote: (n) => notes.push(n) })
  assert.equal(idx2.count, 3)
  assert.equal(idx2.get(`stackexchange:qa:${rec.meta.post_id}`)?.url, null)
  assert.match(notes.join('\n'), /cannot tell the Stack Exchange site.*--site/)
  await buildIndex(idx2, [anon], { site: 'math.stackexchange.com' })
  assert.equal(idx2.get(`stackexchange:math.stackexchange.com:${rec.meta.post_id}`)?.url, `https://math.stackexchange.com/questions/${rec.meta.post_id}`)
  await idx2.close()
  await index.close()
})

test('gzip\'d files read like plain ones, and folders are read recursively', async () => {
  const dir = testTmpDir('gz')
  mkdirSync(join(dir, 'web', 'nested'), { recursive: true })
  const sample = lines(C4).slice(0, 25).join('\n') + '\n'
  writeFileSync(join(dir, 'web', 'nested', 'c4-part.jsonl.gz'), gzipSync(sample))
  writeFileSync(join(dir, 'web', 'squad.json.gz'), gzipSync(readFileSync(SQUAD)))
  writeFileSync(join(dir, 'web', 'README.md'), 'not data')
  writeFileSync(join(dir, 'web', '.hidden.jsonl'), '{"text": "hidden"}\n')
  assert.deepEqual(listInputFiles([join(dir, 'web')]), [join(dir, 'web', 'nested', 'c4-part.jsonl.gz'), join(dir, 'web', 'squad.json.gz')])
  const index = Bm25Index.open(':memory:')
  const report = await buildIndex(index, [join(dir, 'web')])
  assert.deepEqual(report.files.map((f) => [f.format, f.docs]), [['c4', 25], ['squad', 126]])
  const first = JSON.parse(lines(C4)[0]!) as { text: string }
  assert.equal(index.get(c4DocumentId(first.text))?.text, first.text)

  writeFileSync(join(dir, 'broken.jsonl.gz'), Buffer.concat([gzipSync(sample).subarray(0, 200)]))
  await assert.rejects(buildIndex(index, [join(dir, 'broken.jsonl.gz')]), (e: unknown) => e instanceof ConfigError && /broken\.jsonl\.gz: cannot read/.test(e.message))
  await index.close()
})

test('bad lines are reported with file:line and reason, counted and skipped', async () => {
  const dir = testTmpDir('bad-lines')
  const file = join(dir, 'docs.jsonl')
  writeFileSync(file, [
    '{"id": "a", "text": "A good document about tidal energy.", "title": "Tides"}',
    '{"id": "b", "text": "broken JSON',
    '{"id": "c", "text": 42}',
    '["an", "array"]',
    '',
    '{"id": {"nested": true}, "text": "id of the wrong type"}',
    '{"id": "d", "text": "Another good one, on wave power.", "title": ["not", "a", "string"]}',
    '{"id": 7, "text": "A numeric id is fine."}',
  ].join('\n') + '\n')

  const rejects: Reject[] = []
  const index = Bm25Index.open(':memory:')
  const report = await buildIndex(index, [file], { onReject: (r) => rejects.push(r) })
  assert.deepEqual(report.files.map((f) => [f.format, f.docs, f.rejects]), [['jsonl', 2, 5]])
  assert.deepEqual(rejects.map((r) => r.line), [2, 3, 4, 6, 7])
  const shown = rejects.map(formatReject)
  assert.match(shown[0]!, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: invalid JSON`))
  assert.match(shown[1]!, /:3: field "text" must be a non-empty string, got number/)
  assert.match(shown[2]!, /:4: expected a JSON object, got an array/)
  assert.match(shown[3]!, /:6: field "id" must be a non-empty string or a number, got object/)
  assert.match(shown[4]!, /:7: field "title" must be a string, got an array/)
  assert.deepEqual(index.get('a'), { id: 'a', text: 'A good document about tidal energy.', title: 'Tides', url: null, corpus: null })
  assert.equal(index.get('7')?.text, 'A numeric id is fine.')
  await index.close()

  // Through the command: every reject on stderr, the counts in the summary, exit 0 (documents were indexed).
  const io = capture()
  const db = join(dir, 'index.db')
  assert.equal(await runIndexCommand(['build', file, '--index', db], io), 0)
  for (const line of [2, 3, 4, 6, 7]) assert.match(io.stderr(), new RegExp(`rejected .*docs\\.jsonl:${line}: `))
  assert.match(io.stdout(), /docs\.jsonl {2}jsonl {2}2 docs {2}5 rejected/)
  assert.match(io.stdout(), /indexed 2 documents from 1 file, rejected 5 records, in [\d.]+ s .*now holds 2 documents/)

  // A file where nothing is a document: exit 1, and why.
  const none = join(dir, 'none.jsonl')
  writeFileSync(none, '{"body": "no text field"}\n{"body": "again"}\n')
  const io2 = capture()
  assert.equal(await runIndexCommand(['build', none, '--index', join(dir, 'none.db')], io2), 1)
  assert.match(io2.stderr(), /none\.jsonl:1: cannot tell the format from the fields \(body\)/)
  assert.match(io2.stderr(), /no documents were indexed/)
})

test('generic JSONL with named fields, and unarXive papers', async () => {
  const dir = testTmpDir('generic')
  const file = join(dir, 'articles.jsonl')
  writeFileSync(file, [
    JSON.stringify({ doc_id: 'x1', body: 'Photosynthesis turns light into chemical energy.', meta: { headline: 'Photosynthesis', link: 'https://example.org/p' } }),
    JSON.stringify({ doc_id: 'x2', body: 'Mitochondria are the powerhouse of the cell.', meta: { headline: 'Mitochondria' } }),
  ].join('\n'))
  const index = Bm25Index.open(':memory:')
  const report = await buildIndex(index, [file], { fields: { id: 'doc_id', text: 'body', title: 'meta.headline', url: 'meta.link' }, corpus: 'biology' })
  assert.deepEqual(report.files.map((f) => [f.format, f.docs, f.rejects]), [['jsonl', 2, 0]])
  assert.deepEqual(index.get('x1'), { id: 'x1', text: 'Photosynthesis turns light into chemical energy.', title: 'Photosynthesis', url: 'https://example.org/p', corpus: 'biology' })

  // unarXive 2022 shape (IllDepence/unarXive doc/data_format.md), abridged.
  const paper = join(dir, 'arXiv_src_2105_034.jsonl')
  writeFileSync(paper, JSON.stringify({
    paper_id: '2105.05862',
    _pdf_hash: null,
    _source_hash: 'b7d5f27b5c8abc3bd8a44d875899fdc0d945a604',
    _source_name: '2105.05862.gz',
    metadata: { id: '2105.05862', title: 'Gravitational wave memory\n  from supernova neutrinos', abstract: 'ignored when abstract.text exists' },
    discipline: 'Physics',
    abstract: { section: 'Abstract', text: 'We compute the memory signal of neutrino emission.', cite_spans: [], ref_spans: [] },
    body_text: [
      { section: 'Memory wave form', sec_number: '2.1', sec_type: 'subsection', content_type: 'paragraph', text: 'We project the source tensor {{formula:f1}} onto its TT part (see {{cite:c1}}).\n', cite_spans: [], ref_spans: [] },
      { section: 'Memory wave form', sec_number: '2.1', sec_type: 'subsection', content_type: 'paragraph', text: 'The ansatz follows earlier work.', cite_spans: [], ref_spans: [] },
    ],
    bib_entries: { c1: { bib_entry_raw: 'R. Epstein, Astrophys. J. 223 (1978) 1037.' } },
    ref_entries: { f1: { latex: 'S_{\\mu \\nu }', type: 'formula' } },
  }) + '\n')
  await buildIndex(index, [paper])
  const doc = index.get('arxiv:2105.05862')
  assert.equal(doc?.title, 'Gravitational wave memory from supernova neutrinos')
  assert.equal(doc?.url, 'https://arxiv.org/abs/2105.05862')
  assert.equal(doc?.corpus, 'unarxive')
  assert.equal(doc?.text, 'We compute the memory signal of neutrino emission.\n\n## Memory wave form\n\nWe project the source tensor $S_{\\mu \\nu }$ onto its TT part (see ).\n\nThe ansatz follows earlier work.')
  await index.close()
})

test('SQuAD structure errors are rejects with a JSON path; missing inputs are ConfigErrors', async () => {
  const dir = testTmpDir('squad-bad')
  const file = join(dir, 'squad.json')
  writeFileSync(file, JSON.stringify({ version: 'v2.0', data: [
    { title: 'Ok', paragraphs: [{ context: 'Fine paragraph.', qas: [] }, { context: '', qas: [] }, { qas: [] }] },
    { paragraphs: [] },
  ] }))
  const rejects: Reject[] = []
  const index = Bm25Index.open(':memory:')
  const report = await buildIndex(index, [file], { onReject: (r) => rejects.push(r) })
  assert.equal(report.docs, 1)
  assert.deepEqual(rejects.map((r) => r.where), ['data[0].paragraphs[1]', 'data[0].paragraphs[2]', 'data[1]'])
  assert.match(formatReject(rejects[2]!), /squad\.json \(data\[1\]\): SQuAD article needs a "title"/)
  assert.throws(() => squadParagraphQuestions(file), /malformed SQuAD entries/)

  assert.throws(() => listInputFiles([join(dir, 'nope.jsonl')]), (e: unknown) => e instanceof ConfigError && /no such file or folder/.test(e.message))
  mkdirSync(join(dir, 'empty'))
  assert.throws(() => listInputFiles([join(dir, 'empty')]), /holds no \.jsonl/)
  assert.throws(() => listInputFiles([]), /No input given/)
  const notJson = join(dir, 'bad.json')
  writeFileSync(notJson, '{ nope')
  await assert.rejects(buildIndex(index, [notJson]), (e: unknown) => e instanceof ConfigError && /bad\.json: cannot read as JSON/.test(e.message))
  await index.close()
})

test('synthq index search prints the hits of the built index', async () => {
  const dir = testTmpDir('cli-search')
  const db = join(dir, 'index.db')
  assert.equal(await runIndexCommand(['build', SQUAD, '--index', db], capture()), 0)
  const io = capture()
  assert.equal(await runIndexCommand(['search', 'Norse leader', 'Rollo', '--k', '2', '--index', db], io), 0)
  assert.match(io.stdout(), /backend bm25 {2}query: Norse leader Rollo/)
  assert.match(io.stdout(), /fts5 MATCH: "norse leader" OR "norse" OR "leader" OR "rollo"/)
  assert.match(io.stdout(), /2 hits/)
  assert.match(io.stdout(), /1\. Normans {2}\[score [\d.]+\]\n {3}id squad:Normans:\d+ {2}corpus squad/)
  const json = capture()
  assert.equal(await runIndexCommand(['search', 'Southern California', '--k', '1', '--json', '--index', db], json), 0)
  const parsed = JSON.parse(json.stdout()) as { backend: string, hits: Array<{ id: string }> }
  assert.equal(parsed.backend, 'bm25')
  assert.match(parsed.hits[0]!.id, /^squad:Southern_California:/)

  await assert.rejects(runIndexCommand(['build', SQUAD, '--format', 'csv', '--index', db], capture()), /--format must be one of/)
  await assert.rejects(runIndexCommand(['search', 'x', '--k', '0', '--index', db], capture()), /--k must be/)
  await assert.rejects(runIndexCommand(['search', '--index', db], capture()), /needs keywords/)
  await assert.rejects(runIndexCommand(['build', '--index', db], capture()), /needs the files or folders/)
  const help = capture()
  assert.equal(await runIndexCommand(['--help'], help), 0)
  assert.match(help.stdout(), /synthq index build <files\|dirs\.\.\.>/)
  assert.equal(await runIndexCommand(['frobnicate'], capture()), 2)
})
