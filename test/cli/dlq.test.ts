/**
 * `synthq dlq` as a command (runDlq, until src/cli/main.ts routes `synthq dlq` to it): usage and
 * exit codes, empty and undecodable dead-letter topics, the table and summary output, show by
 * id prefix, and `synthq tap` showing an embedded replay's ledger entry as its header.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { DLQ_HELP, runDlq } from '../../src/cli/dlq.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { deadLetterOf } from '../../src/runtime/stage-engine.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'

async function dlq (args: string[], db: string): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runDlq(args, { db }, testLogger(), { out: (t) => { out += t }, err: (t) => { err += t } })
  return { code, out, err }
}

/** An embedded database with three dead letters of two stages, written by deadLetterOf. */
async function database (): Promise<{ db: string, ids: string[] }> {
  const db = join(testTmpDir('dlq-cli'), 'synthq.db')
  const log = new EmbeddedLog(db)
  const serde = new AvroSerde(new EmbeddedRegistry(log.db, db), SchemaCatalog.load())
  await serde.registerAll()
  const real = topicName('realInstructions')
  const concepts = topicName('concepts')
  const dlqTopic = topicName('deadLetters')
  const value = await serde.encode(real, SAMPLES.realInstructions)
  log.append([{ topic: real, key: 'seed-1', value }])
  const t0 = Date.parse('2026-11-26T10:00:00Z')
  const letters = [
    await deadLetterOf({ key: Buffer.from('seed-1'), value, partition: 0, offset: '0', timestamp: t0 }, { errorClass: 'InvalidOutput', code: 'SYNTHQ_LLM_OUTPUT', message: 'keywords: expected at most 5, got 9', attempts: 3, rawOutput: '{"keywords": [1,2,3,4,5,6,7,8,9]}' }, { stage: 'concept-extraction', inputTopic: real, dlqTopic, runId: 'r1', now: t0, serde, logger: testLogger() }),
    await deadLetterOf({ key: Buffer.from('seed-1'), value, partition: 0, offset: '0', timestamp: t0 }, { errorClass: 'InvalidOutput', code: 'SYNTHQ_LLM_OUTPUT', message: 'intention: missing', attempts: 3 }, { stage: 'concept-extraction', inputTopic: real, dlqTopic, runId: 'r1', now: t0 + 1000, serde, logger: testLogger() }),
    await deadLetterOf({ key: Buffer.from('seed-1'), value: Buffer.from('junk'), partition: 0, offset: '4', timestamp: t0 }, { errorClass: 'DecodeError', code: 'SYNTHQ_DECODE', message: 'value starts with byte 0x6a', attempts: 1 }, { stage: 'search-retrieval', inputTopic: concepts, dlqTopic, runId: 'r1', now: t0 + 2000, serde, logger: testLogger() }),
  ]
  log.append(letters)
  const ids = await Promise.all(letters.map(async (l) => (await serde.decode<{ id: string }>(dlqTopic, l.value)).id))
  log.close()
  return { db, ids }
}

test('dlq usage: help, exit 2 for bad arguments, 1 for an unknown id or database', async () => {
  const { db } = await database()
  assert.deepEqual(await dlq(['--help'], db), { code: 0, out: DLQ_HELP, err: '' })
  for (const bad of [['frobnicate'], ['replay'], ['replay', '--all', '--stage', 's'], ['list', '--force'], ['show'], ['list', '--limit', '-1'], ['list', '--since', 'soon'], ['list', '--runner', 'spark'], ['--bogus']]) {
    const r = await dlq(bad, db)
    assert.equal(r.code, 2, `${bad.join(' ')}: ${r.err}`)
    assert.match(r.err, /^synthq dlq: /)
  }
  const missing = await dlq(['show', 'ffffffff-0000-0000-0000-000000000000'], db)
  assert.equal(missing.code, 1)
  assert.match(missing.err, /no dead letter with id ffffffff-0000/)
  await assert.rejects(dlq(['list'], join(testTmpDir('dlq-cli'), 'none.db')), /no embedded database at/)
})

