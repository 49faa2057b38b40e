/** `synthq describe <topology>` through the command line: the snapshot's text, and usage errors. */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

test('synthq describe <topology> prints its snapshot; an unknown topology is a usage error naming the known ones', () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
  const out = execFileSync(process.execPath, ['--import', 'tsx', cli, 'describe', 'synthesis'], { encoding: 'utf8' })
  assert.equal(out, readFileSync(fileURLToPath(new URL('../fixtures/describe/synthesis.txt', import.meta.url)), 'utf8'))
  assert.throws(() => execFileSync(process.execPath, ['--import', 'tsx', cli, 'describe', 'nope'], { encoding: 'utf8', stdio: 'pipe' }), (e: { status: number, stderr: string }) => {
    assert.equal(e.status, 2)
    assert.match(e.stderr, /known: .*synthesis/)
    return true
  })
})
