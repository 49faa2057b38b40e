/**
 * Token accounting, cost and the spending budget.
 *
 * Every request's prompt and completion tokens are added to a ledger per (stage, model,
 * endpoint), taken from the response's `usage` or estimated when the server sends none (the
 * estimate is counted separately, so a report can say how much of it is estimated). Cost comes
 * from configured prices in USD per million tokens. The ledger lives in the LLM database, so a
 * budget holds across restarts: when spend reaches it, new calls are held — the pipeline pauses
 * and says so — until the budget is raised. Requests already in flight finish, so spend can
 * pass the budget by at most their cost.
 */
import type { Logger } from '../log.ts'
import type { StageStats } from './client.ts'
import type { Price } from './config.ts'
import type { LlmDatabase } from './store.ts'

/** Counts tokens of a text for budgeting before a call; a tokenizer per model family can replace it. */
export type TokenEstimator = (text: string) => number

/** About four characters per token for English prose with BPE tokenizers: an estimate, labelled as such. */
export const estimateTokens: TokenEstimator = (text) => Math.ceil(text.length / 4)

export interface CallUsage {
  stage: string
  model: string
  endpoint: string
  promptTokens: number
  completionTokens: number
  cachedPromptTokens: number
  /** The server sent no usage; the figures are estimates. */
  estimated: boolean
}

export interface UsageRow {
  stage: string
  model: string
  endpoint: string
  calls: number
  requests: number
  promptTokens: number
  completionTokens: number
  cachedPromptTokens: number
  estimatedRequests: number
  costUsd: number
  cacheHits: number
  cacheMisses: number
}

export function costOf (price: Price | undefined, u: Pick<CallUsage, 'promptTokens' | 'completionTokens' | 'cachedPromptTokens'>): number {
  if (!price) return 0
  const cached = Math.min(u.cachedPromptTokens, u.promptTokens)
  const inputCost = (u.promptTokens - cached) * price.input + cached * (price.cachedInput ?? price.input)
  return (inputCost + u.completionTokens * price.output) / 1e6
}

const tallyKey = (stage: string, model: string, endpoint: string): string => `${stage}\u0000${model}\u0000${endpoint}`

/**
 * What this process recorded, whatever database it recorded it in. The database's ledger sums
 * every process that shares it (workers of one machine share .synthq/llm/llm.db); a run's own
 * figures — the usage line `synthq run` and `synthq start` print at exit — come from here.
 */
const processTally = new Map<string, UsageRow>()

function tally (stage: string, model: string, endpoint: string): UsageRow {
  const key = tallyKey(stage, model, endpoint)
  let row = processTally.get(key)
  if (!row) {
    row = { stage, model, endpoint, calls: 0, requests: 0, promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0, estimatedRequests: 0, costUsd: 0, cacheHits: 0, cacheMisses: 0 }
    processTally.set(key, row)
  }
  return row
}

/** The LLM usage this process recorded (every ledger of it), by stage, model and endpoint. */
export function processUsage (): UsageRow[] {
  return [...processTally.values()].map((r) => ({ ...r })).sort((a, b) => a.stage.localeCompare(b.stage) || a.model.localeCompare(b.model) || a.endpoint.localeCompare(b.endpoint))
}

/**
 * ", first answers valid N/M, R repairs" for a stage that asked anything (else ""): how well the
 * server's structured outputs held, as the exit summaries of `synthq run` and `synthq start` say.
 */
export function firstAnswersNote (stats: Pick<StageStats, 'firstAnswers' | 'validFirstTry' | 'repairs'> | undefined): string {
  return stats?.firstAnswers ? `, first answers valid ${stats.validFirstTry}/${stats.firstAnswers}, ${stats.repairs} repairs` : ''
}

export class UsageLedger {
  readonly #db: LlmDatabase
  readonly #prices: ReadonlyMap<string, Price>
  readonly #addRequest
  readonly #addCall
  #totals = { costUsd: 0, tokens: 0 }

