/**
 * The README's first command, `npm start` (= synthq start): attribution then synthesis on the
 * shipped real data, on the embedded runner with the simulator, no servers; restarted, it
 * resumes without redoing or duplicating anything; Ctrl-C stops it cleanly.
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

function env (dir: string): NodeJS.ProcessEnv {
  return { ...process.env, ...noServers, SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'), SYNTHQ_LOG_LEVEL: '' }
}

test('synthq start runs attribution then synthesis on the shipped data, and resumes without duplicates', () => {
  const dir = testTmpDir('start')
  const db = join(dir, 'synthq.db')
  const first = spawnSync(process.execPath, [CLI, 'start', '--until-idle', '--db', db], { encoding: 'utf8', env: env(dir), timeout: 300_000 })
  assert.equal(first.status, 0, first.stderr)
  assert.match(first.stderr, /building the search index/)
  assert.match(first.stderr, /attribution — fed 345 real user prompts/)
  assert.match(first.stderr, /synthesis — fed 900 documents/)
  assert.match(first.stderr, /built-in SIMULATOR/)
  assert.match(first.stderr, /sample synthq\.instructions\.scored\[\d+\] total \d\/7 from \S+, \d+ demonstrations, SIMULATED/)
  assert.match(first.stderr, /stopped cleanly/)

  const log = new EmbeddedLog(db)
  let counts: Record<string, number>
  try {
    counts = Object.fromEntries((['realInstructions', 'demonstrations', 'documents', 'cleanDocuments', 'scoredInstructions', 'deadLetters'] as const).map((t) => [t, log.head(topicName(t))]))
  } finally {
    log.close()
  }
  assert.equal(counts.realInstructions, 345)
  assert.equal(counts.documents, 900)
  assert.ok(counts.demonstrations! >= 300, `demonstrations ${counts.demonstrations}`)
  assert.equal(counts.scoredInstructions, counts.cleanDocuments, 'every clean document ends scored')
  assert.ok(counts.scoredInstructions! >= 800, `scored ${counts.scoredInstructions}`)

  const second = spawnSync(process.execPath, [CLI, 'start', '--until-idle', '--db', db], { encoding: 'utf8', env: env(dir), timeout: 300_000 })
  assert.equal(second.status, 0, second.stderr)
  assert.doesNotMatch(second.stderr, /fed \d+/, 'the input topics are not empty: nothing is fed twice')
  assert.doesNotMatch(second.stderr, /building the search index/)
  const again = new EmbeddedLog(db)
  try {
    for (const [t, n] of Object.entries(counts)) assert.equal(again.head(topicName(t as Parameters<typeof topicName>[0])), n, `${t}: nothing redone`)
  } finally {
    again.close()
  }
})

test('Ctrl-C stops a running pipeline cleanly (exit 0)', async () => {
  const dir = testTmpDir('sigint')
  const db = join(dir, 'synthq.db')
  const child = spawn(process.execPath, [CLI, 'start', '--db', db], { env: env(dir), stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const deadline = Date.now() + 240_000
  while (!err.includes('synthesis — fed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  assert.match(err, /synthesis — fed/)
  child.kill('SIGINT')
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
  assert.equal(code, 0, err)
  assert.match(err, /finishing records in flight/)
  assert.match(err, /stopped cleanly/)
})
