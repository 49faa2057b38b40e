/**
 * `synthq ingest` reads every input shape into the embedded runner: JSON lines, a JSON array,
 * Parquet (several row groups), gzip of JSONL and of Parquet (by magic bytes too), a directory,
 * and standard input — the same real C4 records each time, with the same keys.
 */
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { c4DocumentId } from '../../src/search/readers.ts'
import { testTmpDir } from '../helpers/env.ts'
import { headLines, ingest, readTopic, REPO_DATA } from './ingest-harness.ts'

const C4 = join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl')
const lines = headLines(C4, 12)
const records = lines.map((l) => JSON.parse(l) as { text: string, url: string, timestamp: string })
const expectedKeys = records.map((r) => c4DocumentId(r.text))

function parquetOf (rows: typeof records, rowGroupSize = 5): Buffer {
  return Buffer.from(parquetWriteBuffer({
    columnData: [
      { name: 'text', data: rows.map((r) => r.text), type: 'STRING' },
      { name: 'url', data: rows.map((r) => r.url), type: 'STRING' },
      { name: 'timestamp', data: rows.map((r) => r.timestamp), type: 'STRING' },
    ],
    rowGroupSize,
  }))
}

async function keysAfter (args: string[], opts: { stdin?: Buffer | string } = {}): Promise<{ keys: string[], stdout: string, stderr: string, code: number }> {
  const db = join(testTmpDir('ingest-fmt'), 'synthq.db')
  const r = await ingest([...args, '--db', db, '--rejects', join(db, '..', 'rejects.jsonl')], { db, ...opts })
  const rows = await readTopic(db, 'synthq.documents')
  return { ...r, keys: rows.map((x) => x.key!) }
}

test('JSON lines: every record, C4 preset detected, ids as npm start gives them', async () => {
  const r = await keysAfter([writeTmp('c4.jsonl', lines.join('\n') + '\n')])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.keys, expectedKeys)
  assert.match(r.stderr, /preset c4 \(detected/)
  assert.match(r.stdout, /12 new, 0 already there/)
})

test('a JSON array of objects, streamed element by element', async () => {
  const r = await keysAfter([writeTmp('c4.json', `[\n${lines.join(',\n')}\n]\n`)])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.keys, expectedKeys)
})

test('Parquet with several row groups', async () => {
  const r = await keysAfter([writeTmp('c4.parquet', parquetOf(records, 5))])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.keys, expectedKeys)
  assert.match(r.stdout, /parquet/)
})

test('gzip of JSON lines and of Parquet, by name and by magic bytes', async () => {
  const gz = gzipSync(Buffer.from(lines.join('\n') + '\n'))
  assert.deepEqual((await keysAfter([writeTmp('c4.jsonl.gz', gz)])).keys, expectedKeys)
  const unnamed = await keysAfter([writeTmp('c4-download.jsonl', gz)]) // gzip, though the name does not say so
  assert.deepEqual(unnamed.keys, expectedKeys)
  assert.match(unnamed.stdout, /jsonl\.gz/)
  const pq = await keysAfter([writeTmp('c4.parquet.gz', gzipSync(parquetOf(records)))])
  assert.equal(pq.code, 0, pq.stderr)
  assert.deepEqual(pq.keys, expectedKeys)
})

test('a directory: recursive, sorted, known extensions only', async () => {
  const dir = testTmpDir('ingest-dir')
  mkdirSync(join(dir, 'b', 'deeper'), { recursive: true })
  writeFileSync(join(dir, 'b', 'deeper', '2.jsonl'), lines.slice(8).join('\n') + '\n')
  writeFileSync(join(dir, 'a.jsonl'), lines.slice(0, 4).join('\n') + '\n')
  writeFileSync(join(dir, 'b', '1.json'), `[${lines.slice(4, 8).join(',')}]`)
  writeFileSync(join(dir, 'README.md'), '# not a corpus\n')
  const r = await keysAfter([dir])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.keys, expectedKeys, 'a.jsonl, then b/1.json, then b/deeper/2.jsonl')
  assert.match(r.stderr, /left out 1 file/)
})

test('standard input (-): format from the first byte, or --format', async () => {
  const r = await keysAfter(['-'], { stdin: lines.join('\n') })
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.keys, expectedKeys)
  const arr = await keysAfter(['-', '--format', 'json'], { stdin: `[${lines.join(',')}]` })
  assert.deepEqual(arr.keys, expectedKeys)
  const pq = await keysAfter(['-'], { stdin: gzipSync(parquetOf(records)) })
  assert.equal(pq.code, 0, pq.stderr)
  assert.deepEqual(pq.keys, expectedKeys)
})

function writeTmp (name: string, content: string | Buffer): string {
  const file = join(testTmpDir('ingest-in'), name)
  writeFileSync(file, content)
  return file
}

test('progress: a bar with rate and ETA on a terminal, a quiet line every 5 s elsewhere', async () => {
  const { Progress } = await import('../../src/ingest/progress.ts')
  let t = 0
  let tty = ''
  const bar = new Progress({ stream: { write: (s: string) => { tty += s }, isTTY: true, columns: 200 }, totalBytes: 1000, now: () => t })
  t = 2000
  bar.update(500, 250, 'a.jsonl')
  assert.match(tty, /\[█{6}░{18}\]\s+25 %\s+500 records\s+250 rec\/s\s+ETA 0:06\s+a\.jsonl/)
  let plain = ''
  t = 0
  const quiet = new Progress({ stream: { write: (s: string) => { plain += s }, isTTY: false }, now: () => t })
  t = 1000
  quiet.update(10, 10, 'stdin')
  assert.equal(plain, '', 'not before 5 s')
  t = 6000
  quiet.update(600, 10, '-')
  assert.equal(plain, 'synthq ingest: 600 records  100 rec/s · -\n', 'stdin: no total, rate only')
})
