/**
 * Bad input costs only itself: each broken record is reported as file:line (file [index],
 * file row N) with its reason on stderr and in the rejects file, and the good records around it
 * are ingested. Exit code 3 when anything was rejected.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { testTmpDir } from '../helpers/env.ts'
import { headLines, ingest, readRejects, readTopic, REPO_DATA } from './ingest-harness.ts'

const good = headLines(join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'), 6)
const texts = good.map((l) => (JSON.parse(l) as { text: string }).text)

async function run (name: string, content: string | Buffer, extra: string[] = []): Promise<{ code: number, stderr: string, stdout: string, rejects: ReturnType<typeof readRejects>, texts: string[], file: string }> {
  const dir = testTmpDir('ingest-bad')
  const file = join(dir, name)
  writeFileSync(file, content)
  const db = join(dir, 'synthq.db')
  const rejectsFile = join(dir, 'rejects.jsonl')
  const r = await ingest([file, '--db', db, '--rejects', rejectsFile, ...extra], { db })
  const rows = await readTopic<{ text: string }>(db, 'synthq.documents')
  return { ...r, rejects: readRejects(rejectsFile), texts: rows.map((x) => x.value.text), file }
}

test('an invalid JSON line: rejected by line number, the lines around it ingested', async () => {
  const r = await run('c4.jsonl', [good[0], good[1], '{"text": "broken', good[2]].join('\n') + '\n')
  assert.equal(r.code, 3)
  assert.deepEqual(r.texts, texts.slice(0, 3))
  assert.equal(r.rejects.length, 1)
  assert.equal(r.rejects[0]!.line, 3)
  assert.match(r.rejects[0]!.reason, /invalid JSON/)
  assert.equal(r.rejects[0]!.raw, '{"text": "broken')
  assert.match(r.stderr, new RegExp(`${r.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: invalid JSON`))
  assert.match(r.stdout, /rejects: 1 record/)
})

test('wrong field types: text not a string, id an object, url a number', async () => {
  const c4 = await run('mixed.jsonl', [
    good[0],
    JSON.stringify({ text: 42, url: 'https://x', timestamp: '2019' }),
    good[1],
    JSON.stringify({ text: 'a page', url: 5, timestamp: '2019' }),
  ].join('\n'), ['--preset', 'c4'])
  assert.equal(c4.code, 3)
  assert.deepEqual(c4.rejects.map((x) => [x.line, x.reason]), [
    [2, 'field "text" must be a string, got number'],
    [4, 'field "url" must be a string, got number'],
  ])
  assert.deepEqual(c4.texts, texts.slice(0, 2))
  const generic = await run('generic.jsonl', [
    JSON.stringify({ id: { nested: true }, text: 'a generic document' }),
    JSON.stringify({ id: 7, text: 'a generic document with a numeric id' }),
    JSON.stringify({ id: 'x', text: '   ' }),
  ].join('\n'), ['--map', 'text=text'])
  assert.deepEqual(generic.rejects.map((x) => [x.line, x.reason]), [
    [1, 'field "id" (the id) must be a non-empty string or a number, got an object'],
    [3, 'field "text" is empty'],
  ])
  const rows = await readTopic<{ id: string }>(join(generic.file, '..', 'synthq.db'), 'synthq.documents')
  assert.deepEqual(rows.map((x) => [x.key, x.value.id]), [['7', '7']], 'a numeric id becomes its decimal string')
})

test('non-UTF-8 bytes: rejected (not replaced), raw kept as base64', async () => {
  const bad = Buffer.concat([Buffer.from('{"text": "caf'), Buffer.from([0xe9]), Buffer.from('", "url": "u", "timestamp": "t"}')])
  const r = await run('latin1.jsonl', Buffer.concat([Buffer.from(good[0] + '\n'), bad, Buffer.from('\n' + good[1] + '\n')]))
  assert.equal(r.code, 3)
  assert.deepEqual(r.texts, texts.slice(0, 2))
  assert.equal(r.rejects[0]!.line, 2)
  assert.match(r.rejects[0]!.reason, /not valid UTF-8/)
  assert.equal(r.rejects[0]!.raw_encoding, 'base64')
  assert.deepEqual(Buffer.from(r.rejects[0]!.raw, 'base64'), bad)
})

test('an oversize record: rejected whole (not truncated), raw cut to 4 KiB', async () => {
  const big = JSON.stringify({ text: 'x'.repeat(20_000), url: 'u', timestamp: 't' })
  const r = await run('big.jsonl', [good[0], big, good[1]].join('\n'), ['--max-bytes', '10k'])
  assert.equal(r.code, 3)
  assert.deepEqual(r.texts, texts.slice(0, 2))
  assert.equal(r.rejects[0]!.line, 2)
  assert.match(r.rejects[0]!.reason, /record is 20\d\d\d bytes, over the limit of 10240/)
  assert.equal(Buffer.byteLength(r.rejects[0]!.raw), 4096)
  assert.equal(r.rejects[0]!.raw_truncated, true)
})

test('a truncated gzip stream: the file errs at the line where it broke, what came before is ingested', async () => {
  const whole = gzipSync(Buffer.from(good.join('\n') + '\n'))
  const cut = whole.subarray(0, Math.floor(whole.length * 0.6))
  const r = await run('cut.jsonl.gz', cut)
  assert.equal(r.code, 3)
  assert.ok(r.texts.length >= 1 && r.texts.length < good.length, `some but not all records before the break (${r.texts.length})`)
  assert.deepEqual(r.texts, texts.slice(0, r.texts.length))
  const last = r.rejects.at(-1)!
  assert.equal(last.line, r.texts.length + 1)
  assert.match(last.reason, /truncated gzip stream/)
})

test('an empty file is a note, not a crash; exit 0', async () => {
  const r = await run('empty.jsonl', '')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /empty\.jsonl: empty, nothing to ingest/)
  assert.match(r.stdout, /empty\.jsonl: empty/)
  assert.deepEqual(r.rejects, [])
})

test('JSON array: a bad element is rejected by index; a truncated array ends the file there', async () => {
  const arr = `[${good[0]}, 17, {"text": 1}, ${good[1]}]`
  const r = await run('arr.json', arr, ['--preset', 'c4'])
  assert.deepEqual(r.texts, texts.slice(0, 2))
  assert.deepEqual(r.rejects.map((x) => [x.position.replace(/^.*arr\.json/, ''), x.reason]), [[' [1]', 'expected a JSON object, got number'], [' [2]', 'field "text" must be a string, got number']])
  const cut = await run('cut.json', `[${good[0]}, ${good[1]!.slice(0, 50)}`)
  assert.deepEqual(cut.texts, texts.slice(0, 1))
  assert.match(cut.rejects[0]!.reason, /ends inside the array \(at element \[1\]\)/)
})

test('Parquet: a row whose string column is not UTF-8 is rejected by row number', async () => {
  const buf = Buffer.from(parquetWriteBuffer({
    columnData: [
      { name: 'text', data: ['the first document', 'second', 'the third document'], type: 'STRING' },
      { name: 'url', data: ['u1', 'u2', 'u3'], type: 'STRING' },
      { name: 'timestamp', data: ['t', 't', 't'], type: 'STRING' },
    ],
  }))
  // Damage "second" in place: 0xff is never valid UTF-8 (the file has no checksums to break).
  const at = buf.indexOf('second')
  buf[at] = 0xff
  const r = await run('bad.parquet', buf)
  assert.equal(r.code, 3)
  assert.deepEqual(r.texts, ['the first document', 'the third document'])
  assert.equal(r.rejects[0]!.position.replace(/^.*bad\.parquet/, ''), ' row 1')
  assert.match(r.rejects[0]!.reason, /not valid UTF-8 in column text/)
})

test('stderr shows the first 20 rejects, then how many more are in the rejects file', async () => {
  const lines = [good[0], ...Array.from({ length: 25 }, (_, i) => `not json ${i}`)]
  const r = await run('noisy.jsonl', lines.join('\n'), ['--preset', 'c4'])
  assert.equal(r.rejects.length, 25)
  assert.equal(r.stderr.split('\n').filter((l) => /noisy\.jsonl:\d+: invalid JSON/.test(l)).length, 20)
  assert.match(r.stderr, /… 5 more in .*rejects\.jsonl/)
})

test('usage errors exit 2, unreadable paths exit 1', async () => {
  assert.equal((await ingest(['--bogus'])).code, 2)
  assert.equal((await ingest(['x.jsonl', '--to', 'nowhere'])).code, 2)
  assert.equal((await ingest(['x.jsonl', '--map', 'body=content'])).code, 2)
  assert.equal((await ingest(['x.jsonl', '--preset', 'seeds', '--to', 'documents'])).code, 2)
  assert.equal((await ingest([])).code, 2)
  const missing = await ingest([join(testTmpDir('ingest-missing'), 'nope.jsonl')])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /no such file or directory/)
})
