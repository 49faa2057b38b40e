/**
 * A run whose records are mostly dead-lettered is never called healthy: `synthq start`'s closing
 * summary, the dataset card and the exit code (3: done, with findings) all say UNHEALTHY and name
 * the stage — here against a server whose every answer is broken JSON.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { testTmpDir } from '../helpers/env.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
let sim: LlmSim

before(async () => { sim = await startLlmSim({ faults: { rates: { malformed_json: 1 } } }) })
after(async () => { await sim.close() })

test('every answer broken: the summary and the card say UNHEALTHY with the stage, and start exits 3', async () => {
  const dir = testTmpDir('start-health')
  const db = join(dir, 'synthq.db')
  const docs = join(dir, 'docs.jsonl')
  writeFileSync(docs, readFileSync(join(REPO_ROOT, 'data/web/c4-en-validation-600.jsonl'), 'utf8').split('\n').slice(0, 6).join('\n') + '\n')
  const env = { ...process.env, SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '', SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'), SYNTHQ_LOG_LEVEL: 'error', SYNTHQ_LLM_BASE_URL: sim.url, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'sim-chat-8b', SYNTHQ_LLM_RETRIES: '0' }
  const ingest = spawnSync(process.execPath, [CLI, 'ingest', docs, '--preset', 'c4', '--db', db], { encoding: 'utf8', env })
  assert.equal(ingest.status, 0, ingest.stderr)
  const child = spawn(process.execPath, [CLI, 'start', '--no-demo-data', '--until-idle', '--db', db, '--out', join(dir, 'dataset')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  child.stdout.resume()
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  assert.equal(code, 3, err)
  assert.match(err, /synthq: health: UNHEALTHY/)
  assert.match(err, /FAIL dead_letters: situation-envisioning: 6 of 6 records dead-lettered \(100\.0 %/)
  const card = readFileSync(join(dir, 'dataset', 'README.md'), 'utf8')
  assert.match(card, /health: \*\*UNHEALTHY\*\*/)
  assert.match(card, /dead_letters: situation-envisioning: 6 of 6/)
})
