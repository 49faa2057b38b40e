import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { inspect } from 'node:util'
import { ConfigError } from '../../src/errors.ts'
import { BUILTIN_DEFAULTS, checkRawConfig, readLlmConfigFile, resolveLlmSettings } from '../../src/llm/config.ts'
import { testTmpDir } from '../helpers/env.ts'

const STAGES = ['concept-extraction', 'scoring']

function configError (fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`)
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`)
    return true
  })
}

test('environment alone configures every stage; per-stage variables override the defaults', () => {
  const s = resolveLlmSettings({
    stages: STAGES,
    env: {
      SYNTHQ_LLM_BASE_URL: 'http://gpu:8000/v1/', SYNTHQ_LLM_API_KEY: 'sk-env-secret', SYNTHQ_LLM_MODEL: 'llama-8b',
      SYNTHQ_LLM_SCORING_MODEL: 'llama-70b', SYNTHQ_LLM_SCORING_TEMPERATURE: '0', SYNTHQ_LLM_RPM: '600',
    },
  })
  const concept = s.stage('concept-extraction')
  const scoring = s.stage('scoring')
  assert.equal(concept.model, 'llama-8b')
  assert.equal(concept.temperature, 0.7)
  assert.equal(scoring.model, 'llama-70b')
  assert.equal(scoring.temperature, 0)
  assert.equal(concept.endpoint.baseUrl, 'http://gpu:8000/v1', 'trailing slash trimmed')
  assert.equal(concept.endpoint, scoring.endpoint, 'one endpoint object: its limits are shared')
  assert.equal(concept.endpoint.requestsPerMinute, 600)
  assert.equal(concept.endpoint.apiKey?.reveal(), 'sk-env-secret')
  assert.ok(!inspect(s.stage('scoring')).includes('sk-env-secret'), 'settings print without the key')
  assert.ok(!JSON.stringify(concept).includes('sk-env-secret'))
})

test('config file: named endpoints, per-stage choice, env overrides file', () => {
  const dir = testTmpDir('llm-config')
  const file = join(dir, 'synthq.yaml')
  writeFileSync(file, `
llm:
  defaults: { endpoint: small, model: llama-8b, maxTokens: 1024 }
  endpoints:
    small: { baseUrl: "http://a:8000/v1", noAuth: true, maxConcurrency: 64 }
    big: { baseUrl: "https://api.example.com/v1", apiKeyEnv: BIG_KEY, requestsPerMinute: 500, tokensPerMinute: 200000 }
  stages:
    scoring: { endpoint: big, model: gpt-4o-mini, temperature: 0 }
  prices: { gpt-4o-mini: { input: 0.15, output: 0.6 } }
  budget: { usd: 25 }
`)
  const s = resolveLlmSettings({ stages: STAGES, file: readLlmConfigFile(file), env: { BIG_KEY: 'sk-big', SYNTHQ_LLM_CONCEPT_EXTRACTION_MAX_TOKENS: '256' } })
  assert.equal(s.stage('concept-extraction').endpoint.name, 'small')
  assert.equal(s.stage('concept-extraction').maxTokens, 256)
  assert.equal(s.stage('scoring').endpoint.name, 'big')
  assert.equal(s.stage('scoring').maxTokens, 1024, 'defaults fill what a stage leaves out')
  assert.equal(s.stage('scoring').endpoint.tokensPerMinute, 200000)
  assert.equal(s.stage('concept-extraction').endpoint.initialConcurrency, BUILTIN_DEFAULTS.initialConcurrency, 'the built-in start')
  assert.deepEqual(s.prices.get('gpt-4o-mini'), { input: 0.15, output: 0.6 })
  assert.deepEqual(s.budget, { usd: 25 })
})

test('errors name the stage and the setting to fix', () => {
  configError(() => resolveLlmSettings({ stages: STAGES, env: {} }), 'stage concept-extraction', 'SYNTHQ_LLM_BASE_URL', '--llm sim')
  configError(() => resolveLlmSettings({ stages: STAGES, env: { SYNTHQ_LLM_BASE_URL: 'http://x/v1', SYNTHQ_LLM_MODEL: 'm' } }), 'no API key', 'SYNTHQ_LLM_API_KEY', 'SYNTHQ_LLM_NO_AUTH')
  configError(() => resolveLlmSettings({ stages: STAGES, env: { SYNTHQ_LLM_BASE_URL: 'http://x/v1', SYNTHQ_LLM_NO_AUTH: 'true' } }), 'stage concept-extraction', 'no model', 'SYNTHQ_LLM_CONCEPT_EXTRACTION_MODEL')
  configError(() => resolveLlmSettings({ stages: STAGES, env: { SYNTHQ_LLM_BASE_URL: 'x:8000' } }), 'SYNTHQ_LLM_BASE_URL must be an http(s) URL')
  configError(() => resolveLlmSettings({ stages: STAGES, env: { SYNTHQ_LLM_BASE_URL: 'http://x/v1', SYNTHQ_LLM_NO_AUTH: '1', SYNTHQ_LLM_MODEL: 'm', SYNTHQ_LLM_SCORING_TEMPERATURE: 'hot' } }), 'SYNTHQ_LLM_SCORING_TEMPERATURE')
  configError(() => resolveLlmSettings({ stages: STAGES, file: { stages: { scoring: { endpoint: 'nope' } } }, env: {} }), 'stage scoring', 'llm.stages.scoring.endpoint', '"nope"')
  configError(() => resolveLlmSettings({ stages: STAGES, file: { stages: { 'scorin': {} } }, env: {} }), 'llm.stages.scorin', 'no such LLM stage')
  configError(() => resolveLlmSettings({ stages: STAGES, file: { endpoints: { e: { baseUrl: 'http://e/v1', apiKeyEnv: 'MISSING_KEY' } }, defaults: { model: 'm' } }, env: {} }), 'stage concept-extraction', 'llm.endpoints.e.apiKeyEnv')
})

test('the config file is checked against its schema: unknown keys and wrong types are listed with paths', () => {
  configError(() => checkRawConfig({ endpoints: { a: { baseUrl: 'http://a', maxConcurency: 5 } }, defaults: { temperature: 'warm' } }, 'config file x.yaml'),
    'x.yaml', 'llm.endpoints.a: unknown setting "maxConcurency"', 'llm.defaults.temperature must be number')
  configError(() => checkRawConfig({ endpoints: { a: { baseUrl: 'ftp://a' } } }, 'f'), 'llm.endpoints.a.baseUrl')
  const dir = testTmpDir('llm-config-bad')
  writeFileSync(join(dir, 'bad.yaml'), 'llm: [unclosed')
  configError(() => readLlmConfigFile(join(dir, 'bad.yaml')), 'bad.yaml', 'not valid YAML or JSON')
  configError(() => readLlmConfigFile(join(dir, 'missing.yaml')), 'missing.yaml', 'ENOENT')
})

test('a fallback endpoint (the built-in simulator) serves stages nothing else configures', () => {
  const sim = { name: 'sim', baseUrl: 'http://127.0.0.1:1/v1', apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema' as const, maxConcurrency: 64, initialConcurrency: 16, adaptiveConcurrency: true }
  const s = resolveLlmSettings({ stages: STAGES, env: {}, fallbackEndpoint: sim, fallbackModel: 'sim-chat-8b' })
  assert.equal(s.stage('scoring').model, 'sim-chat-8b')
  assert.equal(s.endpoints.get('sim'), sim)
})
