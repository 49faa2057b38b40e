/**
 * LLM settings: which endpoint and model each stage calls, with what parameters, under which
 * rate limits, prices and budget.
 *
 * The paper ran attribution on a 70B model and synthesis on an 8B one, so every stage may name
 * its own endpoint and model; what a stage leaves out comes from `llm.defaults`. Sources, later
 * overriding earlier: built-in defaults → config file (`--config`, YAML or JSON, the `llm:`
 * section) → environment. Everything is checked when the pipeline starts, and an error names the
 * stage and the setting to fix, never a key.
 *
 * ```yaml
 * llm:
 *   defaults: { endpoint: vllm, model: meta-llama/Llama-3.1-8B-Instruct, temperature: 0.7 }
 *   endpoints:
 *     vllm:   { baseUrl: http://gpu-1:8000/v1, noAuth: true, maxConcurrency: 256 }
 *     openai: { baseUrl: https://api.openai.com/v1, apiKeyEnv: OPENAI_API_KEY,
 *               requestsPerMinute: 500, tokensPerMinute: 200000 }
 *   stages:
 *     concept-extraction: { endpoint: openai, model: gpt-4o-mini, temperature: 0 }
 *   prices: { gpt-4o-mini: { input: 0.15, output: 0.60 } }   # USD per million tokens
 *   budget: { usd: 25 }
 * ```
 *
 * Environment (defaults for every stage; `SYNTHQ_LLM_<STAGE>_<SETTING>` for one stage, the
 * stage name upper-cased with `-` as `_`, e.g. SYNTHQ_LLM_CONCEPT_EXTRACTION_MODEL):
 *
 * | variable                         | meaning                                               |
 * |----------------------------------|-------------------------------------------------------|
 * | SYNTHQ_LLM_BASE_URL              | OpenAI-compatible base URL, e.g. http://host:8000/v1   |
 * | SYNTHQ_LLM_API_KEY[_FILE]        | its API key (else OPENAI_API_KEY)                      |
 * | SYNTHQ_LLM_NO_AUTH               | true: the endpoint needs no key (local servers)        |
 * | SYNTHQ_LLM_MODEL                 | model name                                             |
 * | SYNTHQ_LLM_TEMPERATURE           | sampling temperature                                   |
 * | SYNTHQ_LLM_MAX_TOKENS            | completion token limit                                 |
 * | SYNTHQ_LLM_TIMEOUT_MS            | per-request timeout                                    |
 * | SYNTHQ_LLM_CONTEXT_WINDOW        | the model's context in tokens, if the server says none |
 * | SYNTHQ_LLM_RPM / SYNTHQ_LLM_TPM  | requests / tokens per minute for the endpoint          |
 * | SYNTHQ_LLM_MAX_CONCURRENCY       | most requests in flight to the endpoint                |
 * | SYNTHQ_LLM_STRUCTURED_OUTPUTS    | auto (default) or a dialect (src/llm/dialects.ts)      |
 * | SYNTHQ_LLM_BUDGET_USD / _TOKENS  | spend at which the pipeline pauses                     |
 * | SYNTHQ_LLM_CACHE                 | false to turn the response cache off                   |
 */
import { readFileSync } from 'node:fs'
import { readConfigDocument } from '../config/config-file.ts'
import { Ajv, type ErrorObject } from 'ajv'
import { Secret, secretFromEnv } from '../config/secret.ts'
import { ConfigError } from '../errors.ts'
import { STRUCTURED_OUTPUT_MODES, type StructuredOutputMode } from './dialects.ts'

export type { StructuredOutputMode } from './dialects.ts'

