import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { GENERATED, replaceBlock } from '../../scripts/update-docs.ts'
import { TOPICS, topicName } from '../../src/topics.ts'

test('generated parts of the docs match the code (run `npm run docs` to update)', () => {
  for (const g of GENERATED) {
    const text = readFileSync(join(REPO_ROOT, g.file), 'utf8')
    assert.equal(text, replaceBlock(text, g.block, g.render()), `${g.file}: block ${g.block} is stale`)
  }
})

test('the architecture doc names every topic and every schema file', () => {
  const text = readFileSync(join(REPO_ROOT, 'docs/architecture.md'), 'utf8')
  for (const t of TOPICS) {
    assert.ok(text.includes(topicName(t.name)), t.name)
    assert.ok(text.includes(t.schemaFile), t.schemaFile)
  }
})