test('dlq list, summary and show on the embedded runner', async () => {
  const { db, ids } = await database()
  process.env.COLUMNS = '160'
  try {
    const list = await dlq([], db)
    assert.equal(list.code, 0, list.err)
    const lines = list.out.trim().split('\n')
    assert.match(lines[0]!, /^id\s+failed at \(UTC\)\s+stage\s+source\s+error\s+attempts\s+reason$/)
    assert.equal(lines[2], `${ids[0]!.slice(0, 8)}  2026-11-26 10:00:00  concept-extraction  instructions.real[0]@0  InvalidOutput  3         keywords: expected at most 5, got 9`)
    assert.equal(lines.at(-1), '3 dead letter(s); full record: synthq dlq show <id>')
    const limited = await dlq(['list', '--limit', '1', '--stage', 'concept-extraction'], db)
    assert.match(limited.out, /\n1 of 2 dead letter\(s\) \(3 in synthq\.dlq\)/)
    const none = await dlq(['list', '--grep', 'nothing like this'], db)
    assert.deepEqual([none.code, none.out], [0, 'no dead letters match (of 3 in synthq.dlq)\n'])
    const summary = await dlq(['summary'], db)
    assert.deepEqual(summary.out.split('\n').map((l) => l.replace(/ {2,}/g, ' | ')), [
      'stage | error | count | last failed (UTC) | example reason',
      '------------------ | ------------- | ----- | ------------------- | ---------------------------',
      'concept-extraction | InvalidOutput | 2 | 2026-11-26 10:00:01 | intention: missing',
      'search-retrieval | DecodeError | 1 | 2026-11-26 10:00:02 | value starts with byte 0x6a',
      '3 dead letter(s) in 2 group(s); list them: synthq dlq list --stage S --error CLASS',
      '',
    ])
  } finally {
    delete process.env.COLUMNS
  }
  const shown = await dlq(['show', ids[0]!.slice(0, 8)], db)
  assert.equal(shown.code, 0)
  assert.match(shown.out, new RegExp(`^id {11}${ids[0]}\nstage {8}concept-extraction\nsource {7}synthq.instructions.real partition 0 offset 0\nkey {10}seed-1\nerror {8}InvalidOutput \\(SYNTHQ_LLM_OUTPUT\\) after 3 attempt\\(s\\)\n`))
  assert.match(shown.out, /raw output:\n\{"keywords": \[1,2,3,4,5,6,7,8,9\]\}\n/)
  assert.match(shown.out, /original value \(decoded\):\n\{\n {2}"id": "seed-1",\n {2}"prompt": "How do I keep my Etsy shop/)
  const junk = await dlq(['show', ids[2]!], db)
  assert.match(junk.out, /original value does not decode: value of 4 byte\(s\) is too short for the Confluent wire format/)
  assert.match(junk.out, /original value bytes \(base64, 4 bytes\): anVuaw==/)
})

test('dlq replay on the embedded runner: exit 3 for what cannot be replayed; tap shows the replay', async () => {
  const { db, ids } = await database()
  const replay = await dlq(['replay', '--stage', 'concept-extraction', '--error', 'InvalidOutput', '--grep', 'KEYWORDS'], db)
  assert.equal(replay.code, 0, replay.err)
  assert.equal(replay.out, 'replayed 1 dead letter(s):\n  concept-extraction → synthq.instructions.real: 1  (0@1)\n')
  const unknown = await dlq(['replay', '--id', 'ffffffff-0000-0000-0000-000000000000'], db)
  assert.equal(unknown.code, 3)
  assert.match(unknown.err, /no dead letter with id ffffffff/)
  // The replayed record, as tap prints it: the original value, the ledger entry as its header.
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/synthq.js'), 'tap', 'realInstructions', '--db', db, '--offset', '1'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const row = JSON.parse(r.stdout) as { offset: number, key: string, value: { id: string }, headers: Record<string, string> }
  assert.deepEqual([row.offset, row.key, row.value.id, row.headers], [1, 'seed-1', 'seed-1', { 'synthq-replay-of': ids[0] }])
  const byHeader = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/synthq.js'), 'tap', 'realInstructions', '--db', db, '--where', `@headers.synthq-replay-of=${ids[0]}`, '--count'], { encoding: 'utf8' })
  assert.equal(byHeader.stdout, '1\n')
})
