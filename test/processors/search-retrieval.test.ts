/**
 * search-retrieval on the mock context, with a search backend scripted in the test: the top hit
 * becomes the grounded document, the top-k are recorded, the intention joins the query only when
 * asked, an empty result is rejected with the query, and the backend is opened once and closed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ConceptRecord } from '../../src/processors/search-retrieval/search-retrieval.ts'
import { searchRetrieval } from '../../src/processors/search-retrieval/search-retrieval.ts'
import type { SearchBackend, SearchHit, SearchQuery } from '../../src/search/search-backend.ts'
import { MockProcessorContext } from '../../src/processors/testing/index.ts'
import { SAMPLES } from '../fixtures/records.ts'

/** An output read by path in assertions (its shape is the topic's schema, checked in test/serde). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

const CONCEPT = SAMPLES.concepts as unknown as ConceptRecord

/** A backend answering from a table of keyword → hits, recording its queries. */
function backend (hits: Record<string, SearchHit[]>): SearchBackend & { queries: SearchQuery[], opened: number, closed: number } {
  const b = {
    name: 'scripted', queries: [] as SearchQuery[], opened: 0, closed: 0,
    search: async (q: SearchQuery, o: { k?: number } = {}) => { b.queries.push(q); return (hits[q.keywords[0] ?? ''] ?? []).slice(0, o.k ?? 5) },
    close: async () => { b.closed++ },
  }
  return b
}
const hit = (id: string, score: number): SearchHit => ({ id, score, text: `text of ${id}`, title: `title ${id}`, url: `https://example.org/${id}`, corpus: 'c4' })

test('the top hit is the grounded document; the top k are recorded with their scores; lineage carries the concept', async () => {
  const b = backend({ Etsy: [hit('d1', 9.5), hit('d2', 7), hit('d3', 1)] })
  const p = searchRetrieval({ backend: () => { b.opened++; return b }, k: 2 })
  const ctx = new MockProcessorContext({ stage: 'search-retrieval', outputs: ['groundedInstructions'] })
  await ctx.init(p)
  const input = ctx.input('concepts', CONCEPT)
  await ctx.process(p, input)
  const [out] = ctx.forwarded<Json>('groundedInstructions')
  assert.equal(out!.key, 'seed-1')
  assert.deepEqual(out!.value.document, { id: 'd1', url: 'https://example.org/d1', title: 'title d1', corpus: 'c4' })
  assert.equal(out!.value.document_text, 'text of d1')
  assert.equal(out!.value.search.backend, 'scripted')
  assert.equal(out!.value.search.query, 'Etsy e-commerce seasonal sales marketing')
  assert.deepEqual(out!.value.search.hits.map((h: { document_id: string, score: number }) => [h.document_id, h.score]), [['d1', 9.5], ['d2', 7]])
  assert.equal(out!.value.intention, CONCEPT.intention)
  // The concept's own history follows it: concept-extraction is a step before this one.
  assert.deepEqual(out!.value.lineage.steps.map((s: { stage: string }) => s.stage), ['concept-extraction'])
  assert.equal(out!.value.lineage.simulated, true, 'simulated upstream stays simulated')
  assert.deepEqual(b.queries, [{ keywords: CONCEPT.keywords }], 'keywords only, as the method searches')
  await p.close!()
  assert.deepEqual([b.opened, b.closed], [1, 1])
})

test('withIntention adds the intention sentence to the query', async () => {
  const b = backend({ Etsy: [hit('d1', 1)] })
  const p = searchRetrieval({ backend: () => b, withIntention: true })
  const ctx = new MockProcessorContext({ stage: 'search-retrieval' })
  await ctx.init(p)
  await ctx.process(p, ctx.input('concepts', CONCEPT))
  assert.deepEqual(b.queries, [{ keywords: CONCEPT.keywords, text: CONCEPT.intention }])
})

test('no result: the record is rejected with the query in the reason, and counted', async () => {
  const p = searchRetrieval({ backend: () => backend({}) })
  const ctx = new MockProcessorContext({ stage: 'search-retrieval' })
  await ctx.init(p)
  const input = ctx.input('concepts', { ...CONCEPT, instruction_id: 'lost', keywords: ['zzz', 'qqq'] })
  await ctx.process(p, input)
  assert.deepEqual(ctx.forwarded(), [])
  assert.deepEqual(ctx.rejections(), [{ record: input, reason: 'no document found for instruction lost (query: zzz qqq)', errorClass: 'NoSearchResult' }])
  assert.deepEqual(p.metrics!(), { searches: 1, empty: 1 })
})
