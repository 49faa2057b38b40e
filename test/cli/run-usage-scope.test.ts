/**
 * The LLM usage line `synthq run` prints at exit is this run's: other processes that share the
 * usage database (workers of one machine share .synthq/llm/llm.db; here the embedded database)
 * add to its ledger, and the ledger keeps their sum — but the run reports only its own calls.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { openLlmDatabase } from '../../src/llm/store.ts'
import { UsageLedger } from '../../src/llm/usage.ts'
import { testTmpDir } from '../helpers/env.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const DOCS = 4
const FOREIGN_PROMPT_TOKENS = 987_654_321

test('the usage line at exit counts this run\'s LLM calls, not those of other processes sharing the ledger', () => {
  const dir = testTmpDir('usage-scope')
  const db = join(dir, 'synthq.db')
  const env = { ...process.env, SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '', SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'), SYNTHQ_LOG_LEVEL: '' }
  const docs = join(dir, 'docs.jsonl')
  writeFileSync(docs, readFileSync(join(REPO_ROOT, 'data/demo/c4-en-validation-sample.jsonl'), 'utf8').trim().split('\n').slice(0, DOCS).join('\n') + '\n')
  const ingest = spawnSync(process.execPath, [CLI, 'ingest', docs, '--db', db, '--preset', 'c4'], { encoding: 'utf8', env, timeout: 120_000 })
  assert.equal(ingest.status, 0, ingest.stderr)

  // Another process's calls, already in the shared ledger.
  const shared = openLlmDatabase(db)
  try {
    const other = new UsageLedger(shared, new Map())
    for (const stage of ['scoring', 'situation-envisioning']) {
      other.recordCall(stage, 'sim-chat-8b', 'sim', false)
      other.recordRequest({ stage, model: 'sim-chat-8b', endpoint: 'sim', promptTokens: FOREIGN_PROMPT_TOKENS, completionTokens: 5, cachedPromptTokens: 0, estimated: false })
    }
  } finally {
    shared.close()
  }

  const r = spawnSync(process.execPath, [CLI, 'run', 'synthesis', '--llm', 'sim', '--until-idle', '--db', db], { encoding: 'utf8', env, timeout: 300_000 })
  assert.equal(r.status, 0, r.stderr)
  const line = r.stderr.split('\n').find((l) => l.startsWith('synthq: LLM usage — '))
  assert.ok(line, `a usage line at exit:\n${r.stderr}`)
  const scoring = /scoring: (\d+) requests, (\d+)\+(\d+) tokens/.exec(line)
  assert.ok(scoring, line)
  for (const m of line.matchAll(/(\d+)\+\d+ tokens/g)) assert.ok(Number(m[1]) < FOREIGN_PROMPT_TOKENS, `another process's tokens are not this run's: ${line}`)
  assert.ok(Number(scoring[1]) >= 1 && Number(scoring[1]) <= DOCS * 4, `scoring requests of this run: ${line}`)

  // The database's ledger still sums every process: the budget covers them all.
  const after = openLlmDatabase(db)
  try {
    const rows = new UsageLedger(after, new Map()).rows()
    const row = rows.find((x) => x.stage === 'scoring')!
    assert.equal(row.requests, 1 + Number(scoring[1]))
    assert.equal(row.promptTokens, FOREIGN_PROMPT_TOKENS + Number(scoring[2]))
  } finally {
    after.close()
  }
})
