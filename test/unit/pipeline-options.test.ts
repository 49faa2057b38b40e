import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.ts'
import { DEFAULT_PIPELINE_OPTIONS, pipelineOptions } from '../../src/topologies/options.ts'
import { testTmpDir } from '../helpers/env.ts'

test('pipeline options: defaults, then the config file, then overrides; typos are errors with paths', () => {
  assert.deepEqual(pipelineOptions(), DEFAULT_PIPELINE_OPTIONS)
  const dir = testTmpDir('pipeline-options')
  const file = join(dir, 'synthq.yaml')
  writeFileSync(file, 'pipeline:\n  demonstrations: { k: 4, resampleEvery: 1 }\n  seedGate: 7\n  hygiene: { nearDuplicates: true }\n')
  const o = pipelineOptions(file, { demonstrations: { resampleEvery: 5 } })
  assert.deepEqual(o.demonstrations, { k: 4, resampleEvery: 5, excerptTokens: 256 })
  assert.equal(o.seedGate, 7)
  assert.equal(o.hygiene.nearDuplicates, true)
  assert.equal(o.hygiene.minChars, 200)
  writeFileSync(file, 'pipeline:\n  demonstrations: { kk: 4 }\n  seedGate: 9\n')
  assert.throws(() => pipelineOptions(file), (e: unknown) => e instanceof ConfigError && /pipeline\.demonstrations has unknown setting "kk"/.test(e.message) && /pipeline\.seedGate/.test(e.message))
})
