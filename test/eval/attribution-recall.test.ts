/**
 * A floor on attribution's retrieval quality (`npm run eval:attribution`): SQuAD questions,
 * through concept extraction (simulator) and the BM25 search, must find the paragraph they were
 * written about. Measured 2026-11-25: recall@1 0.689, recall@5 0.901 over 473 questions.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_DATA } from '../../src/data-paths.ts'
import { evalAttribution } from '../../scripts/eval-attribution.ts'
import { testTmpDir } from '../helpers/env.ts'

test('attribution retrieval finds the grounding paragraph of SQuAD questions', async () => {
  const r = await evalAttribution({ squad: join(REPO_DATA, 'seeds', 'squad-v2-dev-3articles.json'), workDir: testTmpDir('eval-attribution') })
  assert.equal(r.questions, 473)
  assert.ok(r.recall5 >= 0.85, `recall@5 ${r.recall5}`)
  assert.ok(r.recall1 >= 0.6, `recall@1 ${r.recall1}`)
  assert.ok(r.recall1 <= r.recall5)
})
