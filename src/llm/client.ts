/**
 * The LLM client the pipeline's processors call: one per process, a handle per stage.
 *
 *   const llm = await LlmClient.create({ settings, logger, dbPath })
 *   await llm.preflight()                      // fail fast: unreachable endpoint, bad key, unknown model
 *   const r = await llm.stage('scoring').json({ prompt, messages, schema, signal })
 *   r.value, r.model, r.simulated, r.cached
 *
 * A call: cache lookup (hit → no HTTP at all) → budget → the endpoint's gate (circuit breaker,
 * Retry-After hold, rate buckets, adaptive concurrency) → an OpenAI chat completion, asking for
 * the stage's JSON shape with `response_format: json_schema` where the endpoint supports it →
 * tolerant JSON extraction → schema validation → on an unusable answer, a short repair message
 * and another try, up to `repairAttempts` → ledger and cache. Transient HTTP failures are retried
 * by p-retry with jitter, backing off exponentially while the endpoint fails broadly (an isolated
 * failure is retried after the first delay), and waiting at least what `Retry-After` asks.
 *
 * Built on the `openai` package (its own retries off, so one policy governs) over undici, whose
 * pooled keep-alive connections are sized to the endpoint's concurrency.
 *
 * With `shared` limits (src/llm/shared/), the rate limits and the budget are the pipeline's: each
 * endpoint's gate holds this process's share of its limits, and the budget reads the pipeline's
 * spend.
 *
 * Beside it: types.ts (what callers and observers see), endpoint-gate.ts (admission to one
 * endpoint), preflight.ts (the check before the first record), failure-mapping.ts (a failure's
 * meaning: retry, dead-letter, stop, or the next dialect), embedding-cache.ts (vectors kept per
 * text), dialects.ts and dialect-probe.ts (structured-output request shapes).
 */
import { Ajv, type ValidateFunction } from 'ajv'
import OpenAI from 'openai'
import pRetry, { AbortError } from 'p-retry'
import { Agent, fetch as undiciFetch } from 'undici'
import type { Logger } from '../log.ts'
import type { EndpointSettings, LlmSettings, StageSettings } from './config.ts'
import { describeProbe, probeDialects, type ProbeResult, type ProbeSend } from './dialect-probe.ts'
import { dialectRequest, initialDialect, isCapabilityRefusal, isConstrained, strictCompatible, withSchemaInPrompt, type Dialect } from './dialects.ts'
import { EmbeddingCache } from './embedding-cache.ts'
import { failureToError, fallBack, type EndpointVerdicts } from './failure-mapping.ts'
import { EndpointGate, type GateStats, type RateClock, type Ticket } from './endpoint-gate.ts'
import { classifyFailure, LlmOutputError, LlmRejectedError, LlmUnavailableError } from './errors.ts'
import { publishLlmRequest } from '../diagnostics/channels.ts'
import { extractJson, InvalidOutputError } from './json-output.ts'
import { isSimulatedModel, schemaName, SIMULATOR_FINGERPRINT } from './protocol.ts'
import { checkEndpoints } from './preflight.ts'
import { readableErrors } from './error-body.ts'
import { cacheKey, ResponseCache } from './response-cache.ts'
import { openLlmDatabase, type LlmDatabase } from './store.ts'
import { Budget, estimateTokens, UsageLedger, type TokenEstimator, type UsageRow } from './usage.ts'
import { sleep } from './flow/clock.ts'
import { endpointKey, type SharedLimits, type SharedLimitsStats } from './shared/limits.ts'
import { emptyStats, type ChatMessage, type EmbedRequest, type EmbedResult, type JsonRequest, type JsonResult, type LlmObserver, type RetryTiming, type StageStats } from './types.ts'

export type { ChatMessage, EmbedRequest, EmbedResult, JsonRequest, JsonResult, LlmObserver, LlmRequestEvent, RetryTiming, StageStats } from './types.ts'

/** Prompt tokens the server counts per token synthq estimates, before any `usage` says better (the estimate is ~4 characters a token; small models' tokenizers count more). */
const INITIAL_TOKEN_RATIO = 1.3
/** The least room for an answer worth sending a request for; below it the request is refused as too long. */
const MIN_ANSWER_TOKENS = 128

/** Names the stage on each chat request, for gateways' and proxies' logs and per-stage accounting there. */
const STAGE_HEADER = (stage: string): Record<string, string> => ({ 'X-Synthq-Stage': stage })

/** Inputs per embeddings request (OpenAI accepts up to 2,048). */
const EMBED_BATCH = 256

const RETRY_TIMING: RetryTiming = process.env.NODE_ENV === 'test'
  ? { minTimeoutMs: 10, maxTimeoutMs: 200, factor: 2 }
  : { minTimeoutMs: 1000, maxTimeoutMs: 60_000, factor: 2 }

