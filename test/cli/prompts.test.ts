/**
 * `synthq prompts` in-process (no CLI spawned: unit tier): the table lists every registered
 * version with its live marker, file and hash; `prompts diff` is a unified diff of system text,
 * schema and sample rendering; wrong stages or versions are usage errors naming what exists;
 * `--prompt-version stage=version` becomes pipeline.prompts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { promptsDiff, promptsTable, promptVersionArgs } from '../../src/cli/prompts.ts'
import { UsageError } from '../../src/errors.ts'
import { listPrompts } from '../../src/processors/prompts.ts'

test('synthq prompts: one row per version, live marked, with its file and hash', () => {
  const out = promptsTable()
  const lines = out.split('\n')
  assert.match(lines[0]!, /^stage\s+prompt id\s+version\s+live\s+hash\s+file$/)
  for (const p of listPrompts()) {
    const row = lines.find((l) => l.includes(p.file))
    assert.ok(row, p.file)
    assert.match(row, new RegExp(`^${p.stage}\\s+${p.id}\\s+${p.version}\\s+${p.live ? '\\*' : ''}\\s+${p.hash}\\s+${p.file.replace(/\./g, '\\.')}$`))
  }
  assert.match(out, /instruction-generation\s+instruction-generation\s+2\s+[0-9a-f]{12}\s+src\/processors\/instruction\/prompts\/instruction-generation\.v2\.ts/, 'v2 listed, not live')
  assert.match(out, /7 stages, 8 versions/)
  assert.match(out, /response is sent by: response, response-b/)
})

test('synthq prompts diff: a unified diff of the system text, the schema and the sample rendering', () => {
  const d = promptsDiff('instruction-generation', '1', 'v2')
  assert.match(d, /^={10,}\n--- instruction-generation v1\tsrc\/processors\/instruction\/prompts\/instruction-generation\.v1\.ts\n\+\+\+ instruction-generation v2\tsrc\/processors\/instruction\/prompts\/instruction-generation\.v2\.ts\n@@ /)
  assert.match(d, /^-# instruction-generation version 1$/m)
  assert.match(d, /^\+# instruction-generation version 2$/m)
  assert.match(d, /^-- be practical, specific and complex enough/m, 'a v1 rule removed')
  assert.match(d, /^\+- state the output format the user expects/m, 'a v2 rule added')
  assert.match(d, /^\+Write the user's query: goal, constraints/m, 'the rendered user message differs at its end')
  assert.doesNotMatch(d, /^[-+] {2}"/m, 'the schema is the same: no schema line changes')
  const same = promptsDiff('scoring', '2', 'v2')
  assert.match(same, /no difference/)
  assert.doesNotMatch(same, /\n@@/)
})

test('synthq prompts diff: a missing argument, unknown stage or version is a usage error naming what exists', () => {
  assert.throws(() => promptsDiff('instruction-generation', '1', undefined), (e: unknown) => e instanceof UsageError && /needs a stage and two versions/.test(e.message))
  assert.throws(() => promptsDiff('instructions', '1', '2'), (e: unknown) => e instanceof UsageError && /stages with prompts: .*instruction-generation/.test(e.message))
  assert.throws(() => promptsDiff('instruction-generation', '1', '3'), (e: unknown) => e instanceof UsageError && /versions: 1, 2; live: 1/.test(e.message))
})

test('--prompt-version stage=version (repeatable) is pipeline.prompts; a malformed one is a usage error', () => {
  assert.deepEqual(promptVersionArgs(['instruction-generation=2', 'scoring = v2']), { 'instruction-generation': '2', scoring: 'v2' })
  for (const bad of ['instruction-generation', '=2', 'instruction-generation=']) assert.throws(() => promptVersionArgs([bad]), UsageError, bad)
})
