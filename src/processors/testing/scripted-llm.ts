/**
 * A scripted LLM for tests: answers are declared per prompt id (optionally per stage), so a
 * processor's unit test — or a whole topology on the embedded runner — runs with exact, known
 * answers and no server.
 *
 *   const llm = new ScriptedLlm()
 *     .answer('concept-extraction', { intention: 'learn X', keywords: ['x'] })
 *     .answer('scoring', (req) => allCriteria(req.text.includes('step') ? 1 : 0))
 *
 * It is an {@link LlmClient} whose calls are answered from the script, so `stage(name)` returns
 * the real {@link StageLlm} a processor gets from `ctx.llm()`, and runners take it as their
 * `llm` option unchanged. Like the real client it validates every answer against the prompt's
 * JSON schema and `check` (an answer the script got wrong fails as LlmOutputError, as a bad
 * model answer would), and stamps results with the stage's endpoint and model for lineage.
 * What it does not do: HTTP, retries, repairs, caching, rate limits — those are the client's,
 * tested in test/llm.
 */
import { Ajv, type ValidateFunction } from 'ajv'
import { LlmClient, type ChatMessage, type EmbedRequest, type EmbedResult, type JsonRequest, type JsonResult } from '../../llm/client.ts'
import { resolveLlmSettings, type LlmSettings, type StageSettings } from '../../llm/config.ts'
import { LlmOutputError } from '../../llm/errors.ts'
import { createLogger, type Logger } from '../../log.ts'
import type { PromptRef } from '../prompt.ts'

/** What a scripted answer is computed from. */
export interface ScriptedRequest {
  readonly stage: string
  readonly prompt: PromptRef
  readonly messages: readonly ChatMessage[]
  /** Every message's content joined by newlines: what to match on. */
  readonly text: string
}

/** A fixed answer (a JSON value), or one computed from the request. */
export type ScriptedAnswer = unknown

export interface AnswerOptions {
  /** Only for this stage (default: any stage that uses the prompt). */
  stage?: string
  /** Answer this many calls, then give way to the next rule (default: every call). */
  times?: number
  /** Mark the answer as a simulator's (lineage.simulated). Default false. */
  simulated?: boolean
  /** The tokens the result reports (lineage.usage), and whether it came from the cache. Default 0, 0, not cached. */
  usage?: { promptTokens: number, completionTokens: number, cached?: boolean }
}

/** One call the script answered (or refused), in order. */
export interface ScriptedCall {
  readonly stage: string
  readonly prompt: PromptRef
  readonly messages: readonly ChatMessage[]
  /** The answer given; undefined when the call failed. */
  readonly answer: unknown
}

interface Rule {
  prompt: string
  stage: string | undefined
  left: number
  simulated: boolean
  usage: { promptTokens: number, completionTokens: number, cached: boolean }
  answer: (req: ScriptedRequest) => unknown
}

/** Where the scripted "endpoint" would be: loopback's discard port, never contacted. */
const NOWHERE = 'http://127.0.0.1:9/v1'
export const SCRIPTED_ENDPOINT = 'scripted'
export const SCRIPTED_MODEL = 'scripted-model'

export interface ScriptedLlmOptions {
  /** Model name the stages report (lineage.model.name; also picks the tokenizer family). */
  model?: string
  /** Per-stage overrides of the resolved settings (model, maxTokens, contextWindow). */
  stages?: Record<string, { model?: string, maxTokens?: number, contextWindow?: number }>
  logger?: Logger
}

export class ScriptedLlm extends LlmClient {
  readonly #rules: Rule[] = []
  readonly #validators = new WeakMap<object, ValidateFunction>()
  readonly #ajv = new Ajv({ allErrors: true, strict: false })
  #embed: ((text: string) => readonly number[]) | undefined
  /** Every call, in order: what the processor asked and what it got. */
  readonly calls: ScriptedCall[] = []

  constructor (o: ScriptedLlmOptions = {}) {
    super({ settings: scriptedSettings(o), logger: o.logger ?? createLogger({ level: 'silent' }) })
  }

  /** Answers calls with prompt `prompt` (its id) with `answer(request)`… */
  answer (prompt: string, answer: (req: ScriptedRequest) => unknown, o?: AnswerOptions): this
  /** … or with the fixed JSON value `answer` (a fresh copy each time). */
  answer (prompt: string, answer: ScriptedAnswer, o?: AnswerOptions): this
  answer (prompt: string, answer: unknown, o: AnswerOptions = {}): this {
    const fn = typeof answer === 'function' ? answer as (req: ScriptedRequest) => unknown : () => structuredClone(answer)
    this.#rules.push({ prompt, stage: o.stage, left: o.times ?? Infinity, simulated: o.simulated ?? false, usage: { promptTokens: o.usage?.promptTokens ?? 0, completionTokens: o.usage?.completionTokens ?? 0, cached: o.usage?.cached ?? false }, answer: fn })
    return this
  }

