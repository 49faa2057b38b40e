/**
 * Settings of the attributed-grounding pipeline, with the method's defaults. Each field says
 * where its default comes from; topologies pass the relevant part to each processor.
 */
import { join } from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import { readConfigDocument } from '../config/config-file.ts'
import { REPO_DATA } from '../data-paths.ts'
import { ConfigError } from '../errors.ts'
import { checkPromptSelection, normalizeVersion } from '../processors/prompts.ts'
import { DEFAULT_SINK_OPTIONS, type SinkOptions } from '../processors/sink/topic-balanced-sink.ts'

export interface PipelineOptions {
  /** Seed of every random choice (demonstration sampling); recorded in lineage. */
  seed: number
  demonstrations: {
    /** Demonstrations sampled per document (the method: 10). */
    k: number
    /**
     * Re-sample the set every M documents. M = 1 is the method's behaviour (a new set per
     * document); larger M keeps the long prompt prefix identical across M requests, so servers
     * with prefix caching (vLLM, SGLang) skip most of the prefill.
     */
    resampleEvery: number
    /** Tokens of each demonstration's document shown in the prompt. */
    excerptTokens: number
  }
  budget: {
    /** Documents are truncated to this many tokens (the method: 4096). */
    documentTokens: number
    /** The whole synthesis prompt stays under this (the method: 7500). */
    promptTokens: number
  }
  hygiene: {
    minChars: number
    maxChars: number
    /** Drop near duplicates (MinHash) as well as exact ones. */
    nearDuplicates: boolean
    nearDuplicateThreshold: number
  }
  /** JSONL files of benchmark prompts that seeds and synthesized instructions must not resemble. */
  decontamination: string[]
  /** Attribution: score the real instructions first and keep those with at least this total (the method kept 7/7); null = no gate. */
  seedGate: number | null
  /** The sink: filter, dedup, topics and the topic-balanced reservoir (see docs/sink.md). */
  sink: Omit<SinkOptions, 'seed'> & {
    /** Checkpoint the sink's state at least this often (ms) … */
    checkpointIntervalMs: number
    /** … and after at most this many records. */
    checkpointRecords: number
  }
  /** Responses to the sample's instructions and optional preference pairs (docs/pipeline.md#responses). */
  responses: ResponseOptions
  /**
   * The prompt version each stage sends, by stage (prompt id): `{ "instruction-generation": "2" }`.
   * A stage not named runs its live version (src/processors/prompts.ts; `synthq prompts`).
   */
  prompts: Record<string, string>
}

export interface ResponseOptions {
  /** The response stage (llm.stages.response); null = not chosen: off for `synthq run`, on for `npm start`. */
  enabled: boolean | null
  /** Show the responder the document that grounded the instruction (default false: the instruction alone). */
  showDocument: boolean
  /** Preference pairs: a second response (llm.stages.response-b) and the judge (llm.stages.judge); null as for enabled. */
  preferences: boolean | null
  /** How long a sample row missing from the sample table may be waited for before it counts as evicted (ms). */
  settleMs: number
}

export const DEFAULT_PIPELINE_OPTIONS: PipelineOptions = {
  seed: 20250604,
  demonstrations: { k: 10, resampleEvery: 50, excerptTokens: 256 },
  budget: { documentTokens: 4096, promptTokens: 7500 },
  hygiene: { minChars: 200, maxChars: 1_000_000, nearDuplicates: false, nearDuplicateThreshold: 0.8 },
  decontamination: [join(REPO_DATA, 'decontam', 'arena-hard-v0.1-questions.jsonl')],
  seedGate: null,
  sink: { ...(({ seed: _s, ...rest }) => rest)(DEFAULT_SINK_OPTIONS), checkpointIntervalMs: 5_000, checkpointRecords: 20_000 },
  responses: { enabled: null, showDocument: false, preferences: null, settleMs: 2_000 },
  prompts: {},
}

const PIPELINE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    seed: { type: 'integer' },
    demonstrations: {
      type: 'object', additionalProperties: false,
      properties: { k: { type: 'integer', minimum: 0 }, resampleEvery: { type: 'integer', minimum: 1 }, excerptTokens: { type: 'integer', minimum: 16 } },
    },
    budget: {
      type: 'object', additionalProperties: false,
      properties: { documentTokens: { type: 'integer', minimum: 64 }, promptTokens: { type: 'integer', minimum: 256 } },
    },
    hygiene: {
      type: 'object', additionalProperties: false,
      properties: { minChars: { type: 'integer', minimum: 0 }, maxChars: { type: 'integer', minimum: 1 }, nearDuplicates: { type: 'boolean' }, nearDuplicateThreshold: { type: 'number', exclusiveMinimum: 0, maximum: 1 } },
    },
    decontamination: { type: 'array', items: { type: 'string' } },
    seedGate: { anyOf: [{ type: 'integer', minimum: 0, maximum: 7 }, { type: 'null' }] },
    sink: {
      type: 'object', additionalProperties: false,
      properties: {
        k: { type: 'integer', minimum: 0 },
        policy: { enum: ['uniform', 'weighted', 'top'] },
        minScore: { type: 'integer', minimum: 0, maximum: 7 },
        vectors: { enum: ['auto', 'embeddings', 'lexical'] },
        topics: {
          type: 'object', additionalProperties: false,
          properties: { warmup: { type: 'integer', minimum: 0 }, maxTopics: { type: 'integer', minimum: 1 }, maxWarmupMs: { type: 'integer', minimum: 1 }, newTopicThreshold: { anyOf: [{ type: 'number', minimum: -1, maximum: 1 }, { const: 'auto' }] } },
        },
        dedup: {
          type: 'object', additionalProperties: false,
          properties: { capacity: { type: 'integer', minimum: 1 }, falsePositiveRate: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 0.5 } },
        },
        labelWords: { type: 'integer', minimum: 1 },
        diversityProbe: { type: 'integer', minimum: 0 },
        checkpointIntervalMs: { type: 'integer', minimum: 1 },
        checkpointRecords: { type: 'integer', minimum: 1 },
      },
    },
    responses: {
      type: 'object', additionalProperties: false,
      properties: { enabled: { type: ['boolean', 'null'] }, showDocument: { type: 'boolean' }, preferences: { type: ['boolean', 'null'] }, settleMs: { type: 'integer', minimum: 0 } },
    },
    // stage → version; YAML reads `instruction-generation: 2` as a number, so integers are accepted too.
    prompts: { type: 'object', additionalProperties: { type: ['string', 'integer'] } },
  },
} as const