export interface EndpointSettings {
  /** Name used in logs, metrics and lineage (`llm.endpoints` key, or `env`). */
  readonly name: string
  readonly baseUrl: string
  readonly apiKey?: Secret
  /** Where the key came from, for error messages (never the key itself). */
  readonly apiKeySource: string
  readonly noAuth: boolean
  readonly structuredOutputs: StructuredOutputMode
  readonly requestsPerMinute?: number
  readonly tokensPerMinute?: number
  /** Upper bound of the adaptive concurrency limit. */
  readonly maxConcurrency: number
  readonly initialConcurrency: number
  /** false: a fixed limit of maxConcurrency, no latency or 429 adaptation. */
  readonly adaptiveConcurrency: boolean
  /**
   * What the response cache knows the endpoint by (default its baseUrl). The built-in simulator
   * listens on a new port each run; a fixed identity lets a rerun find its answers.
   */
  readonly cacheIdentity?: string
}

export interface StageSettings {
  readonly stage: string
  readonly endpoint: EndpointSettings
  readonly model: string
  readonly temperature: number
  readonly maxTokens: number
  readonly timeoutMs: number
  /** Retries of transient failures (429, 5xx, resets, timeouts) per call. */
  readonly retries: number
  /** Extra calls with a repair message when the answer is not valid JSON of the right shape. */
  readonly repairAttempts: number
  readonly seed?: number
  /** The stage calls /v1/embeddings, not chat completions. */
  readonly embedding?: boolean
  /** The model's context window in tokens, when configured (else what the server reports, if it does). */
  readonly contextWindow?: number
}

export interface Price { readonly input: number, readonly output: number, readonly cachedInput?: number }

export interface LlmSettings {
  readonly stage: (name: string) => StageSettings
  readonly stageNames: readonly string[]
  readonly endpoints: ReadonlyMap<string, EndpointSettings>
  /** USD per million tokens, by model name. */
  readonly prices: ReadonlyMap<string, Price>
  readonly budget: { readonly usd?: number, readonly tokens?: number }
  readonly cache: { readonly enabled: boolean, readonly path?: string }
}

interface RawStage {
  endpoint?: string, model?: string, temperature?: number, maxTokens?: number, timeoutMs?: number,
  retries?: number, repairAttempts?: number, seed?: number, contextWindow?: number,
}
interface RawEndpoint {
  baseUrl: string, apiKeyEnv?: string, apiKeyFile?: string, noAuth?: boolean, structuredOutputs?: StructuredOutputMode,
  requestsPerMinute?: number, tokensPerMinute?: number, maxConcurrency?: number, initialConcurrency?: number, adaptiveConcurrency?: boolean,
}
export interface RawLlmConfig {
  defaults?: RawStage
  endpoints?: Record<string, RawEndpoint>
  stages?: Record<string, RawStage>
  prices?: Record<string, Price>
  budget?: { usd?: number, tokens?: number }
  cache?: { enabled?: boolean, path?: string }
}

const positive = { type: 'number', exclusiveMinimum: 0 }
const count = { type: 'integer', minimum: 0 }
const stageSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: { type: 'string', minLength: 1 },
    model: { type: 'string', minLength: 1 },
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    maxTokens: { type: 'integer', minimum: 1 },
    timeoutMs: { type: 'integer', minimum: 1 },
    retries: count,
    repairAttempts: count,
    seed: { type: 'integer' },
    contextWindow: { type: 'integer', minimum: 256 },
  },
}
/** The `llm:` section of the config file; unknown keys are errors, so typos do not pass silently. */
const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    defaults: stageSchema,
    endpoints: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['baseUrl'],
        properties: {
          baseUrl: { type: 'string', pattern: '^https?://' },
          apiKeyEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
          apiKeyFile: { type: 'string' },
          noAuth: { type: 'boolean' },
          structuredOutputs: { enum: STRUCTURED_OUTPUT_MODES },
          requestsPerMinute: positive,
          tokensPerMinute: positive,
          maxConcurrency: { type: 'integer', minimum: 1 },
          initialConcurrency: { type: 'integer', minimum: 1 },
          adaptiveConcurrency: { type: 'boolean' },
        },
      },
    },
    stages: { type: 'object', additionalProperties: stageSchema },
    prices: {
      type: 'object',
      additionalProperties: {
        type: 'object', additionalProperties: false, required: ['input', 'output'],
        properties: { input: { type: 'number', minimum: 0 }, output: { type: 'number', minimum: 0 }, cachedInput: { type: 'number', minimum: 0 } },
      },
    },
    budget: { type: 'object', additionalProperties: false, properties: { usd: positive, tokens: positive } },
    cache: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' }, path: { type: 'string' } } },
  },
} as const