  constructor (db: LlmDatabase, prices: ReadonlyMap<string, Price>) {
    this.#db = db
    this.#prices = prices
    // One row per (stage, model, endpoint); the first insert carries the figures, later ones add to them.
    const upsert = (cols: Record<string, string>): string => `INSERT INTO llm_usage (stage, model, endpoint, ${Object.keys(cols).join(', ')})
      VALUES (@stage, @model, @endpoint, ${Object.values(cols).join(', ')})
      ON CONFLICT (stage, model, endpoint) DO UPDATE SET ${Object.keys(cols).map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`
    this.#addRequest = db.prepare(upsert({
      requests: '1', prompt_tokens: '@promptTokens', completion_tokens: '@completionTokens', cached_prompt_tokens: '@cachedPromptTokens',
      estimated_requests: '@estimated', cost_usd: '@cost',
    }))
    this.#addCall = db.prepare(upsert({ calls: '@calls', cache_hits: '@hit', cache_misses: '@miss' }))
    // Totals start from what earlier runs spent: the budget covers the database, not one process.
    const t = db.prepare<[], { cost: number | null, tokens: number | null }>('SELECT SUM(cost_usd) AS cost, SUM(prompt_tokens + completion_tokens) AS tokens FROM llm_usage').get()
    this.#totals = { costUsd: t?.cost ?? 0, tokens: t?.tokens ?? 0 }
  }

  /** One HTTP request's tokens (repairs and retries that got an answer each count). Returns its cost. */
  recordRequest (u: CallUsage): number {
    const cost = costOf(this.#prices.get(u.model), u)
    this.#addRequest.run({ stage: u.stage, model: u.model, endpoint: u.endpoint, promptTokens: u.promptTokens, completionTokens: u.completionTokens, cachedPromptTokens: u.cachedPromptTokens, estimated: u.estimated ? 1 : 0, cost })
    this.#totals.costUsd += cost
    this.#totals.tokens += u.promptTokens + u.completionTokens
    const t = tally(u.stage, u.model, u.endpoint)
    t.requests++
    t.promptTokens += u.promptTokens
    t.completionTokens += u.completionTokens
    t.cachedPromptTokens += u.cachedPromptTokens
    if (u.estimated) t.estimatedRequests++
    t.costUsd += cost
    return cost
  }

  /** One logical call by a stage: answered from the cache or not. */
  recordCall (stage: string, model: string, endpoint: string, cacheHit: boolean): void {
    this.recordCalls(stage, model, endpoint, cacheHit ? 1 : 0, cacheHit ? 0 : 1)
  }

  /** `hits + misses` logical calls at once (embeddings: one per text, cached per text). */
  recordCalls (stage: string, model: string, endpoint: string, hits: number, misses: number): void {
    if (hits + misses === 0) return
    this.#addCall.run({ stage, model, endpoint, calls: hits + misses, hit: hits, miss: misses })
    const t = tally(stage, model, endpoint)
    t.calls += hits + misses
    t.cacheHits += hits
    t.cacheMisses += misses
  }

  get totals (): { costUsd: number, tokens: number } {
    return { ...this.#totals }
  }

  /** Every process's usage recorded in this database (this process's alone: {@link processUsage}). */
  rows (): UsageRow[] {
    return this.#db.prepare<[], UsageRow>(`SELECT stage, model, endpoint, calls, requests, prompt_tokens AS promptTokens,
      completion_tokens AS completionTokens, cached_prompt_tokens AS cachedPromptTokens, estimated_requests AS estimatedRequests,
      cost_usd AS costUsd, cache_hits AS cacheHits, cache_misses AS cacheMisses FROM llm_usage ORDER BY stage, model`).all()
  }
}

export interface BudgetLimits { usd?: number, tokens?: number }

/** Where a budget reads what was spent: this database's ledger, or the pipeline's (src/llm/shared/). */
export interface SpendSource { readonly totals: { costUsd: number, tokens: number } }

/**
 * Holds new calls once the ledger's totals reach a limit. `admit` resolves at once while under
 * budget; past it, the first caller logs why the pipeline pauses and every caller waits until
 * `raise` lifts the limit or its signal aborts.
 */
export class Budget {
  #limits: BudgetLimits
  readonly #ledger: SpendSource
  readonly #logger: Logger
  readonly #onPause: ((reason: string) => void) | undefined
  #waiters: Array<() => void> = []
  #pausedSince: number | undefined

  constructor (limits: BudgetLimits, ledger: SpendSource, logger: Logger, onPause?: (reason: string) => void) {
    this.#limits = limits
    this.#ledger = ledger
    this.#logger = logger
    this.#onPause = onPause
  }

  /** Why spend is over budget, or undefined. */
  exceeded (): string | undefined {
    const t = this.#ledger.totals
    if (this.#limits.usd !== undefined && t.costUsd >= this.#limits.usd) return `LLM spend $${t.costUsd.toFixed(4)} reached the budget of $${this.#limits.usd}`
    if (this.#limits.tokens !== undefined && t.tokens >= this.#limits.tokens) return `LLM tokens ${t.tokens} reached the budget of ${this.#limits.tokens}`
    return undefined
  }

  get paused (): boolean {
    return this.#pausedSince !== undefined
  }

  async admit (signal?: AbortSignal): Promise<void> {
    const why = this.exceeded()
    if (!why) return
    if (this.#pausedSince === undefined) {
      this.#pausedSince = Date.now()
      this.#logger.error({ budget: this.#limits, spent: this.#ledger.totals }, `${why}: pipeline paused — no new LLM calls; raise llm.budget (or SYNTHQ_LLM_BUDGET_USD / _TOKENS) and restart; answers so far are cached`)
      this.#onPause?.(why)
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== wake)
        reject(signal?.reason ?? new Error('aborted'))
      }
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(wake)
    })
    return this.admit(signal)
  }

  /** New limits (e.g. from an operator); waiting calls proceed if they are now under budget. */
  raise (limits: BudgetLimits): void {
    this.#limits = limits
    if (this.exceeded()) return
    if (this.#pausedSince !== undefined) this.#logger.warn({ budget: limits }, 'LLM budget raised: pipeline resumed')
    this.#pausedSince = undefined
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }

  get waiting (): number {
    return this.#waiters.length
  }
}
