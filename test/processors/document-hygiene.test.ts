/**
 * document-hygiene in a running pipeline (embedded runner): rejections with reasons, exact and
 * near duplicates dropped, and duplicate detection that survives a restart because the
 * fingerprints (with their MinHash signatures) are read back from their compacted topic.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_DATA } from '../../src/data-paths.ts'
import { documentHygiene } from '../../src/processors/hygiene/document-hygiene.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'

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