// Compiled on first use: only a config file's pipeline: section needs it (compiling: ~30 ms of a start).
let compiled: ValidateFunction | undefined
const pipelineValidator = (): ValidateFunction => compiled ??= new Ajv({ allErrors: true }).compile(PIPELINE_SCHEMA)

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] }

/**
 * The `pipeline:` section of the config file (YAML or JSON) over the defaults; unknown keys and
 * wrong types are errors listed with their paths.
 *
 *   pipeline:
 *     demonstrations: { k: 10, resampleEvery: 1 }   # 1 = a fresh draw per document, as the method
 *     seedGate: 7
 *     hygiene: { nearDuplicates: true }
 *     prompts: { instruction-generation: "2" }     # a stage's prompt version (default: the live one)
 *
 * An unknown stage or version in `prompts` is a ConfigError naming the ones that exist.
 */
export function pipelineOptions (file?: string, overrides: DeepPartial<PipelineOptions> = {}): PipelineOptions {
  let raw: DeepPartial<PipelineOptions> = {}
  if (file) {
    const doc = readConfigDocument(file) as { pipeline?: unknown } | null
    const section = doc && typeof doc === 'object' ? doc.pipeline : undefined
    const validatePipeline = pipelineValidator()
    if (section !== undefined && !validatePipeline(section)) {
      throw new ConfigError(`config file ${file}: ${(validatePipeline.errors ?? []).map((e) => `pipeline${e.instancePath.replace(/\//g, '.')} ${e.keyword === 'additionalProperties' ? `has unknown setting "${(e.params as { additionalProperty: string }).additionalProperty}"` : e.message ?? 'is invalid'}`).join('; ')}`)
    }
    raw = (section ?? {}) as DeepPartial<PipelineOptions>
  }
  const d = DEFAULT_PIPELINE_OPTIONS
  const pick = <T extends object>(base: T, ...layers: Array<Partial<T> | undefined>): T => Object.assign({}, base, ...layers.map((l) => Object.fromEntries(Object.entries(l ?? {}).filter(([, v]) => v !== undefined))))
  return {
    seed: overrides.seed ?? raw.seed ?? d.seed,
    demonstrations: pick(d.demonstrations, raw.demonstrations, overrides.demonstrations),
    budget: pick(d.budget, raw.budget, overrides.budget),
    hygiene: pick(d.hygiene, raw.hygiene, overrides.hygiene),
    decontamination: overrides.decontamination ?? raw.decontamination ?? d.decontamination,
    seedGate: overrides.seedGate !== undefined ? overrides.seedGate : raw.seedGate !== undefined ? raw.seedGate : d.seedGate,
    sink: {
      ...pick(d.sink, raw.sink as Partial<PipelineOptions['sink']>, overrides.sink as Partial<PipelineOptions['sink']>),
      topics: pick(d.sink.topics, raw.sink?.topics, overrides.sink?.topics),
      dedup: pick(d.sink.dedup, raw.sink?.dedup, overrides.sink?.dedup),
    },
    responses: pick(d.responses, raw.responses, overrides.responses),
    prompts: promptSelection(file, { ...d.prompts, ...raw.prompts }, overrides.prompts),
  }
}

/**
 * `pipeline.prompts` with versions as strings ("v2" = "2"), the config file's entries under the
 * command line's, each stage and version checked against the registry (a bad one in the file
 * says so with the file's name).
 */
function promptSelection (file: string | undefined, fromFile: Record<string, string | number | undefined> = {}, overrides: Record<string, string | number | undefined> = {}): Record<string, string> {
  const normalized = (layer: Record<string, string | number | undefined>): Record<string, string> =>
    Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined).map(([stage, v]) => [stage, normalizeVersion(v!)]))
  const [f, o] = [normalized(fromFile), normalized(overrides)]
  try {
    checkPromptSelection(f)
  } catch (err) {
    if (err instanceof ConfigError && file) throw new ConfigError(`config file ${file}: pipeline.prompts: ${err.message}`, { cause: err, context: err.context })
    throw err
  }
  checkPromptSelection(o)
  return { ...f, ...o }
}
