/**
 * document-hygiene in a running pipeline (embedded runner): rejections with reasons, exact and
 * near duplicates dropped, and duplicate detection that survives a restart because the
 * fingerprints (with their MinHash signatures) are read back from their compacted topic. Then
 * the processor alone on the mock context: its two outputs, the table it reads, its rejections.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_DATA } from '../../src/data-paths.ts'
import { documentHygiene } from '../../src/processors/hygiene/document-hygiene.ts'
import { MockProcessorContext } from '../../src/processors/testing/index.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'

/** An output read by path in assertions (its shape is the topic's schema, checked in test/serde). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

const texts = readFileSync(join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text).filter((t) => t.length > 1500).slice(0, 6)

const doc = (id: string, text: string): { key: string, value: unknown } => ({ key: id, value: { id, text, url: null, title: null, corpus: 'c4', license: null, metadata: {}, ingested_at: 1764028800000 } })

/** The text with every 80th word replaced: a near duplicate (Jaccard of 5-shingles ≈ 0.88). */
function edited (text: string, tag: string): string {
  return text.split(' ').map((w, i) => (i % 80 === 7 ? `${tag}${i}` : w)).join(' ')
}

const topology = () => new TopologyBuilder('hygiene-test')
  .table('documentFingerprints')
  .stage({ name: 'document-hygiene', input: 'documents', outputs: ['cleanDocuments', 'documentFingerprints'], tables: ['documentFingerprints'], processor: () => documentHygiene({ documentTokens: 4096, nearDuplicates: true }) })
  .build()

async function runUntilIdle (path: string, records: Array<{ key: string, value: unknown }>): Promise<EmbeddedRunner> {
  const runner = new EmbeddedRunner(topology(), { path, logger: testLogger(), pollMs: 20 })
  await runner.start()
  await runner.produce('documents', records)
  const deadline = Date.now() + 30_000
  while (!runner.idle() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25))
  assert.ok(runner.idle())
  return runner
}

test('exact and near duplicates are dropped, also after a restart; bad documents are dead-lettered with the figure', async () => {
  assert.equal(texts.length, 6)
  const path = join(testTmpDir('hygiene-proc'), 'synthq.db')
  let runner = await runUntilIdle(path, [
    ...texts.slice(0, 4).map((t, i) => doc(`d${i}`, t)),
    doc('exact-of-d0', `  ${texts[0]!.toUpperCase()}  `),
    doc('near-of-d1', edited(texts[1]!, 'x')),
    doc('short', 'A short page.'),
  ])
  const clean = (): string[] => runner.log.read(topicName('cleanDocuments'), 0, 1e9).map((r) => r.key!).sort()
  assert.deepEqual(clean(), ['d0', 'd1', 'd2', 'd3'])
  assert.deepEqual(runner.metrics()['document-hygiene'], { admitted: 4, exactDuplicates: 1, nearDuplicates: 1, rejected: 1, truncated: 0 })
  const letters = runner.log.read(topicName('deadLetters'), 0, 1e9)
  assert.equal(letters.length, 1)
  const letter = await runner.serde.decode<{ message: string }>(topicName('deadLetters'), letters[0]!.value)
  assert.match(letter.message, /document short: too short: 13 characters, minimum 200/)
  await runner.stop()

  // A new process knows nothing in memory: the fingerprints table tells it what it has seen.
  runner = await runUntilIdle(path, [
    doc('exact-of-d2', texts[2]!),
    doc('near-of-d3', edited(texts[3]!, 'y')),
    doc('d4', texts[4]!),
  ])
  try {
    assert.deepEqual(clean(), ['d0', 'd1', 'd2', 'd3', 'd4'])
    assert.deepEqual(runner.metrics()['document-hygiene'], { admitted: 1, exactDuplicates: 1, nearDuplicates: 1, rejected: 0, truncated: 0 })
  } finally {
    await runner.stop()
  }
})

// ── the processor alone, on the mock context ──────────────────────────────────────────────────

test('mock context: an admitted document gives its clean text and its fingerprint, stamped with the clock', async () => {
  const ctx = new MockProcessorContext({ stage: 'document-hygiene', now: 1_700_000_000_000, outputs: ['cleanDocuments', 'documentFingerprints'], tables: { documentFingerprints: {} } })
  const p = documentHygiene({ documentTokens: 4096 })
  await ctx.init(p)
  const input = ctx.input('documents', doc('d0', `  ${texts[0]!}\n\n`).value)
  await ctx.process(p, input)
  const [clean, fingerprint] = ctx.forwarded<Json>()
  assert.equal(clean!.topic, 'cleanDocuments')
  assert.equal(clean!.key, 'd0')
  assert.equal(clean!.value.text, texts[0]!.trim())
  assert.equal(clean!.value.tokenizer, 'llama3')
  assert.deepEqual(clean!.value.lineage.upstream, [{ topic: 'synthq.documents', id: 'd0', partition: 0, offset: 0 }])
  assert.equal(fingerprint!.topic, 'documentFingerprints')
  assert.equal(fingerprint!.key, clean!.value.content_hash)
  assert.deepEqual(fingerprint!.value, { content_hash: clean!.value.content_hash, document_id: 'd0', minhash: null, first_seen: 1_700_000_000_000 })
})

test('mock context: a document whose fingerprint is in the table is dropped silently (not its own redelivery); a bad one is rejected with the figure', async () => {
  const first = new MockProcessorContext({ stage: 'document-hygiene', tables: { documentFingerprints: {} } })
  const p = documentHygiene({ documentTokens: 4096 })
  await first.init(p)
  await first.process(p, first.input('documents', doc('d0', texts[0]!).value))
  const fp = first.forwarded<{ content_hash: string }>('documentFingerprints')[0]!
  // A new processor (a restart) that knows the fingerprint only from the table.
  const ctx = new MockProcessorContext({ stage: 'document-hygiene', tables: { documentFingerprints: { [fp.key]: fp.value } } })
  const q = documentHygiene({ documentTokens: 4096 })
  await ctx.init(q)
  await ctx.process(q, ctx.input('documents', doc('copy-of-d0', texts[0]!).value))
  await ctx.process(q, ctx.input('documents', doc('d0', texts[0]!).value))
  const short = ctx.input('documents', doc('short', 'A short page.').value)
  await ctx.process(q, short)
  assert.deepEqual(ctx.forwarded('cleanDocuments').map((o) => o.key), ['d0'], 'the copy is dropped; d0 redelivered is not its own duplicate')
  assert.deepEqual(ctx.rejections(), [{ record: short, reason: 'document short: too short: 13 characters, minimum 200', errorClass: 'DocumentRejected' }])
  assert.deepEqual(q.metrics!(), { admitted: 1, exactDuplicates: 1, nearDuplicates: 0, rejected: 1, truncated: 0 })
})
