/**
 * The embedded runner: re-ingesting adds nothing (also after records written by another
 * writer, as `npm start` does), --dry-run writes nothing, and a running pipeline on the same
 * database picks up what another handle ingests.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { demoDocuments } from '../../src/cli/run.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import { TOPOLOGIES } from '../../src/topologies/registry.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { ingest, readTopic, REPO_DATA } from './ingest-harness.ts'

const WEB = join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl')

test('re-ingesting the same files adds 0 records; keys are deduplicated within a run too', async () => {
  const dir = testTmpDir('ingest-dedup')
  const db = join(dir, 'synthq.db')
  const first = await ingest([WEB, join(REPO_DATA, 'demo'), '--db', db], { db })
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stdout, /600 new, 40 already there/, 'the demo file is the first 40 lines of the web file')
  const again = await ingest([WEB, join(REPO_DATA, 'demo'), '--db', db], { db })
  assert.equal(again.code, 0)
  assert.match(again.stdout, /0 new, 640 already there/)
  assert.equal((await readTopic(db, 'synthq.documents')).length, 600)
  // --no-dedup appends regardless
  const forced = await ingest([join(REPO_DATA, 'demo'), '--db', db, '--no-dedup'], { db })
  assert.match(forced.stdout, /40 new/)
  assert.equal((await readTopic(db, 'synthq.documents')).length, 640)
})

test('records another writer appended (npm start\'s demo feed) count as already there', async () => {
  const db = join(testTmpDir('ingest-other'), 'synthq.db')
  const runner = new EmbeddedRunner(TOPOLOGIES.demo!({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: '' }), { path: db, logger: testLogger() })
  await runner.produce('documents', demoDocuments())
  runner.log.close()
  const r = await ingest([join(REPO_DATA, 'demo'), '--db', db], { db })
  assert.match(r.stdout, /0 new, 40 already there/)
})

test('--dry-run validates, counts and writes the rejects file, but no topic and no database', async () => {
  const dir = testTmpDir('ingest-dry')
  const db = join(dir, 'synthq.db')
  const rejects = join(dir, 'rejects.jsonl')
  const r = await ingest([WEB, join(REPO_DATA, 'demo'), '--db', db, '--dry-run', '--rejects', rejects, '--max-bytes', '20k'], { db })
  assert.equal(r.code, 3)
  assert.match(r.stdout, /DRY RUN/)
  assert.match(r.stdout, /would be new, 40 repeated within this run/)
  assert.ok(existsSync(rejects), 'the rejects file is written in a dry run')
  assert.equal(existsSync(db), false, 'no database is created')
})

test('a running pipeline on the same database picks up what another handle ingests', async () => {
  const db = join(testTmpDir('ingest-live'), 'synthq.db')
  const runner = new EmbeddedRunner(TOPOLOGIES.demo!({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: '' }), { path: db, logger: testLogger(), pollMs: 50 })
  await runner.start()
  try {
    const r = await ingest([join(REPO_DATA, 'demo'), '--db', db], { db }) // its own EmbeddedLog: no in-process notification
    assert.equal(r.code, 0, r.stderr)
    const deadline = Date.now() + 20_000
    const situations = (): number => runner.log.head('synthq.situations')
    while (situations() < 40 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50))
    assert.equal(situations(), 40, 'every ingested document reached the first stage')
  } finally {
    await runner.stop()
  }
  const log = new EmbeddedLog(db)
  assert.equal(log.head('synthq.documents'), 40)
  log.close()
})
