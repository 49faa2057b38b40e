/**
 * The README's first command, `npm start` (= synthq start): attribution then synthesis on the
 * shipped real data, on the embedded runner with the simulator, no servers; restarted, it
 * resumes without redoing or duplicating anything; Ctrl-C stops it cleanly.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
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
  const dataset = join(dir, 'dataset')
  const first = spawnSync(process.execPath, [CLI, 'start', '--until-idle', '--db', db, '--out', dataset], { encoding: 'utf8', env: env(dir), timeout: 300_000 })
  assert.equal(first.status, 0, first.stderr)
  assert.match(first.stderr, /building the search index/)
  assert.match(first.stderr, /attribution — fed 345 real user prompts/)
  assert.match(first.stderr, /synthesis — fed 900 documents/)
  assert.match(first.stderr, /built-in SIMULATOR/)
  assert.match(first.stderr, /sample synthq\.instructions\.scored\[\d+\] total \d\/7 from \S+, \d+ demonstrations, SIMULATED/)
  assert.match(first.stderr, /stopped cleanly/)
  // It ends with the dataset: K = 400 of the ~870 scored instructions, balanced over topics.
  assert.match(first.stderr, /dataset — 400 instructions in \d+ topics → .*train\.jsonl with its card/)
  assert.match(first.stderr, /sink: 400 of K=400 kept \(policy top, min score 3\); \d+ scored instructions read/)
  const rows = readFileSync(join(dataset, 'data', 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string, total: number, topic: number, topic_label: string, simulated: boolean })
  assert.equal(rows.length, 400)
  assert.equal(new Set(rows.map((r) => r.id)).size, 400)
  assert.ok(rows.every((r) => r.total >= 3 && r.simulated && r.topic_label.length > 0))
  const card = readFileSync(join(dataset, 'README.md'), 'utf8')
  assert.match(card, /^---\n[\s\S]*size_categories:\n- n<1K[\s\S]*---\n/)
  assert.match(card, /rows were produced with synthq's LLM simulator/)
  assert.match(card, /## Topics/)
  assert.match(card, /- health: healthy/)
  assert.match(card, /topic balance \(max\/min kept among topics that filled their share\): \d\.\d{3}/)

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

  // Any time after: export with another threshold, as Parquet; the sink's report as JSON.
  const pq = join(dir, 'pq')
  const exp = spawnSync(process.execPath, [CLI, 'export', '--db', db, '--out', pq, '--format', 'parquet', '--min-score', '7'], { encoding: 'utf8', env: env(dir), timeout: 60_000 })
  assert.equal(exp.status, 0, exp.stderr)
  const sevens = rows.filter((r) => r.total === 7).length
  assert.match(exp.stdout, new RegExp(`synthq export: ${sevens} rows → .*train-00000\\.parquet`))
  assert.ok(statSync(join(pq, 'data', 'train-00000.parquet')).size > 1000)
  const status = spawnSync(process.execPath, [CLI, 'sink', '--json', '--db', db], { encoding: 'utf8', env: env(dir), timeout: 60_000 })
  assert.equal(status.status, 0, status.stderr)
  const report = JSON.parse(status.stdout) as { kept: number, k: number, health: { healthy: boolean }, topics: unknown[], scoreHistogram: number[] }
  assert.equal(report.kept, 400)
  assert.equal(report.health.healthy, true)
  assert.equal(report.scoreHistogram.reduce((a, b) => a + b, 0), 400)
  assert.equal(report.scoreHistogram[7], sevens)
  const bad = spawnSync(process.execPath, [CLI, 'export', '--db', db, '--out', pq, '--min-score', '9'], { encoding: 'utf8', env: env(dir), timeout: 60_000 })
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /--min-score must be an integer from 0 to 7, got "9"/)

  const second = spawnSync(process.execPath, [CLI, 'start', '--until-idle', '--db', db, '--out', dataset], { encoding: 'utf8', env: env(dir), timeout: 300_000 })
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
  const child = spawn(process.execPath, [CLI, 'start', '--db', db, '--out', join(dir, 'dataset')], { env: env(dir), stdio: ['ignore', 'ignore', 'pipe'] })
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
