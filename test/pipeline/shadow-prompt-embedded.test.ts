/**
 * A shadow prompt version on the embedded runner, through the command line a user types:
 * `synthq start` makes the live pipeline (instruction-generation at prompt v1);
 * `synthq shadow instruction-generation --prompt-version 2 --through scoring` runs v2 and a copy of
 * scoring on the same situations into shadow topics; `synthq compare` sets the two side by
 * side; `synthq shadow promote --from shadow` makes v2 live from where the shadow started, and
 * the next `synthq run synthesis` redoes those records with v2 — every call answered from the
 * LLM cache — while v1's outputs stay in the live topic byte for byte.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { EmbeddedTransport } from '../../src/runtime/embedded/embedded-transport.ts'
import { shadowPrefix, topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const noServers = { SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '' }

test('shadow v2 of instruction-generation beside v1 on the embedded runner: compared and promoted, v1 untouched', { timeout: 600_000 }, async () => {
  const dir = testTmpDir('shadow-embedded')
  const db = join(dir, 'synthq.db')
  const env = { ...process.env, ...noServers, SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'), SYNTHQ_LOG_LEVEL: '' }
  const synthq = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
    const r = spawnSync(process.execPath, [CLI, ...args, '--db', db], { encoding: 'utf8', env, timeout: 300_000 })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  const ok = (r: { status: number | null, stderr: string }): void => assert.equal(r.status, 0, r.stderr)
  const live = topicName('synthesizedInstructions')
  const shadowTopic = `${shadowPrefix('synthq', 'instruction-generation', '2')}.instructions.synthesized`
  const read = async (topic: string): Promise<Array<{ key: string | null, value: Buffer, version: string }>> => {
    const t = new EmbeddedTransport({ db, prefix: 'synthq', readOnly: true })
    try {
      t.serde.bindTopic(topic, 'synthesizedInstructions')
      const out = []
      for (const r of await t.readToEnd(topic)) {
        const v = await t.serde.decode<{ lineage: { prompt: { version: string } } }>(topic, r.value)
        out.push({ key: r.key, value: r.value!, version: v.lineage.prompt.version })
      }
      return out
    } finally {
      await t.close()
    }
  }

  ok(synthq('start', '--until-idle', '--out', join(dir, 'dataset')))
  const v1 = await read(live)
  const n = v1.length
  assert.ok(n > 100, `the live pipeline wrote instructions (${n})`)
  assert.ok(v1.every((r) => r.version === '1'))

  // Wrong stages and versions are refused with the reason.
  const noPrompt = synthq('shadow', 'document-hygiene', '--prompt-version', '2', '--llm', 'sim', '--until-idle')
  assert.notEqual(noPrompt.status, 0)
  assert.match(noPrompt.stderr, /document-hygiene sends no prompt.*instruction-generation/)
  const noVersion = synthq('shadow', 'instruction-generation', '--prompt-version', '9', '--llm', 'sim', '--until-idle')
  assert.notEqual(noVersion.status, 0)
  assert.match(noVersion.stderr, /no prompt version "9" \(versions: 1, 2/)

  const shadow = synthq('shadow', 'instruction-generation', '--prompt-version', 'v2', '--through', 'scoring', '--from', 'earliest', '--llm', 'sim', '--until-idle')
  ok(shadow)
  assert.match(shadow.stderr, /SHADOW of stage instruction-generation at prompt version 2 \(live: 1; stages instruction-generation, scoring\)/)
  assert.equal((await read(live)).length, n, 'the shadow wrote nothing into the live topic')
  const v2 = await read(shadowTopic)
  assert.equal(v2.length, n, 'the shadow answered every situation the live stage did')
  assert.ok(v2.every((r) => r.version === '2'))

  const json = synthq('compare', 'instruction-generation', '--prompt-version', '2', '--json')
  ok(json)
  type Report = { simulated: boolean, inputsBoth: number, a: { version: string, outputs: number, scores: { n: number, mean: number } }, b: { version: string, outputs: number, scores: { n: number, mean: number } }, scoreTest: { p: number | null } }
  const report = JSON.parse(json.stdout) as Report
  assert.equal(report.inputsBoth, n)
  assert.deepEqual([report.a.version, report.b.version], ['1', '2'])
  assert.deepEqual([report.a.scores.n, report.b.scores.n], [n, n], 'both sides scored: live by scoring, the shadow by its copy')
  assert.ok(report.scoreTest.p !== null && report.scoreTest.p >= 0 && report.scoreTest.p <= 1)
  assert.equal(report.simulated, true)
  const table = synthq('compare', 'instruction-generation', '--prompt-version', '2')
  ok(table)
  assert.match(table.stdout, /SIMULATED/)
  assert.match(table.stdout, /Mann–Whitney U/)

  const promoted = synthq('shadow', 'promote', 'instruction-generation', '--prompt-version', '2', '--from', 'shadow')
  ok(promoted)
  assert.match(promoted.stdout, new RegExp(`moved back from 0:${n} to 0:0: ${n} record\\(s\\) are redone with version 2`))

  const listed = synthq('shadow', 'list', '--json')
  ok(listed)
  const l = JSON.parse(listed.stdout) as { shadows: Array<{ stage: string, version: string, topics: Array<{ topic: string, records: number }> }>, promotions: Array<{ stage: string, version: string, offsets: Array<{ partition: number, offset: number }> }> }
  assert.deepEqual(l.shadows.map((x) => [x.stage, x.version, x.topics.map((t) => t.records)]), [['instruction-generation', '2', [n, n]]])
  assert.deepEqual(l.promotions.map((p) => [p.stage, p.version, p.offsets]), [['instruction-generation', '2', [{ partition: 0, offset: 0 }]]])
  const tapped = synthq('tap', shadowTopic, '--limit', '1', '--fields', 'lineage.prompt.version')
  ok(tapped)
  assert.match(tapped.stdout, /"2"/, 'tap reads a shadow topic like any other')

  const rerun = synthq('run', 'synthesis', '--llm', 'sim', '--until-idle')
  ok(rerun)
  assert.match(rerun.stderr, new RegExp(`instruction-generation: 0 requests, 0\\+0 tokens, ${n} cache hits`), 'the redo is answered from the cache')

  const after = await read(live)
  assert.equal(after.length, 2 * n)
  const byBytes = new Set(after.map((r) => `${r.key}\u0000${r.value.toString('base64')}`))
  assert.ok(v1.every((r) => byBytes.has(`${r.key}\u0000${r.value.toString('base64')}`)), 'every v1 output is still there as it was')
  assert.equal(after.filter((r) => r.version === '2').length, n)

  // After the promotion the live topics hold both versions' outputs (and scores) for the same
  // inputs, under the same ids: compare still reads v1's side as v1 alone.
  const again = synthq('compare', 'instruction-generation', '--prompt-version', '2', '--json')
  ok(again)
  const later = JSON.parse(again.stdout) as Report
  assert.deepEqual([later.a.outputs, later.a.scores.n, later.a.scores.mean], [report.a.outputs, report.a.scores.n, report.a.scores.mean])
})
