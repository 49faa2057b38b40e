/**
 * The trainable exports, read back with hyparquet (a Parquet reader independent of the writer):
 * SFT rows are the sample's members with their response, `messages` a real list of
 * {role, content} structs; Alpaca rows the same as instruction/input/output; DPO rows only the
 * pairs preferred in both orders. The card's counts come from the topics' histories.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parquetReadObjects } from 'hyparquet'
import type { PreferenceValue } from '../../../src/processors/response/judge.ts'
import type { ResponseValue } from '../../../src/processors/response/response.ts'
import type { SampleRowValue } from '../../../src/processors/sink/types.ts'
import type { AvroSerde } from '../../../src/serde/avro-serde.ts'
import { exportTrainable, readTrainable } from '../../../src/sink/export/trainable.ts'
import { testTmpDir } from '../../helpers/env.ts'
import { SAMPLES } from '../../fixtures/records.ts'

const ROW = SAMPLES.sample as unknown as SampleRowValue
const RESPONSE = SAMPLES.responses as unknown as ResponseValue
const PREFERENCE = SAMPLES.preferences as unknown as PreferenceValue

const row = (id: string, total = 6): SampleRowValue => ({ ...ROW, id, instruction: `Question ${id}?`, total })
const resp = (id: string): ResponseValue => ({ ...RESPONSE, id, instruction: `Question ${id}?`, response: `Answer to ${id}.` })
const pref = (id: string, outcome: PreferenceValue['outcome']): PreferenceValue => outcome === 'preferred'
  ? { ...PREFERENCE, id, outcome, chosen: `Good answer to ${id}.`, rejected: `Weak answer to ${id}.` }
  : { ...PREFERENCE, id, outcome, chosen: null, rejected: null, chosen_model: null, rejected_model: null }

/** A file's bytes as their own ArrayBuffer (a small file's Buffer shares a pool). */
function parquetBytes (path: string): ArrayBuffer {
  const b = readFileSync(path)
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer
}

/** The topics as raw keyed records, values JSON (the stub serde below decodes them). */
const raw = (key: string, v: unknown): { key: string, value: Buffer | null } => ({ key, value: v === null ? null : Buffer.from(JSON.stringify(v)) })
const serde = { decode: async (_topic: string, b: Buffer) => JSON.parse(b.toString('utf8')) as unknown } as unknown as AvroSerde

async function contents () {
  // In the sample now: s1, s2, s3 (s3 without a response yet). Evicted: e1 (answered, then its
  // response deleted) and e2 (evicted before any response).
  const sample = [row('s1', 7), row('s2', 4), row('s3')]
  return await readTrainable(serde, 'synthq', sample, {
    sample: [raw('s1', row('s1')), raw('e1', row('e1')), raw('e2', row('e2')), raw('s2', row('s2')), raw('e1', null), raw('e2', null), raw('s3', row('s3'))],
    responses: [raw('s1', resp('s1')), raw('e1', resp('e1')), raw('s2', resp('s2')), raw('e1', null), raw('e2', null)],
    preferences: [raw('s1', pref('s1', 'preferred')), raw('s2', pref('s2', 'inconsistent')), raw('e1', pref('e1', 'preferred')), raw('e1', null)],
  })
}

test('SFT: the sample members with a response, as chat messages; Parquet messages are list<struct<role, content>>', async () => {
  const dir = testTmpDir('trainable-sft')
  const c = await contents()
  const r = exportTrainable(c, { outDir: dir, format: 'sft', file: 'parquet' })
  assert.equal(r.rows, 2)
  const rows = await parquetReadObjects({ file: parquetBytes(join(dir, 'data/train-00000.parquet')) }) as Array<Record<string, unknown>>
  assert.deepEqual(rows.map((x) => x.id), ['s1', 's2'])
  assert.deepEqual(rows[0]!.messages, [{ role: 'user', content: 'Question s1?' }, { role: 'assistant', content: 'Answer to s1.' }])
  assert.equal(rows[0]!.total, 7)
  assert.equal(rows[0]!.model, 'llm-sim/simulated-8b@0.7')
  const card = readFileSync(join(dir, 'README.md'), 'utf8')
  assert.match(card, /path: data\/train-00000\.parquet/)
  assert.match(card, /instructions in the sample: 3; with a response: 2; response still to come: 1/)
  assert.match(card, /instructions evicted from the sample: 2; of these, evicted before their response .*: 1; responses deleted with their instruction: 1/)
  assert.match(card, /simulated/)
})

test('SFT as JSON lines and Alpaca-style rows; --min-score filters', async () => {
  const dir = testTmpDir('trainable-alpaca')
  const c = await contents()
  exportTrainable(c, { outDir: join(dir, 'sft'), format: 'sft', file: 'jsonl', minScore: 5 })
  const lines = readFileSync(join(dir, 'sft/data/train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string, messages: unknown[] })
  assert.deepEqual(lines.map((l) => l.id), ['s1'])
  assert.equal(lines[0]!.messages.length, 2)
  exportTrainable(c, { outDir: join(dir, 'alpaca'), format: 'alpaca', file: 'parquet' })
  const rows = await parquetReadObjects({ file: parquetBytes(join(dir, 'alpaca/data/train-00000.parquet')) }) as Array<Record<string, unknown>>
  assert.deepEqual(rows.map((x) => [x.instruction, x.input, x.output]), [['Question s1?', '', 'Answer to s1.'], ['Question s2?', '', 'Answer to s2.']])
})

test('DPO: only pairs preferred in both orders, of instructions still in the sample; the card has the judge agreement', async () => {
  const dir = testTmpDir('trainable-dpo')
  const c = await contents()
  const r = exportTrainable(c, { outDir: dir, format: 'dpo', file: 'parquet' })
  assert.equal(r.rows, 1)
  const rows = await parquetReadObjects({ file: parquetBytes(join(dir, 'data/train-00000.parquet')) }) as Array<Record<string, unknown>>
  assert.deepEqual(rows.map((x) => [x.id, x.prompt, x.chosen, x.rejected]), [['s1', 'Question s1?', 'Good answer to s1.', 'Weak answer to s1.']])
  assert.deepEqual([r.stats.judged, r.stats.preferred, r.stats.ties, r.stats.inconsistent, r.stats.agreement], [2, 1, 0, 1, 0.5])
  const card = readFileSync(join(dir, 'README.md'), 'utf8')
  assert.match(card, /- dpo/)
  assert.match(card, /pairs judged: 2 — preferred in both orders: 1, ties: 0, inconsistent across orders \(dropped\): 1/)
  assert.match(card, /judge agreement across the two orders: 50\.0 %/)
})

test('an empty export still writes a loadable file and a card', async () => {
  const dir = testTmpDir('trainable-empty')
  const empty = await readTrainable(serde, 'synthq', [], { sample: [], responses: [], preferences: [] })
  for (const format of ['sft', 'dpo'] as const) {
    const r = exportTrainable(empty, { outDir: join(dir, format), format, file: 'parquet' })
    assert.equal(r.rows, 0)
    const rows = await parquetReadObjects({ file: parquetBytes(join(dir, format, 'data/train-00000.parquet')) })
    assert.equal(rows.length, 0)
  }
})
