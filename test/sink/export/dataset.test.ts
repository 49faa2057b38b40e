import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parquetReadObjects } from 'hyparquet'
import { exportDataset, type DatasetRow } from '../../../src/sink/export/dataset.ts'
import { testTmpDir } from '../../helpers/env.ts'

const criteria = (n: number): DatasetRow['criteria'] => Object.fromEntries(['specificity', 'domain_knowledge', 'complexity', 'problem_solving', 'creativity', 'technical_accuracy', 'real_world_application'].map((c, i) => [c, { analysis: `why ${c}`, score: i < n ? 1 : 0 }]))
const rows: DatasetRow[] = [7, 6, 6, 3, 2].map((total, i) => ({
  id: `ins-${i}`, instruction: `Instruction ${i} with "quotes" and ünïcode`, scene: `scene ${i}`,
  query_compositions: { ability: 'a', knowledge: 'k', extra_information: 'e', output: 'o' }, criteria: criteria(total), total,
  topic: i % 2, topic_label: i % 2 ? 'tides_bay' : 'gauge_higgs', document_id: `doc-${i}`, document_url: i === 4 ? null : `https://example.org/${i}`,
  lineage: { stage: 'scoring', steps: [{ stage: 'document-hygiene' }] }, simulated: true,
}))

test('jsonl export round-trips every field; --min-score filters; the card says simulated and counts', () => {
  const dir = testTmpDir('export-jsonl')
  const r = exportDataset(rows, { outDir: dir, format: 'jsonl', stats: { seen: 9, dropped: { below_threshold: 2, duplicate: 2 }, vendi: 3.2, topicEntropy: 0.67 }, config: { k: 100, policy: 'top' }, minScore: 3 })
  assert.equal(r.rows, 4)
  const back = readFileSync(join(dir, 'data', 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DatasetRow)
  assert.deepEqual(back, rows.filter((x) => x.total >= 3))
  const card = readFileSync(join(dir, 'README.md'), 'utf8')
  assert.match(card, /^---\nlanguage:\n- en\n/)
  assert.match(card, /path: data\/train\.jsonl/)
  assert.match(card, /- simulated/)
  assert.match(card, /\*\*4 of 4 rows were produced with synthq's LLM simulator/)
  assert.match(card, /rows: 4 \(total ≥ 3\)/)
  assert.match(card, /\| 6 \| 2 \|/)
  assert.match(card, /Vendi score 3\.20/)
  assert.match(card, /dropped: below_threshold 2, duplicate 2/)
  assert.match(card, /"policy": "top"/)
})

test('parquet export reads back with a Parquet reader, nested fields included', async () => {
  const dir = testTmpDir('export-parquet')
  exportDataset(rows, { outDir: dir, format: 'parquet', stats: { seen: 5, dropped: {} }, config: {} })
  const buf = readFileSync(join(dir, 'data', 'train-00000.parquet'))
  const back = await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) }) as Array<Record<string, unknown>>
  assert.equal(back.length, 5)
  assert.equal(back[0]!.instruction, rows[0]!.instruction)
  assert.deepEqual(back[2]!.criteria, rows[2]!.criteria)
  assert.equal(back[4]!.document_url, null)
  assert.equal(back[3]!.total, 3)
  assert.equal(back[1]!.topic, '1')
  assert.equal(back[0]!.simulated, true)
})