  /** Fails calls with prompt `prompt` with `error` (e.g. an LlmOutputError, as a model that never answers well). */
  fail (prompt: string, error: Error, o: Omit<AnswerOptions, 'simulated' | 'usage'> = {}): this {
    return this.answer(prompt, () => { throw error }, o)
  }

  /** Embeddings: `vector(text)` for each text (default: none, and embed() fails). */
  embeddings (vector: (text: string) => readonly number[]): this {
    this.#embed = vector
    return this
  }

  /** Calls so far for prompt `prompt` (all calls without it). */
  callsFor (prompt?: string): ScriptedCall[] {
    return this.calls.filter((c) => prompt === undefined || c.prompt.id === prompt)
  }

  // Why override preflight: there is no endpoint to check; a runner that preflights must not fail.
  override async preflight (): Promise<void> {}

  override contextWindow (s: StageSettings): number | undefined {
    return s.contextWindow
  }

  override async json<T> (s: StageSettings, req: JsonRequest<T>): Promise<JsonResult<T>> {
    const request: ScriptedRequest = { stage: s.stage, prompt: { id: req.prompt.id, version: req.prompt.version }, messages: req.messages, text: req.messages.map((m) => m.content).join('\n') }
    // A stage-specific rule wins over a prompt-wide one; among equals, the first declared.
    const rule = this.#rules.find((r) => r.left > 0 && r.prompt === req.prompt.id && r.stage === s.stage) ??
      this.#rules.find((r) => r.left > 0 && r.prompt === req.prompt.id && r.stage === undefined)
    if (!rule) {
      this.calls.push({ ...request, answer: undefined })
      const known = [...new Set(this.#rules.map((r) => (r.stage ? `${r.stage}/${r.prompt}` : r.prompt)))].join(', ') || 'none'
      throw new Error(`ScriptedLlm: no answer scripted for prompt ${req.prompt.id} at stage ${s.stage} (scripted: ${known})`)
    }
    rule.left--
    let value: unknown
    try {
      value = rule.answer(request)
    } catch (err) {
      this.calls.push({ ...request, answer: undefined })
      throw err
    }
    this.calls.push({ ...request, answer: value })
    const raw = JSON.stringify(value)
    const validate = this.#validator(req.schema)
    // The same two checks the real client makes before it accepts an answer.
    const problem = !validate(value)
      ? `it does not match the schema: ${this.#ajv.errorsText(validate.errors, { dataVar: 'answer' })}`
      : req.check?.(value as T)
    if (problem !== undefined) {
      throw new LlmOutputError(`stage ${s.stage}: the model's answer is not usable after 1 attempt(s): ${problem}`, raw, 1, { context: { stage: s.stage, model: s.model } })
    }
    return { value: value as T, raw, model: s.model, endpoint: s.endpoint.name, simulated: rule.simulated, cached: rule.usage.cached, requests: rule.usage.cached ? 0 : 1, repairs: 0, promptTokens: rule.usage.promptTokens, completionTokens: rule.usage.completionTokens }
  }

  override async embed (s: StageSettings, req: EmbedRequest): Promise<EmbedResult> {
    if (!this.#embed) throw new Error(`ScriptedLlm: no embeddings scripted for stage ${s.stage} (call .embeddings(fn))`)
    const vectors = req.texts.map((t) => Float32Array.from(this.#embed!(t)))
    return { vectors, model: s.model, endpoint: s.endpoint.name, simulated: false, cached: 0, requests: 1 }
  }

  #validator (schema: object): ValidateFunction {
    let v = this.#validators.get(schema)
    if (!v) this.#validators.set(schema, v = this.#ajv.compile(schema))
    return v
  }
}

/**
 * Settings resolved by the real resolver (so defaults — maxTokens, temperature, … — are the
 * pipeline's), for an endpoint that is never contacted. Resolved per stage on first use: any
 * stage name works, as in a topology the test builds itself.
 */
function scriptedSettings (o: ScriptedLlmOptions): LlmSettings {
  const resolved = new Map<string, StageSettings>()
  const endpoint = { baseUrl: NOWHERE, noAuth: true }
  return {
    stage: (name) => {
      let s = resolved.get(name)
      if (!s) {
        const own = o.stages?.[name] ?? {}
        s = resolveLlmSettings({
          env: {},
          stages: [name],
          file: { endpoints: { [SCRIPTED_ENDPOINT]: endpoint }, defaults: { endpoint: SCRIPTED_ENDPOINT, model: o.model ?? SCRIPTED_MODEL }, stages: { [name]: own } },
        }).stage(name)
        resolved.set(name, s)
      }
      return s
    },
    // No stage up front: the client makes no endpoint runtimes (nothing to connect).
    stageNames: [],
    endpoints: new Map(),
    prices: new Map(),
    budget: {},
    cache: { enabled: false },
  }
}
