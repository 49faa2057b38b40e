/**
 * The embedded BM25 index at pipeline scale: build rate (docs/s) and query latency (p50/p99)
 * over ~50,000 documents, so search retrieval's cost per instruction is known.
 *
 *   npx tsx bench/search.bench.ts            (BENCH_DOCS=50000 BENCH_QUERIES=3000 by default)
 *
 * The documents are synthetic but made of real text: every document of the repository's data
 * (C4 pages, Stack Exchange Q&A, SQuAD paragraphs) is re-made many times with its sentences
 * shuffled and a few sentences of another document mixed in, under a suffixed id, so the
 * vocabulary, lengths and term statistics are those of real corpora without 50 identical copies.
 * Queries are what concept extraction would give: five content words of a real SQuAD question,
 * a Stack Exchange title kept whole plus two words, three words of a C4 page; and the same with
 * an intention sentence added, as the search-retrieval processor sends them.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Bm25Index, type IndexDoc } from '../src/search/bm25-index.ts'
import { readDocuments, squadParagraphQuestions } from '../src/search/readers.ts'
import type { SearchQuery } from '../src/search/search-backend.ts'

const N = Number(process.env.BENCH_DOCS ?? 50_000)
const Q = Number(process.env.BENCH_QUERIES ?? 3_000)
const DATA = resolve(import.meta.dirname, '..', 'data')
const FILES = ['web/c4-en-validation-600.jsonl', 'math/math-stackexchange-200.jsonl', 'tech/physics-stackexchange-100.jsonl', 'seeds/squad-v2-dev-3articles.json'].map((f) => join(DATA, f))

// Deterministic: the same documents and queries every run.
let seed = 42
const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32 }
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
function shuffle<T> (xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}
const sentences = (text: string): string[] => text.split(/(?<=[.!?])\s+/).filter((s) => s.trim() !== '')
const STOP = new Set('a an the of in on at to for from by with and or is are was were be been what which who whom whose when where why how did do does that this these those its it as than into about during after before many much one two can could would should has have had not no'.split(' '))
const contentWords = (s: string): string[] => [...new Set((s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 2 && !STOP.has(w)))]

const real: IndexDoc[] = []
for (const f of FILES) for await (const d of readDocuments(f, {}, { onReject: (r) => { throw new Error(`${r.file}:${r.line}: ${r.reason}`) } })) real.push(d)
const parts = real.map((d) => sentences(d.text))

function * synthetic (): Generator<IndexDoc> {
  for (let i = 0; i < N; i++) {
    const b = i % real.length
    const base = real[b]!
    const mixed = shuffle([...parts[b]!, ...shuffle([...pick(parts)]).slice(0, 1 + Math.floor(rand() * 3))])
    yield { id: `${base.id}#${i}`, title: base.title ?? null, url: base.url ?? null, corpus: base.corpus ?? null, text: mixed.join(' ') }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'synthq-search-bench-'))
const path = join(dir, 'index.db')
try {
  const index = Bm25Index.open(path)
  let bytes = 0
  const t0 = performance.now()
  let batch: IndexDoc[] = []
  for (const d of synthetic()) {
    bytes += d.text.length
    batch.push(d)
    if (batch.length === 2_000) { index.add(batch); batch = [] }
  }
  if (batch.length) index.add(batch)
  const tAdd = performance.now()
  index.optimize()
  const tOpt = performance.now()
  const count = index.count
  await index.close()
  const size = statSync(path).size

  const squad = squadParagraphQuestions(FILES[3]!)
  const seTitles = real.filter((d) => d.corpus === 'stackexchange' && d.title).map((d) => d.title!)
  const c4 = real.filter((d) => d.corpus === 'c4')
  const queries: Array<{ q: SearchQuery, intention: string }> = []
  for (let i = 0; i < Q; i++) {
    const r = i % 3
    if (r === 0) {
      const s = pick(squad)
      queries.push({ q: { keywords: contentWords(s.question).slice(0, 5) }, intention: `The user wants to know: ${s.question}` })
    } else if (r === 1) {
      const t = pick(seTitles)
      queries.push({ q: { keywords: [t, ...shuffle(contentWords(t)).slice(0, 2)] }, intention: `The user asks for an explanation of ${t}` })
    } else {
      const d = pick(c4)
      queries.push({ q: { keywords: shuffle(contentWords(d.text)).slice(0, 3) }, intention: 'The user wants practical advice on this topic for a small business.' })
    }
  }

  const t1 = performance.now()
  const reader = Bm25Index.open(path, { readonly: true })
  const tOpen = performance.now() - t1
  const measure = async (withIntention: boolean): Promise<{ p50: number, p90: number, p99: number, max: number, qps: number, empty: number }> => {
    for (const { q } of queries.slice(0, 100)) await reader.search(q, { k: 5 }) // warm the page cache
    const lat: number[] = []
    let empty = 0
    const start = performance.now()
    for (const { q, intention } of queries) {
      const s = performance.now()
      const hits = await reader.search(withIntention ? { ...q, text: intention } : q, { k: 5 })
      lat.push(performance.now() - s)
      if (hits.length === 0) empty++
    }
    const total = performance.now() - start
    lat.sort((a, b) => a - b)
    const at = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: lat[lat.length - 1]!, qps: queries.length / (total / 1000), empty }
  }
  const kw = await measure(false)
  const withIntention = await measure(true)
  await reader.close()

  const fmt = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: 0 })
  const ms = (x: number): string => `${x.toFixed(2)} ms`
  process.stdout.write(`search bench: ${fmt(count)} documents (${real.length} real ones re-mixed), ${(bytes / 1e6).toFixed(0)} MB of text, k=5, ${fmt(queries.length)} queries\n`)
  process.stdout.write(`build   add ${((tAdd - t0) / 1000).toFixed(1)} s = ${fmt(count / ((tAdd - t0) / 1000))} docs/s (${((bytes / 1e6) / ((tAdd - t0) / 1000)).toFixed(1)} MB/s); optimize ${((tOpt - tAdd) / 1000).toFixed(1)} s; total ${fmt(count / ((tOpt - t0) / 1000))} docs/s; file ${(size / 1e6).toFixed(0)} MB; open read-only ${ms(tOpen)}\n`)
  for (const [name, m] of [['keywords only        ', kw], ['keywords + intention ', withIntention]] as const) {
    process.stdout.write(`query   ${name} p50 ${ms(m.p50)}  p90 ${ms(m.p90)}  p99 ${ms(m.p99)}  max ${ms(m.max)}  ${fmt(m.qps)} queries/s (one thread)  ${m.empty} with no hit\n`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
