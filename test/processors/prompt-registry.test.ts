/**
 * The prompt registry (src/processors/prompts.ts): one file per version, the live versions
 * render exactly what the prompts sent before they moved there (renderings.json was written
 * from the old prompt modules, before the move: a changed byte would change cache keys and
 * lineage's meaning), a selection picks a version and shows in lineage, and the simulator
 * answers the alternative version as it does the live one.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { ConfigError } from '../../src/errors.ts'
import { answerJson } from '../../src/llm/sim/answer.ts'
import { AnswerMemory } from '../../src/llm/sim/chat.ts'
import { instructionGeneration, type SituationRecord } from '../../src/processors/instruction/instruction-generation.ts'
import { INSTRUCTION_PROMPT } from '../../src/processors/instruction/prompt.ts'
import type { Prompt } from '../../src/processors/prompt.ts'
import { checkPromptSelection, listPrompts, PROMPT_REGISTRY, PROMPT_STAGES, promptFor, promptHash, promptVersion } from '../../src/processors/prompts.ts'
import { MockProcessorContext, ScriptedLlm } from '../../src/processors/testing/index.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import { synthesisTopology } from '../../src/topologies/synthesis.ts'
import { PROMPT_FIXTURE_INPUTS } from '../fixtures/prompts/inputs.ts'
import { SAMPLES } from '../fixtures/records.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const REGISTRY_SOURCE = readFileSync(`${ROOT}src/processors/prompts.ts`, 'utf8')
const BEFORE = JSON.parse(readFileSync(new URL('../fixtures/prompts/renderings.json', import.meta.url), 'utf8')) as Record<string, { id: string, version: string, system: string, schema: object, renderings: unknown[] }>

test('every live prompt renders byte for byte what it rendered before prompts moved to one file per version', () => {
  assert.deepEqual(Object.keys(BEFORE).sort(), [...PROMPT_STAGES].sort(), 'the same prompts, no more, no fewer')
  for (const stage of PROMPT_STAGES) {
    const live = promptFor(stage) as Prompt<unknown>
    const was = BEFORE[stage]!
    assert.equal(live.id, was.id, stage)
    assert.equal(live.version, was.version, `${stage}: the live version is the one in the cache keys and lineage`)
    assert.equal(live.system, was.system, `${stage}: system text`)
    // Compared as serialised: key order is part of the request body.
    assert.equal(JSON.stringify(live.schema), JSON.stringify(was.schema), `${stage}: schema`)
    const inputs = PROMPT_FIXTURE_INPUTS[stage]!
    assert.equal(JSON.stringify(inputs.map((i) => live.messages(i))), JSON.stringify(was.renderings), `${stage}: messages`)
  }
})

test('the registry: every version lives in the file it names, under its own id and version; exactly one live per stage', () => {
  for (const stage of PROMPT_STAGES) {
    const entry = PROMPT_REGISTRY[stage]
    assert.ok(Object.hasOwn(entry.versions, entry.live), `${stage}: its live version is registered`)
    for (const [version, v] of Object.entries(entry.versions)) {
      assert.equal(v.prompt.id, stage, `${stage} v${version}: id`)
      assert.equal(v.prompt.version, version, `${stage} v${version}: the registry key is the prompt's version`)
      assert.ok(existsSync(`${ROOT}${v.file}`), v.file)
      assert.match(v.file, new RegExp(`/prompts/${stage}\\.v${version}\\.ts$`), 'one file per version, named after it')
      // The file declares this id and version, and the registry imports the prompt from it.
      const source = readFileSync(`${ROOT}${v.file}`, 'utf8')
      assert.ok(source.includes(`id: '${stage}'`) && source.includes(`version: '${version}'`), `${v.file} declares ${stage} v${version}`)
      assert.ok(REGISTRY_SOURCE.includes(`from './${v.file.replace('src/processors/', '')}'`), `the registry imports ${v.file}`)
    }
  }
  const listed = listPrompts()
  assert.deepEqual(listed.filter((p) => p.live).map((p) => p.stage), [...PROMPT_STAGES])
  assert.ok(listed.every((p) => /^[0-9a-f]{12}$/.test(p.hash)))
  assert.equal(new Set(listed.map((p) => p.hash)).size, listed.length, 'every version sends something different')
})

test('instruction-generation v2: another wording, the same schema; the old prompt module still names v1', () => {
  const v1 = promptVersion('instruction-generation', '1').prompt
  const v2 = promptVersion('instruction-generation', 'v2').prompt
  assert.equal(v2.version, '2')
  assert.deepEqual(v2.schema, v1.schema, 'its queries flow through the same topic')
  assert.notEqual(v2.system, v1.system)
  assert.notEqual(promptHash('instruction-generation', v2), promptHash('instruction-generation', v1))
  assert.equal(INSTRUCTION_PROMPT, v1, 'the live version stays what prompt.ts exports')
  assert.equal(promptFor('instruction-generation', { 'instruction-generation': '2' }), v2)
  assert.equal(promptFor('instruction-generation', { scoring: '2' }), v1, 'other stages\' choices do not apply')
})

test('an unknown stage or version is a ConfigError naming what exists', () => {
  assert.throws(() => checkPromptSelection({ 'instruction-generation': '9' }), (e: unknown) => e instanceof ConfigError && /no prompt version "9"/.test(e.message) && /versions: 1, 2; live: 1/.test(e.message))
  assert.throws(() => checkPromptSelection({ instructions: '2' }), (e: unknown) => e instanceof ConfigError && /no prompt for stage "instructions"/.test(e.message) && /instruction-generation/.test(e.message) && /scoring/.test(e.message))
  assert.throws(() => checkPromptSelection({ constructor: '1' }), ConfigError, 'not an inherited property')
  checkPromptSelection({ 'instruction-generation': 'v2', scoring: '2' })
})

const SITUATION = SAMPLES.situations as unknown as SituationRecord

test('instruction-generation on v2 sends v2 and records id and version 2 in lineage', async () => {
  const llm = new ScriptedLlm().answer('instruction-generation', { query: 'I plan wheels for a cargo bike; given 20-inch wheels punctured after 10 km, propose a redesign as a table.' })
  const ctx = new MockProcessorContext({ stage: 'instruction-generation', llm, outputs: ['synthesizedInstructions'], tables: { demonstrations: {} } })
  const p = instructionGeneration({ excerptTokens: 64, tokenizer: 'approx', prompt: promptFor('instruction-generation', { 'instruction-generation': '2' }) })
  await ctx.init(p)
  await ctx.process(p, ctx.input('situations', SITUATION))
  const [out] = ctx.forwarded<{ lineage: { prompt: unknown } }>('synthesizedInstructions')
  assert.deepEqual(out!.value.lineage.prompt, { id: 'instruction-generation', version: '2' })
  assert.equal(llm.calls[0]!.messages[0]!.content, promptVersion('instruction-generation', '2').prompt.system)
})

test('the topology hands each stage the version pipeline.prompts selects, the live one otherwise', async () => {
  const stageOf = (prompts: Record<string, string>) => synthesisTopology({ options: { ...DEFAULT_PIPELINE_OPTIONS, prompts } }).stages.find((s) => s.name === 'instruction-generation')!
  for (const [prompts, version] of [[{}, '1'], [{ 'instruction-generation': '2' }, '2']] as const) {
    const llm = new ScriptedLlm().answer('instruction-generation', { query: 'Given 20-inch wheels punctured after 10 km, propose a redesign.' })
    const ctx = new MockProcessorContext({ stage: 'instruction-generation', llm, tables: { demonstrations: {} } })
    const p = stageOf(prompts).processor()
    await ctx.init(p)
    await ctx.process(p, ctx.input('situations', SITUATION))
    assert.deepEqual((ctx.forwarded()[0]!.value as { lineage: { prompt: unknown } }).lineage.prompt, { id: 'instruction-generation', version })
  }
})

test('the simulator answers v2 as it answers v1: from the new document, valid against the shared schema', () => {
  const input = PROMPT_FIXTURE_INPUTS['instruction-generation']![1] as unknown as Parameters<typeof INSTRUCTION_PROMPT.messages>[0]
  const validate = new Ajv().compile(INSTRUCTION_PROMPT.schema)
  const memory = new AnswerMemory()
  const origins = ['1', '2'].map((v) => memory.origin(promptVersion('instruction-generation', v).prompt.messages(input) as Parameters<AnswerMemory['origin']>[0]))
  assert.equal(origins[1]!.text, origins[0]!.text, 'the subject is the new document, not the examples or the closing line')
  assert.match(origins[1]!.text, /def add/)
  const answer = answerJson(INSTRUCTION_PROMPT.schema as Record<string, unknown>, origins[1]!) as { query: string }
  assert.ok(validate(answer), JSON.stringify(validate.errors))
})
