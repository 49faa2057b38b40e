/**
 * docs/diagnostics.md's subscriber example, exactly as the page shows it: taken from the page,
 * preloaded with `node --import` into `synthq run demo --until-idle` on the embedded runner, its
 * counts must be the records each stage finished.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { testTmpDir } from '../helpers/env.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const noServers = { SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '', SYNTHQ_LOG_LEVEL: '' }

/** The code block between the page's example markers. */
function example (): string {
  const page = readFileSync(join(REPO_ROOT, 'docs/diagnostics.md'), 'utf8')
  const m = /<!-- example:records\.mjs:start[^>]*-->\s*```js\n([\s\S]*?)```\s*<!-- example:records\.mjs:end -->/.exec(page)
  assert.ok(m, 'docs/diagnostics.md has the records.mjs example between its markers')
  return m[1]!
}

test('the records.mjs example counts every record of each stage of a run', () => {
  const dir = testTmpDir('diagnostics-example')
  const db = join(dir, 'synthq.db')
  const script = join(dir, 'records.mjs')
  writeFileSync(script, example())
  const docs = Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `Document ${i}: a paragraph about tide pools, long enough for a situation to be grounded in it.`, url: `https://example.org/${i}`, timestamp: '2019-04-25T12:00:00Z' }))
  const input = join(dir, 'docs.jsonl')
  writeFileSync(input, docs.join('\n') + '\n')
  const env = { ...process.env, ...noServers }
  const ingest = spawnSync(process.execPath, [CLI, 'ingest', input, '--preset', 'c4', '--db', db], { encoding: 'utf8', env, cwd: dir, timeout: 120_000 })
  assert.equal(ingest.status, 0, ingest.stderr)

  const run = spawnSync(process.execPath, ['--import', script, CLI, 'run', 'demo', '--until-idle', '--no-metrics', '--db', db], { encoding: 'utf8', env, cwd: dir, timeout: 120_000 })
  assert.equal(run.status, 0, run.stderr)
  const line = /records by stage and outcome: (\{.*\})\n/.exec(run.stderr)
  assert.ok(line, `the example printed its counts: ${run.stderr.slice(-2000)}`)
  assert.deepEqual(JSON.parse(line[1]!), { 'demo-situation': { processed: 12 }, 'demo-instruction': { processed: 12 } })
})