const validateRaw = new Ajv({ allErrors: true }).compile<RawLlmConfig>(CONFIG_SCHEMA)

function describeAjvError (e: ErrorObject): string {
  const where = `llm${e.instancePath.replace(/\//g, '.')}`
  if (e.keyword === 'additionalProperties') return `${where}: unknown setting "${(e.params as { additionalProperty: string }).additionalProperty}"`
  return `${where} ${e.message ?? 'is invalid'}`
}

/** Checks a parsed `llm:` section; every problem is listed, with its path. */
export function checkRawConfig (raw: unknown, source: string): RawLlmConfig {
  if (raw === undefined || raw === null) return {}
  if (!validateRaw(raw)) {
    const problems = (validateRaw.errors ?? []).map(describeAjvError)
    throw new ConfigError(`${source}: ${problems.join('; ')}`, { context: { source } })
  }
  return raw
}

/** Reads the `llm:` section of a YAML or JSON config file (the whole file may be just that section's parent). */
export function readLlmConfigFile (path: string): RawLlmConfig {
  const doc = readConfigDocument(path)
  const llm = doc && typeof doc === 'object' ? (doc as { llm?: unknown }).llm : undefined
  return checkRawConfig(llm, `config file ${path}`)
}

/** On the simulator, stages whose default model is not sim-chat-8b: the second responder is the larger model, so pairs differ. */
export const SIM_STAGE_MODELS: Readonly<Record<string, string>> = { 'response-b': 'sim-chat-70b' }

export const BUILTIN_DEFAULTS = {
  temperature: 0.7,
  maxTokens: 2048,
  timeoutMs: 120_000,
  retries: 5,
  repairAttempts: 3,
  maxConcurrency: 256,
  initialConcurrency: 64,
} as const

function envKey (stage: string, setting: string): string {
  return `SYNTHQ_LLM_${stage.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${setting}`
}

function envNumber (env: NodeJS.ProcessEnv, name: string, kind: 'int' | 'number', min: number): number | undefined {
  const v = env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || (kind === 'int' && !Number.isInteger(n))) {
    throw new ConfigError(`${name} must be ${kind === 'int' ? 'an integer' : 'a number'} ≥ ${min}, got "${v}"`)
  }
  return n
}

function envBool (env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]
  if (v === undefined || v === '') return undefined
  if (/^(1|true|yes|on)$/i.test(v)) return true
  if (/^(0|false|no|off)$/i.test(v)) return false
  throw new ConfigError(`${name} must be true or false, got "${v}"`)
}

function stageFromEnv (env: NodeJS.ProcessEnv, key: (setting: string) => string): RawStage {
  const out: RawStage = {}
  const model = env[key('MODEL')]
  if (model) out.model = model
  const t = envNumber(env, key('TEMPERATURE'), 'number', 0)
  if (t !== undefined) out.temperature = t
  const mt = envNumber(env, key('MAX_TOKENS'), 'int', 1)
  if (mt !== undefined) out.maxTokens = mt
  const to = envNumber(env, key('TIMEOUT_MS'), 'int', 1)
  if (to !== undefined) out.timeoutMs = to
  const r = envNumber(env, key('RETRIES'), 'int', 0)
  if (r !== undefined) out.retries = r
  const cw = envNumber(env, key('CONTEXT_WINDOW'), 'int', 256)
  if (cw !== undefined) out.contextWindow = cw
  return out
}

function defined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/**
 * The environment's endpoint: SYNTHQ_LLM_BASE_URL (or SYNTHQ_LLM_<STAGE>_BASE_URL) with
 * SYNTHQ_LLM_API_KEY / OPENAI_API_KEY.
 */