export interface LlmClientOptions {
  settings: LlmSettings
  logger: Logger
  /** SQLite file for the cache and the usage ledger; default an in-memory database. */
  dbPath?: string
  db?: LlmDatabase
  estimator?: TokenEstimator
  retryTiming?: RetryTiming
  /** Circuit breaker: consecutive failures that open it, and its first cooldown. */
  breaker?: { failureThreshold?: number, cooldownMs?: number }
  /** Called once when an endpoint rejects the configuration (401/403/404) — e.g. to stop the pipeline. */
  onFatal?: (err: LlmRejectedError) => void
  /** Called when the budget is reached and the pipeline pauses. */
  onPause?: (reason: string) => void
  /** Told of every HTTP answer and failure (the process's metrics, src/metrics/). */
  observer?: LlmObserver
  /**
   * Rate limits and budget shared with the pipeline's other processes (src/llm/shared/), or a
   * function making them on the client's database. The client starts them (preflight waits for
   * that, and so does every request) and closes them. Default: this process alone.
   */
  shared?: SharedLimits | ((db: LlmDatabase) => SharedLimits)
  /** The clock of the endpoints' per-minute buckets (tests against a time-scaled simulator). */
  rateClock?: RateClock
}

/** A probe request's timeout: short, since a probe that times out is retried and then leaves the run-time fallback to decide. */
const PROBE_TIMEOUT_MS = 30_000

/** The stage name the structured-output probe's tokens are recorded under. */
export const PROBE_STAGE = 'structured-output-probe'

/** What the structured-output probe found at one endpoint. */
export interface EndpointProbe extends ProbeResult {
  endpoint: string
  baseUrl: string
  model: string
  /** The dialect the endpoint uses from now on. */
  dialect: Dialect
}

/** One endpoint as the client uses it: its gate, its HTTP client, and what it has learnt of it. */
interface EndpointRuntime extends EndpointVerdicts {
  gate: EndpointGate
  openai: OpenAI
  agent: Agent
  /** Context windows the server reports, by model (GET /v1/models at preflight). */
  contextWindows: Map<string, number>
  /** The server's prompt tokens per estimated token, learnt from `usage` (starts cautious). */
  tokenRatio: number
}

export class LlmClient {
  readonly settings: LlmSettings
  readonly #logger: Logger
  readonly #db: LlmDatabase
  readonly #ownsDb: boolean
  readonly #cache: ResponseCache | undefined
  readonly #ledger: UsageLedger
  readonly #budget: Budget
  readonly #estimate: TokenEstimator
  readonly #timing: RetryTiming
  readonly #endpoints = new Map<string, EndpointRuntime>()
  readonly #stats = new Map<string, StageStats>()
  readonly #validators = new WeakMap<object, ValidateFunction>()
  readonly #ajv = new Ajv({ allErrors: true, strict: false })
  readonly #opts: LlmClientOptions
  readonly #embeddings: EmbeddingCache
  readonly #shared: SharedLimits | undefined
  readonly #sharedReady: Promise<void> | undefined
  readonly #unsubscribe: (() => void) | undefined

