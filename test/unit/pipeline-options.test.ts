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

test('pipeline.prompts selects a stage\'s prompt version ("v2", 2 and "2" alike); an unknown stage or version is a ConfigError naming what exists', () => {
  assert.deepEqual(pipelineOptions().prompts, {})
  const dir = testTmpDir('pipeline-options-prompts')
  const file = join(dir, 'synthq.yaml')
  writeFileSync(file, 'pipeline:\n  prompts: { instruction-generation: 2, scoring: v2 }\n')
  assert.deepEqual(pipelineOptions(file).prompts, { 'instruction-generation': '2', scoring: '2' })
  assert.deepEqual(pipelineOptions(file, { prompts: { 'instruction-generation': '1' } }).prompts, { 'instruction-generation': '1', scoring: '2' }, '--prompt-version over the file')
  writeFileSync(file, 'pipeline:\n  prompts: { instruction-generation: 7 }\n')
  assert.throws(() => pipelineOptions(file), (e: unknown) => e instanceof ConfigError && /pipeline\.prompts: stage instruction-generation has no prompt version "7" \(versions: 1, 2; live: 1\)/.test(e.message))
  writeFileSync(file, 'pipeline:\n  prompts: { instruction: 2 }\n')
  assert.throws(() => pipelineOptions(file), (e: unknown) => e instanceof ConfigError && /no prompt for stage "instruction" \(stages with prompts: concept-extraction, .*judge\)/.test(e.message))
  writeFileSync(file, 'pipeline:\n  prompts: { instruction-generation: [2] }\n')
  assert.throws(() => pipelineOptions(file), (e: unknown) => e instanceof ConfigError && /pipeline\.prompts\.instruction-generation must be string,integer/.test(e.message))
  assert.throws(() => pipelineOptions(undefined, { prompts: { judge: '2' } }), (e: unknown) => e instanceof ConfigError && /stage judge has no prompt version "2"/.test(e.message))
})