function envEndpoint (env: NodeJS.ProcessEnv, baseUrlVar: string, keyVar: string, name: string): EndpointSettings | undefined {
  const baseUrl = env[baseUrlVar]
  if (!baseUrl) return undefined
  if (!/^https?:\/\//.test(baseUrl)) throw new ConfigError(`${baseUrlVar} must be an http(s) URL, got "${baseUrl}"`)
  const noAuth = envBool(env, 'SYNTHQ_LLM_NO_AUTH') ?? false
  let apiKey = secretFromEnv(keyVar, env)
  let apiKeySource = keyVar
  if (!apiKey && keyVar !== 'SYNTHQ_LLM_API_KEY') apiKey = secretFromEnv('SYNTHQ_LLM_API_KEY', env)
  if (!apiKey && env.OPENAI_API_KEY) {
    apiKey = new Secret(env.OPENAI_API_KEY)
    apiKeySource = 'OPENAI_API_KEY'
  }
  const mode = env.SYNTHQ_LLM_STRUCTURED_OUTPUTS
  if (mode !== undefined && !(STRUCTURED_OUTPUT_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`SYNTHQ_LLM_STRUCTURED_OUTPUTS must be one of ${STRUCTURED_OUTPUT_MODES.join(', ')}, got "${mode}"`)
  }
  return {
    name,
    baseUrl: baseUrl.replace(/\/+$/, ''),
    ...(apiKey ? { apiKey } : {}),
    apiKeySource,
    noAuth,
    structuredOutputs: (mode as StructuredOutputMode | undefined) ?? 'auto',
    ...defined({ requestsPerMinute: envNumber(env, 'SYNTHQ_LLM_RPM', 'number', 0.001), tokensPerMinute: envNumber(env, 'SYNTHQ_LLM_TPM', 'number', 1) }),
    maxConcurrency: envNumber(env, 'SYNTHQ_LLM_MAX_CONCURRENCY', 'int', 1) ?? BUILTIN_DEFAULTS.maxConcurrency,
    initialConcurrency: BUILTIN_DEFAULTS.initialConcurrency,
    adaptiveConcurrency: envBool(env, 'SYNTHQ_LLM_ADAPTIVE_CONCURRENCY') ?? true,
  }
}

function fileEndpoint (name: string, raw: RawEndpoint, env: NodeJS.ProcessEnv): EndpointSettings {
  let apiKey: Secret | undefined
  let apiKeySource = `llm.endpoints.${name}.apiKeyEnv`
  if (raw.apiKeyEnv && raw.apiKeyFile) throw new ConfigError(`llm.endpoints.${name}: set apiKeyEnv or apiKeyFile, not both`)
  if (raw.apiKeyEnv) {
    apiKey = secretFromEnv(raw.apiKeyEnv, env)
    apiKeySource = `${raw.apiKeyEnv} (llm.endpoints.${name}.apiKeyEnv)`
  } else if (raw.apiKeyFile) {
    try {
      apiKey = new Secret(readFileSync(raw.apiKeyFile, 'utf8').trim())
    } catch (err) {
      throw new ConfigError(`llm.endpoints.${name}.apiKeyFile ${raw.apiKeyFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    apiKeySource = `llm.endpoints.${name}.apiKeyFile`
  }
  const maxConcurrency = raw.maxConcurrency ?? BUILTIN_DEFAULTS.maxConcurrency
  return {
    name,
    baseUrl: raw.baseUrl.replace(/\/+$/, ''),
    ...(apiKey ? { apiKey } : {}),
    apiKeySource,
    noAuth: raw.noAuth ?? false,
    structuredOutputs: raw.structuredOutputs ?? 'auto',
    ...defined({ requestsPerMinute: raw.requestsPerMinute, tokensPerMinute: raw.tokensPerMinute }),
    maxConcurrency,
    initialConcurrency: Math.min(raw.initialConcurrency ?? BUILTIN_DEFAULTS.initialConcurrency, maxConcurrency),
    adaptiveConcurrency: raw.adaptiveConcurrency ?? true,
  }
}

export interface ResolveOptions {
  /** The stages the topology runs that call an LLM; config for any other stage is an error. */
  stages: readonly string[]
  file?: RawLlmConfig
  env?: NodeJS.ProcessEnv
  /** An endpoint to use when nothing is configured (the built-in simulator for `synthq start`). */
  fallbackEndpoint?: EndpointSettings
  fallbackModel?: string
  /**
   * Per stage, a model to use on the fallback endpoint instead of `fallbackModel` (the simulator's
   * second responder, `response-b`, is its larger model, so a preference pair holds two answers).
   */
  fallbackStageModels?: Readonly<Record<string, string>>
  /**
   * Stages that call /v1/embeddings (the sink). The default chat model does not apply to them:
   * their model comes from their own settings (llm.stages.<stage>.model or
   * SYNTHQ_LLM_<STAGE>_MODEL) or `fallbackEmbeddingModel` on the fallback endpoint. One without
   * a model gets no settings, and its processor falls back (the sink to lexical vectors).
   */
  embeddingStages?: readonly string[]
  fallbackEmbeddingModel?: string
}

/**
 * Resolves and checks the settings of every LLM stage. Throws a ConfigError naming the stage and
 * the setting for: an unknown stage or endpoint, no endpoint, no model, no key where one is needed.
 */
export function resolveLlmSettings (opts: ResolveOptions): LlmSettings {
  const env = opts.env ?? process.env
  const raw = opts.file ?? {}
  const endpoints = new Map<string, EndpointSettings>()
  for (const [name, e] of Object.entries(raw.endpoints ?? {})) endpoints.set(name, fileEndpoint(name, e, env))
  const envDefault = envEndpoint(env, 'SYNTHQ_LLM_BASE_URL', 'SYNTHQ_LLM_API_KEY', 'env')
  if (envDefault) endpoints.set('env', envDefault)

  for (const [name, st] of Object.entries(raw.stages ?? {})) {
    if (!opts.stages.includes(name)) throw new ConfigError(`llm.stages.${name}: no such LLM stage in this topology (stages: ${opts.stages.join(', ')})`)
    if (st.endpoint && !endpoints.has(st.endpoint)) {
      throw new ConfigError(`stage ${name}: llm.stages.${name}.endpoint names "${st.endpoint}", which is not in llm.endpoints (known: ${[...endpoints.keys()].join(', ') || 'none'})`)
    }
  }
  const defaults: RawStage = { ...raw.defaults, ...stageFromEnv(env, (s) => `SYNTHQ_LLM_${s}`) }
  const resolved = new Map<string, StageSettings>()
  for (const stage of opts.stages) {
    const fromFile = raw.stages?.[stage] ?? {}
    const fromEnv = stageFromEnv(env, (s) => envKey(stage, s))
    const merged: RawStage = { ...defaults, ...fromFile, ...fromEnv }
    const stageEnvEndpoint = envEndpoint(env, envKey(stage, 'BASE_URL'), envKey(stage, 'API_KEY'), `env-${stage}`)
    let endpoint: EndpointSettings | undefined
    if (stageEnvEndpoint) {
      endpoint = stageEnvEndpoint
      endpoints.set(endpoint.name, endpoint)
    } else if (fromFile.endpoint) {
      endpoint = endpoints.get(fromFile.endpoint)
      if (!endpoint) throw new ConfigError(`stage ${stage}: llm.stages.${stage}.endpoint names "${fromFile.endpoint}", which is not in llm.endpoints (known: ${[...endpoints.keys()].join(', ') || 'none'})`)
    } else if (envDefault) {
      endpoint = envDefault
    } else if (raw.defaults?.endpoint) {
      endpoint = endpoints.get(raw.defaults.endpoint)
      if (!endpoint) throw new ConfigError(`llm.defaults.endpoint names "${raw.defaults.endpoint}", which is not in llm.endpoints (known: ${[...endpoints.keys()].join(', ') || 'none'})`)
    } else if (endpoints.size === 1) {
      endpoint = [...endpoints.values()][0]
    } else {
      endpoint = opts.fallbackEndpoint
    }
    if (!endpoint && opts.embeddingStages?.includes(stage)) continue
    if (!endpoint) {
      throw new ConfigError(`stage ${stage}: no LLM endpoint configured. Set SYNTHQ_LLM_BASE_URL (e.g. http://localhost:8000/v1), or llm.endpoints and llm.defaults.endpoint in the config file, or run with --llm sim for the built-in simulator`)
    }
    if (opts.fallbackEndpoint && endpoint === opts.fallbackEndpoint) endpoints.set(endpoint.name, endpoint)
    if (!endpoint.apiKey && !endpoint.noAuth) {
      throw new ConfigError(`stage ${stage}: endpoint ${endpoint.name} (${endpoint.baseUrl}) has no API key. Set ${endpoint.name.startsWith('env') ? 'SYNTHQ_LLM_API_KEY (or OPENAI_API_KEY)' : `the variable named by llm.endpoints.${endpoint.name}.apiKeyEnv`}, or mark the endpoint noAuth (SYNTHQ_LLM_NO_AUTH=true) if it needs none`)
    }
    const embedding = opts.embeddingStages?.includes(stage) ?? false
    const model = embedding
      ? (fromFile.model ?? fromEnv.model ?? (endpoint === opts.fallbackEndpoint ? opts.fallbackEmbeddingModel : undefined))
      : (merged.model ?? (endpoint === opts.fallbackEndpoint ? (opts.fallbackStageModels?.[stage] ?? opts.fallbackModel) : undefined))
    if (!model && embedding) continue
    if (!model) throw new ConfigError(`stage ${stage}: no model configured. Set SYNTHQ_LLM_MODEL, ${envKey(stage, 'MODEL')} or llm.stages.${stage}.model / llm.defaults.model`)
    if (merged.temperature !== undefined && merged.temperature > 2) throw new ConfigError(`stage ${stage}: temperature must be between 0 and 2, got ${merged.temperature}`)
    resolved.set(stage, {
      stage,
      endpoint,
      model,
      temperature: merged.temperature ?? BUILTIN_DEFAULTS.temperature,
      maxTokens: merged.maxTokens ?? BUILTIN_DEFAULTS.maxTokens,
      timeoutMs: merged.timeoutMs ?? BUILTIN_DEFAULTS.timeoutMs,
      retries: merged.retries ?? BUILTIN_DEFAULTS.retries,
      repairAttempts: merged.repairAttempts ?? BUILTIN_DEFAULTS.repairAttempts,
      ...(merged.seed !== undefined ? { seed: merged.seed } : {}),
      ...(embedding ? { embedding: true } : {}),
      ...(merged.contextWindow !== undefined ? { contextWindow: merged.contextWindow } : {}),
    })
  }

  const budget = defined({
    usd: envNumber(env, 'SYNTHQ_LLM_BUDGET_USD', 'number', 0) ?? raw.budget?.usd,
    tokens: envNumber(env, 'SYNTHQ_LLM_BUDGET_TOKENS', 'int', 0) ?? raw.budget?.tokens,
  })
  const cacheEnabled = envBool(env, 'SYNTHQ_LLM_CACHE') ?? raw.cache?.enabled ?? true
  return {
    stage: (name) => {
      const s = resolved.get(name)
      if (!s) throw new ConfigError(`no LLM settings for stage ${name} (stages: ${[...resolved.keys()].join(', ')})`)
      return s
    },
    stageNames: [...resolved.keys()],
    endpoints,
    prices: new Map(Object.entries(raw.prices ?? {})),
    budget,
    cache: { enabled: cacheEnabled, ...(raw.cache?.path ? { path: raw.cache.path } : {}) },
  }
}
