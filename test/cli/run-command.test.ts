/**
 * The README's first command, `npm start` (= synthq start): the demo topology on the embedded
 * runner, with no servers, fed with the bundled C4 sample; restarted, it resumes without
 * redoing or duplicating anything; Ctrl-C stops it cleanly.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const noServers = { SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '' }

test('synthq start runs the demo on the embedded runner and resumes without duplicates', () => {
  const db = join(testTmpDir('start'), 'synthq.db')
  const first = spawnSync(process.execPath, [CLI, 'start', '--until-idle', '--db', db], { encoding: 'utf8', env: { ...process.env, ...noServers } })
  assert.equal(first.status, 0, first.stderr)
  assert.match(first.stderr, /fed 40 demo documents/)
  assert.match(first.stderr, /demo-situation: 40 done, 0 dead-lettered/)
  assert.match(first.stderr, /demo-instruction: 40 done/)
  assert.match(first.stderr, /sample synthq\.instructions\.synthesized\[\d+\] \(simulated\)/)
  assert.match(first.stderr, /stopped cleanly/)

  const second = spawnSync(process.execPath, [CLI, 'start', '--until-idle', '--db', db], { encoding: 'utf8', env: { ...process.env, ...noServers } })
  assert.equal(second.status, 0, second.stderr)
  assert.doesNotMatch(second.stderr, /fed \d+ demo documents/, 'the documents topic is not empty: nothing is fed twice')
  assert.match(second.stderr, /demo-situation: 0 done/, 'nothing is redone')

  const log = new EmbeddedLog(db)
  try {
    assert.equal(log.head(topicName('documents')), 40)
    assert.equal(log.head(topicName('situations')), 40)
    assert.equal(log.head(topicName('synthesizedInstructions')), 40)
  } finally {
    log.close()
  }
})

test('Ctrl-C stops a running topology cleanly (exit 0)', async () => {
  const db = join(testTmpDir('sigint'), 'synthq.db')
  const child = spawn(process.execPath, [CLI, 'start', '--db', db], { env: { ...process.env, ...noServers }, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const deadline = Date.now() + 60_000
  while (!err.includes('waiting for new records') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  assert.match(err, /waiting for new records/)
  child.kill('SIGINT')
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
  assert.equal(code, 0, err)
  assert.match(err, /SIGINT: finishing records in flight/)
  assert.match(err, /stopped cleanly/)
})