  constructor (opts: LlmClientOptions) {
    this.#opts = opts
    this.settings = opts.settings
    this.#logger = opts.logger.child({ component: 'llm' })
    this.#ownsDb = !opts.db
    this.#db = opts.db ?? openLlmDatabase(opts.dbPath ?? ':memory:')
    this.#cache = opts.settings.cache.enabled ? new ResponseCache(this.#db) : undefined
    this.#ledger = new UsageLedger(this.#db, opts.settings.prices)
    this.#shared = typeof opts.shared === 'function' ? opts.shared(this.#db) : opts.shared
    this.#budget = new Budget(opts.settings.budget, this.#shared ?? this.#ledger, this.#logger, opts.onPause)
    this.#estimate = opts.estimator ?? estimateTokens
    this.#timing = opts.retryTiming ?? RETRY_TIMING
    this.#embeddings = new EmbeddingCache(this.#db)
    for (const name of opts.settings.stageNames) this.#runtime(opts.settings.stage(name).endpoint)
    if (this.#shared) {
      const shared = this.#shared
      const keys = new Map([...this.#endpoints.values()].map((rt) => [rt.gate, endpointKey(rt.gate.endpoint)]))
      this.#unsubscribe = shared.onChange(() => { for (const [gate, key] of keys) gate.setShare(shared.share(key)) })
      this.#sharedReady = shared.start([...new Set(keys.values())])
      this.#sharedReady.catch(() => { /* reported to whoever awaits it: preflight, the requests */ })
    }
  }

  #runtime (endpoint: EndpointSettings): EndpointRuntime {
    let rt = this.#endpoints.get(endpoint.name)
    if (rt) return rt
    const agent = new Agent({ connections: endpoint.maxConcurrency, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 })
    const openai = new OpenAI({
      baseURL: endpoint.baseUrl,
      // Local servers without auth still get a placeholder: the client insists on some key.
      apiKey: endpoint.apiKey?.reveal() ?? 'no-key',
      maxRetries: 0,
      fetch: readableErrors(undiciFetch) as unknown as NonNullable<ConstructorParameters<typeof OpenAI>[0]>['fetch'],
      fetchOptions: { dispatcher: agent } as NonNullable<ConstructorParameters<typeof OpenAI>[0]>['fetchOptions'],
    })
    rt = {
      gate: new EndpointGate(endpoint, this.#logger, {
        ...(this.#shared ? { share: this.#shared.share(endpointKey(endpoint)) } : {}),
        ...(this.#opts.rateClock ? { rateClock: this.#opts.rateClock } : {}),
        ...(this.#opts.breaker?.failureThreshold !== undefined ? { failureThreshold: this.#opts.breaker.failureThreshold } : {}),
        ...(this.#opts.breaker?.cooldownMs !== undefined ? { breakerCooldownMs: this.#opts.breaker.cooldownMs } : {}),
      }),
      openai,
      agent,
      dialect: initialDialect(endpoint.structuredOutputs),
      dialectRefusals: [],
      contextWindows: new Map(),
      tokenRatio: INITIAL_TOKEN_RATIO,
    }
    this.#endpoints.set(endpoint.name, rt)
    return rt
  }

  /** A stage's handle. */
  stage (name: string): StageLlm {
    const settings = this.settings.stage(name)
    return new StageLlm(this, settings)
  }

  /**
   * Checks every endpoint the stages use before any record is read: reachable, key accepted,
   * model served. Errors name the stage and the setting.
   */
  async preflight (o: { timeoutMs?: number, probe?: boolean } = {}): Promise<void> {
    const timeoutMs = o.timeoutMs ?? 10_000
    await this.#sharedReady
    await checkEndpoints(this.settings.stageNames.map((n) => this.settings.stage(n)), (st) => this.#runtime(st.endpoint), this.#logger, timeoutMs)
    // `auto` endpoints learn their dialect now, not from the first records' refusals.
    const auto = [...this.#endpoints.values()].filter((rt) => rt.gate.endpoint.structuredOutputs === 'auto').map((rt) => rt.gate.endpoint.name)
    if (auto.length > 0 && o.probe !== false) await this.probeStructuredOutputs({ endpoints: auto })
  }

  /**
   * Finds, with one tiny request per dialect, the structured-output dialect each endpoint honours
   * (src/llm/dialect-probe.ts), from its configured one on, and adopts it. The probe's requests go
   * through the endpoint's gate (its rate limits hold) and their tokens are recorded under the
   * stage name `structured-output-probe`. A probe that ends on an outage keeps the configured
   * dialect: the run-time fallback still applies. `report: false` logs the outcome at debug level
   * only, for a caller that prints the returned probes itself (`synthq llm check`).
   */
  async probeStructuredOutputs (o: { endpoints?: string[], signal?: AbortSignal, report?: boolean } = {}): Promise<EndpointProbe[]> {
    await this.#sharedReady
    const out: EndpointProbe[] = []
    // A pipeline over its budget sends nothing, not even a probe, and must still start (and pause).
    const spent = this.#budget.exceeded()
    if (spent !== undefined) {
      this.#logger.warn({ reason: spent }, 'structured-output probe skipped: the LLM budget is spent; the configured dialect stays, refusals still move it on')
      return out
    }
    for (const rt of this.#endpoints.values()) {
      const endpoint = rt.gate.endpoint
      if (o.endpoints && !o.endpoints.includes(endpoint.name)) continue
      const stage = this.settings.stageNames.map((n) => this.settings.stage(n)).find((st) => st.endpoint.name === endpoint.name && !st.embedding)
      if (!stage) continue
      const send: ProbeSend = async (body) => {
        // The gate only, not the budget's wait: a probe is a few tiny requests, checked against the budget above.
        const ticket = await rt.gate.enter(96, o.signal, { measure: false })
        const t0 = Date.now()
        try {
          const data = await rt.openai.chat.completions.create(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, { timeout: Math.min(stage.timeoutMs, PROBE_TIMEOUT_MS), ...(o.signal ? { signal: o.signal } : {}) })
          const promptTokens = data.usage?.prompt_tokens ?? 48
          const completionTokens = data.usage?.completion_tokens ?? 8
          ticket.success({ latencyMs: Date.now() - t0, outputTokens: completionTokens, totalTokens: promptTokens + completionTokens })
          this.#recordRequest({ stage: PROBE_STAGE, model: stage.model, endpoint: endpoint.name, promptTokens, completionTokens, cachedPromptTokens: 0, estimated: !data.usage })
          return { ok: true, content: data.choices?.[0]?.message?.content ?? '' }
        } catch (err) {
          let f = classifyFailure(err, endpoint.apiKey)
          if (f.kind === 'aborted') throw err
          if (isCapabilityRefusal(f.status, f.detail)) f = { ...f, kind: 'rejected', overload: false }
          ticket.failure(f, (err as { headers?: Headers }).headers)
          if (f.kind === 'transient') await sleep(Math.max(this.#timing.minTimeoutMs, Math.min(f.retryAfterMs ?? 0, 60_000)), o.signal)
          return { ok: false, status: f.status, reason: f.reason, detail: f.detail, transient: f.kind === 'transient' }
        }
      }
      const from = initialDialect(endpoint.structuredOutputs)
      const r = await probeDialects(send, from, { model: stage.model })
      const was = rt.dialect
      if (r.dialect) rt.dialect = r.dialect
      const probe: EndpointProbe = { endpoint: endpoint.name, baseUrl: endpoint.baseUrl, model: stage.model, ...r, dialect: rt.dialect }
      out.push(probe)
      const line = `LLM endpoint ${endpoint.name}: structured outputs as ${rt.dialect}${isConstrained(rt.dialect) ? ' (constrained decoding)' : ' (not enforced by the server: answers are checked and repaired)'} — ${describeProbe(r)}`
      if (o.report === false) this.#logger.debug({ endpoint: endpoint.name, dialect: rt.dialect, failed: r.failed }, line)
      else if (r.failed) this.#logger.warn({ endpoint: endpoint.name, dialect: rt.dialect }, `LLM endpoint ${endpoint.name}: the structured-output probe failed, keeping ${rt.dialect} — ${describeProbe(r)}`)
      else if (rt.dialect !== was || !isConstrained(rt.dialect)) this.#logger.warn({ endpoint: endpoint.name, dialect: rt.dialect }, line)
      else this.#logger.info({ endpoint: endpoint.name, dialect: rt.dialect }, line)
    }
    return out
  }

  /** The model's context window for `s`: configured, else what its server reported at preflight. */
  contextWindow (s: StageSettings): number | undefined {
    return s.contextWindow ?? this.#runtime(s.endpoint).contextWindows.get(s.model)
  }

  /**
   * The completion limit a request of `estimatedPrompt` tokens gets: the stage's max_tokens, or
   * less when prompt + max_tokens would pass the model's context. A prompt that leaves less than
   * MIN_ANSWER_TOKENS is refused before it is sent (the record is dead-lettered, saying why).
   */
  #fitMaxTokens (s: StageSettings, rt: EndpointRuntime, estimatedPrompt: number): number {
    const window = this.contextWindow(s)
    if (window === undefined) return s.maxTokens
    const prompt = Math.ceil(estimatedPrompt * rt.tokenRatio)
    const room = window - prompt
    if (room >= s.maxTokens) return s.maxTokens
    if (room >= MIN_ANSWER_TOKENS) return room
    throw new AbortError(new LlmRejectedError(`stage ${s.stage}: the prompt (about ${prompt} tokens) leaves no room for an answer in the ${window}-token context of ${s.model}; lower the pipeline's budget.promptTokens / budget.documentTokens or use a model with a longer context`, { context: { stage: s.stage, model: s.model, contextWindow: window, promptTokens: prompt } }))
  }

  /** The structured-output dialect each endpoint uses now, and what it refused so far. */
  structuredOutputs (): Array<{ endpoint: string, dialect: Dialect, refusals: EndpointRuntime['dialectRefusals'] }> {
    return [...this.#endpoints.values()].map((rt) => ({ endpoint: rt.gate.endpoint.name, dialect: rt.dialect, refusals: [...rt.dialectRefusals] }))
  }

  statsFor (stage: string): StageStats {
    let s = this.#stats.get(stage)
    if (!s) this.#stats.set(stage, s = emptyStats())
    return s
  }

  stats (): { stages: Record<string, StageStats>, endpoints: GateStats[], cache: { hits: number, misses: number }, budgetPaused: boolean, shared?: SharedLimitsStats } {
    return {
      stages: Object.fromEntries(this.#stats),
      endpoints: [...this.#endpoints.values()].map((e) => e.gate.stats()),
      cache: { hits: this.#cache?.hits ?? 0, misses: this.#cache?.misses ?? 0 },
      budgetPaused: this.#budget.paused,
      ...(this.#shared ? { shared: this.#shared.stats() } : {}),
    }
  }

  usage (): UsageRow[] {
    return this.#ledger.rows()
  }

  get budget (): Budget {
    return this.#budget
  }

  async close (): Promise<void> {
    this.#unsubscribe?.()
    // Before the database closes: the final spend goes to the pipeline's ledger, the share back to the others.
    await this.#sharedReady?.catch(() => {})
    await this.#shared?.close()
    await Promise.all([...this.#endpoints.values()].map((e) => e.agent.close()))
    if (this.#ownsDb) this.#db.close()
  }

  /**
   * Waits until a request may go out: under budget, then through the endpoint's gate. The budget
   * is checked again once the gate lets the request through — a wait at the rate limits can be
   * long, and what the pipeline spent meanwhile must stop it — and a request past the budget
   * gives its place back and waits for the budget instead.
   */
  async #admit (rt: EndpointRuntime, estimatedTokens: number, signal?: AbortSignal, o: { measure?: boolean } = {}): Promise<Ticket> {
    await this.#sharedReady
    for (;;) {
      await this.#budget.admit(signal)
      const ticket = await rt.gate.enter(estimatedTokens, signal, o)
      if (this.#budget.exceeded() === undefined) return ticket
      ticket.cancel()
    }
  }

  /** Records one answered request's tokens and cost: the ledger, and the pipeline's spend. */
  #recordRequest (u: Parameters<UsageLedger['recordRequest']>[0]): number {
    const cost = this.#ledger.recordRequest(u)
    this.#shared?.spent(cost, u.promptTokens + u.completionTokens)
    return cost
  }

  #validator (schema: object): ValidateFunction {
    let v = this.#validators.get(schema)
    if (!v) this.#validators.set(schema, v = this.#ajv.compile(schema))
    return v
  }

  /** @internal One logical JSON call for `stage` (see StageLlm.json). */
  async json<T> (s: StageSettings, req: JsonRequest<T>): Promise<JsonResult<T>> {
    return await this.#published(s, 'chat', async () => await this.#json(s, req), (r) => r)
  }

  /** Runs one logical call and tells `synthq:llm:request` subscribers how it ended (src/diagnostics). */
  async #published<R> (s: StageSettings, kind: 'chat' | 'embeddings', call: () => Promise<R>, seen: (r: R) => { cached: boolean, requests: number, promptTokens: number, completionTokens: number, simulated: boolean }): Promise<R> {
    const t0 = Date.now()
    const base = { stage: s.stage, model: s.model, endpoint: s.endpoint.name, kind }
    try {
      const r = await call()
      publishLlmRequest(() => {
        const v = seen(r)
        return { ...base, status: v.cached ? 'cached' : 'ok', attempts: v.requests, latencyMs: Date.now() - t0, promptTokens: v.promptTokens, completionTokens: v.completionTokens, simulated: v.simulated }
      })
      return r
    } catch (err) {
      // The error's class, not its message: a message may quote the server or name its URL.
      publishLlmRequest(() => {
        const e = err as { name?: string, attempts?: number, context?: { attempts?: number } }
        return { ...base, status: 'failed', error: e.name ?? 'Error', attempts: e.attempts ?? e.context?.attempts ?? 0, latencyMs: Date.now() - t0, promptTokens: 0, completionTokens: 0, simulated: isSimulatedModel(s.model) }
      })
      throw err
    }
  }

  async #json<T> (s: StageSettings, req: JsonRequest<T>): Promise<JsonResult<T>> {
    const stats = this.statsFor(s.stage)
    stats.calls++
    const rt = this.#runtime(s.endpoint)
    const params = { temperature: s.temperature, max_tokens: s.maxTokens, seed: s.seed }
    const key = this.#cache && req.cache !== false
      ? cacheKey({ baseUrl: s.endpoint.cacheIdentity ?? s.endpoint.baseUrl, model: s.model, messages: req.messages, params, prompt: req.prompt, schema: req.schema })
      : undefined
    const validate = this.#validator(req.schema)
    if (key) {
      const hit = this.#cache!.get(key)
      if (hit) {
        const value = extractJson(hit.content) as T
        if (validate(value)) {
          stats.cacheHits++
          this.#ledger.recordCall(s.stage, s.model, s.endpoint.name, true)
          return { value, raw: hit.content, model: s.model, endpoint: s.endpoint.name, simulated: hit.simulated || isSimulatedModel(s.model), cached: true, requests: 0, repairs: 0, promptTokens: hit.promptTokens, completionTokens: hit.completionTokens }
        }
      }
      stats.cacheMisses++
    }
    this.#ledger.recordCall(s.stage, s.model, s.endpoint.name, false)

    const messages: ChatMessage[] = [...req.messages]
    let requests = 0
    let repairs = 0
    let promptTokens = 0
    let completionTokens = 0
    for (;;) {
      const answer = await this.#request(s, rt, messages, req.schema, req.prompt.version, req.signal)
      requests += answer.requests
      promptTokens += answer.promptTokens
      completionTokens += answer.completionTokens
      let problem: string
      // An answer cut off at max_tokens is never the whole answer, even where the tolerant reader
      // finds a complete object inside it (often a nested one, which then "misses" every field).
      const cutOff = `it was cut off at the ${s.maxTokens}-token limit before the JSON was complete; answer more briefly`
      try {
        const value = extractJson(answer.content) as T
        if (!validate(value)) {
          problem = answer.finishReason === 'length' ? cutOff : `it does not match the schema: ${this.#ajv.errorsText(validate.errors, { dataVar: 'answer' })}`
        } else {
          const extra = req.check?.(value)
          if (extra === undefined) {
            if (repairs === 0) { stats.firstAnswers++; stats.validFirstTry++ }
            if (key) this.#cache!.put(key, s.stage, s.model, { content: answer.content, promptTokens: answer.promptTokens, completionTokens: answer.completionTokens, simulated: answer.simulated })
            return { value, raw: answer.content, model: s.model, endpoint: s.endpoint.name, simulated: answer.simulated, cached: false, requests, repairs, promptTokens, completionTokens }
          }
          problem = extra
        }
      } catch (err) {
        if (!(err instanceof InvalidOutputError)) throw err
        problem = answer.finishReason === 'length' ? cutOff : err.message.replace(/^the model returned /, 'it was ')
      }
      stats.invalidOutputs++
      if (repairs === 0) stats.firstAnswers++
      if (repairs >= s.repairAttempts) {
        throw new LlmOutputError(`stage ${s.stage}: the model's answer is not usable after ${repairs + 1} attempt(s): ${problem}`, answer.content, repairs + 1, { context: { stage: s.stage, model: s.model } })
      }
      repairs++
      stats.repairs++
      this.#logger.debug({ stage: s.stage, problem, repair: repairs }, 'asking the model to repair its answer')
      messages.push({ role: 'assistant', content: answer.content.slice(0, 8000) })
      messages.push({ role: 'user', content: `Your answer could not be used: ${problem}. Reply again with only the JSON object, matching the schema exactly.` })
    }
  }

  /** @internal Embeddings for `texts` (see StageLlm.embed): cached per text, batched, retried like chat calls. */
  async embed (s: StageSettings, req: EmbedRequest): Promise<EmbedResult> {
    return await this.#published(s, 'embeddings', async () => await this.#embed(s, req), (r) => ({ cached: r.requests === 0, requests: r.requests, promptTokens: 0, completionTokens: 0, simulated: r.simulated }))
  }

  async #embed (s: StageSettings, req: EmbedRequest): Promise<EmbedResult> {
    const stats = this.statsFor(s.stage)
    const rt = this.#runtime(s.endpoint)
    const keyOf = (text: string): string => EmbeddingCache.key(s.endpoint.baseUrl, s.model, req.dimensions, text)
    const vectors: Array<Float32Array | undefined> = new Array(req.texts.length)
    let simulated = isSimulatedModel(s.model)
    let cached = 0
    const missing: number[] = []
    req.texts.forEach((text, i) => {
      const hit = this.settings.cache.enabled ? this.#embeddings.get(keyOf(text)) : undefined
      if (hit) {
        vectors[i] = hit.vector
        simulated ||= hit.simulated
        cached++
      } else missing.push(i)
    })
    stats.calls++
    stats.cacheHits += cached
    stats.cacheMisses += missing.length
    // The ledger counts texts (the unit the cache keeps), so `synthq llm usage` shows the sink's calls.
    this.#ledger.recordCalls(s.stage, s.model, s.endpoint.name, cached, missing.length)
    let requests = 0
    const where = { stage: s.stage, endpoint: s.endpoint.name, baseUrl: s.endpoint.baseUrl, model: s.model, keySource: s.endpoint.apiKeySource }
    for (let b = 0; b < missing.length; b += EMBED_BATCH) {
      const batch = missing.slice(b, b + EMBED_BATCH)
      const input = batch.map((i) => req.texts[i]!)
      const estimated = input.reduce((n, t) => n + this.#estimate(t), 0)
      const r = await this.#retrying(s, req.signal, async (sent) => {
        if (rt.misconfigured) throw new AbortError(rt.misconfigured)
        // Not measured: the limit is sized for generation, and an embedding batch's latency (no
        // answer tokens) says little about it.
        const ticket = await this.#admit(rt, estimated, req.signal, { measure: false })
        const t0 = Date.now()
        sent()
        try {
          const { data, response } = await rt.openai.embeddings.create({ model: s.model, input, ...(req.dimensions ? { dimensions: req.dimensions } : {}) }, { timeout: s.timeoutMs, ...(req.signal ? { signal: req.signal } : {}) }).withResponse()
          const promptTokens = data.usage?.prompt_tokens ?? estimated
          ticket.success({ latencyMs: Date.now() - t0, outputTokens: 0, totalTokens: promptTokens, headers: response.headers })
          this.#opts.observer?.request({ stage: s.stage, model: s.model, endpoint: s.endpoint.name, kind: 'embeddings', outcome: 'ok', seconds: (Date.now() - t0) / 1000 })
          stats.promptTokens += promptTokens
          stats.costUsd += this.#recordRequest({ stage: s.stage, model: s.model, endpoint: s.endpoint.name, promptTokens, completionTokens: 0, cachedPromptTokens: 0, estimated: !data.usage })
          if (data.data.length !== input.length) throw new LlmOutputError(`stage ${s.stage}: the endpoint returned ${data.data.length} embeddings for ${input.length} inputs`, '', 1)
          return { vectors: [...data.data].sort((a, b) => a.index - b.index).map((d) => Float32Array.from(d.embedding)), simulated: isSimulatedModel(data.model ?? s.model) }
        } catch (err) {
          if (err instanceof LlmOutputError) throw new AbortError(err)
          const f = classifyFailure(err, s.endpoint.apiKey)
          ticket.failure(f, (err as { headers?: Headers }).headers)
          stats.failures[f.reason] = (stats.failures[f.reason] ?? 0) + 1
          this.#opts.observer?.request({ stage: s.stage, model: s.model, endpoint: s.endpoint.name, kind: 'embeddings', outcome: f.reason, seconds: (Date.now() - t0) / 1000 })
          throw failureToError(f, s, rt, where, err, this.#logger, this.#opts.onFatal)
        }
      })
      requests += r.requests
      simulated ||= r.value.simulated
      batch.forEach((i, j) => {
        const v = r.value.vectors[j]!
        vectors[i] = v
        if (this.settings.cache.enabled) this.#embeddings.put(keyOf(req.texts[i]!), s.model, v, r.value.simulated)
      })
    }
    return { vectors: vectors as Float32Array[], model: s.model, endpoint: s.endpoint.name, simulated, cached, requests }
  }

  #body (s: StageSettings, dialect: Dialect, messages: ChatMessage[], schema: object, promptVersion: string): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming {
    const d = dialectRequest(dialect, schema, schemaName(s.stage, promptVersion), strictCompatible(schema))
    return {
      model: s.model,
      messages: d.schemaInPrompt ? withSchemaInPrompt(messages, schema) : messages,
      temperature: s.temperature,
      max_tokens: s.maxTokens,
      ...(s.seed !== undefined ? { seed: s.seed } : {}),
      // Dialects other than OpenAI's add fields the SDK's types do not know; it sends them as they are.
      ...(d.body as Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming>),
    }
  }

  /** One HTTP answer, with transient failures retried. */
  async #request (s: StageSettings, rt: EndpointRuntime, messages: ChatMessage[], schema: object, promptVersion: string, signal?: AbortSignal): Promise<{ content: string, finishReason: string | null, promptTokens: number, completionTokens: number, simulated: boolean, requests: number }> {
    const stats = this.statsFor(s.stage)
    const where = { stage: s.stage, endpoint: s.endpoint.name, baseUrl: s.endpoint.baseUrl, model: s.model, keySource: s.endpoint.apiKeySource }
    const { value, requests } = await this.#retrying(s, signal, async (sent) => {
      // A refusal of the request's shape moves the endpoint to its next dialect and sends again at
      // once: not a failure of the endpoint, so it spends none of the stage's retries.
      for (;;) {
        if (rt.misconfigured) throw new AbortError(rt.misconfigured)
        const dialect = rt.dialect
        const body = this.#body(s, dialect, messages, schema, promptVersion)
        const estimatedPrompt = body.messages.reduce((n, m) => n + this.#estimate(typeof m.content === 'string' ? m.content : '') + 4, 0)
        body.max_tokens = this.#fitMaxTokens(s, rt, estimatedPrompt)
        const ticket = await this.#admit(rt, estimatedPrompt + body.max_tokens, signal)
        const t0 = Date.now()
        sent()
        try {
          const { data, response } = await rt.openai.chat.completions.create(body, { timeout: s.timeoutMs, headers: STAGE_HEADER(s.stage), ...(signal ? { signal } : {}) }).withResponse()
          const latencyMs = Date.now() - t0
          const choice = data.choices?.[0]
          const content = choice?.message?.content ?? ''
          const usage = data.usage
          const promptTokens = usage?.prompt_tokens ?? estimatedPrompt
          const completionTokens = usage?.completion_tokens ?? this.#estimate(content)
          // Learn how the server's tokenizer counts against the estimate (cautious: the larger ratios weigh in at once).
          if (usage?.prompt_tokens && estimatedPrompt > 0) {
            const ratio = usage.prompt_tokens / estimatedPrompt
            rt.tokenRatio = ratio > rt.tokenRatio ? ratio : rt.tokenRatio * 0.9 + ratio * 0.1
          }
          ticket.success({ latencyMs, outputTokens: completionTokens, totalTokens: promptTokens + completionTokens, headers: response.headers })
          this.#opts.observer?.request({ stage: s.stage, model: s.model, endpoint: s.endpoint.name, kind: 'chat', outcome: 'ok', seconds: latencyMs / 1000 })
          stats.latency.count++
          stats.latency.totalMs += latencyMs
          stats.latency.maxMs = Math.max(stats.latency.maxMs, latencyMs)
          stats.promptTokens += promptTokens
          stats.completionTokens += completionTokens
          stats.costUsd += this.#recordRequest({
            stage: s.stage, model: s.model, endpoint: s.endpoint.name, promptTokens, completionTokens,
            cachedPromptTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0, estimated: !usage,
          })
          const simulated = isSimulatedModel(data.model ?? s.model) || isSimulatedModel(s.model) || data.system_fingerprint === SIMULATOR_FINGERPRINT
          return { content, finishReason: choice?.finish_reason ?? null, promptTokens, completionTokens, simulated }
        } catch (err) {
          let f = classifyFailure(err, s.endpoint.apiKey)
          if (isCapabilityRefusal(f.status, f.detail) && dialect !== 'prompt') {
            // The server is up and says what it does not take: not a failure of the endpoint.
            f = { ...f, kind: 'rejected', overload: false }
            ticket.failure(f, (err as { headers?: Headers }).headers)
            this.#opts.observer?.request({ stage: s.stage, model: s.model, endpoint: s.endpoint.name, kind: 'chat', outcome: 'unsupported_request_shape', seconds: (Date.now() - t0) / 1000 })
            fallBack(s, rt, dialect, f, this.#logger)
            continue
          }
          ticket.failure(f, (err as { headers?: Headers }).headers)
          stats.failures[f.reason] = (stats.failures[f.reason] ?? 0) + 1
          this.#opts.observer?.request({ stage: s.stage, model: s.model, endpoint: s.endpoint.name, kind: 'chat', outcome: f.reason, seconds: (Date.now() - t0) / 1000 })
          throw failureToError(f, s, rt, where, err, this.#logger, this.#opts.onFatal)
        }
      }
    })
    return { ...value, requests }
  }

  /**
   * Runs `once` (one HTTP attempt, which calls `sent` when a request goes out) with transient
   * failures retried by p-retry; exhausted retries become a non-retriable LlmUnavailableError
   * naming the stage and the attempts, so the runtime dead-letters instead of retrying again.
   */
  async #retrying<T> (s: StageSettings, signal: AbortSignal | undefined, once: (sent: () => void) => Promise<T>): Promise<{ value: T, requests: number }> {
    const stats = this.statsFor(s.stage)
    const rt = this.#runtime(s.endpoint)
    let requests = 0
    const sent = (): void => { requests++; stats.requests++ }
    try {
      const value = await pRetry(async () => await once(sent), {
        retries: s.retries,
        // p-retry waits the first delay (with jitter) every time; the growth is added below, and
        // only while the endpoint fails broadly (EndpointGate.failingBroadly): an isolated 500
        // among healthy answers is retried after the short delay, not after 8 or 16 s.
        factor: 1,
        minTimeout: this.#timing.minTimeoutMs,
        maxTimeout: this.#timing.maxTimeoutMs,
        randomize: true,
        ...(signal ? { signal } : {}),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft <= 0) return
          stats.retries++
          const after = (error as { retryAfterMs?: number }).retryAfterMs
          const broad = rt.gate.failingBroadly
          this.#logger.debug({ stage: s.stage, attempt: attemptNumber, reason: error.message, retryAfterMs: after, backoff: broad ? 'exponential' : 'isolated failure' }, 'LLM request failed; retrying')
          // Beyond p-retry's first delay: the exponential part while failures are broad, and
          // whatever Retry-After asks for beyond that.
          const grown = broad ? Math.min(this.#timing.maxTimeoutMs, this.#timing.minTimeoutMs * this.#timing.factor ** (attemptNumber - 1)) : this.#timing.minTimeoutMs
          const wait = Math.max(grown, after === undefined ? 0 : Math.min(after, 600_000)) - this.#timing.minTimeoutMs
          if (wait > 0) await sleep(wait, signal)
        },
      })
      return { value, requests }
    } catch (err) {
      if (err instanceof LlmUnavailableError) {
        throw new LlmUnavailableError(`stage ${s.stage}: endpoint ${s.endpoint.name} failed ${requests} time(s), giving up: ${err.message}`, { retriable: false, cause: err, ...(err.status !== undefined ? { status: err.status } : {}), context: { stage: s.stage, endpoint: s.endpoint.name, attempts: requests } })
      }
      throw err
    }
  }

}

/** What a processor holds: its stage's settings bound to the shared client. */
export class StageLlm {
  readonly #client: LlmClient
  readonly settings: StageSettings

  constructor (client: LlmClient, settings: StageSettings) {
    this.#client = client
    this.settings = settings
  }

  /** Asks for JSON of `schema`; see {@link LlmClient}. */
  async json<T> (req: JsonRequest<T>): Promise<JsonResult<T>> {
    return await this.#client.json<T>(this.settings, req)
  }

  /** Embeddings of `texts` from this stage's endpoint and model (`/v1/embeddings`). */
  async embed (req: EmbedRequest): Promise<EmbedResult> {
    return await this.#client.embed(this.settings, req)
  }

  /** The model's context window in tokens, when configured or reported by its server. */
  get contextWindow (): number | undefined {
    return this.#client.contextWindow(this.settings)
  }

  /** For lineage: which endpoint and model answer this stage. */
  get model (): { endpoint: string, name: string } {
    return { endpoint: this.settings.endpoint.name, name: this.settings.model }
  }
}
