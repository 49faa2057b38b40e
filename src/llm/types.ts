/**
 * What the LLM client's callers and observers see: a call's request and result, per-stage
 * counters, and the events the process's metrics are told of. The client itself is in client.ts.
 */

export interface ChatMessage { role: 'system' | 'user' | 'assistant', content: string }

export interface JsonRequest<T> {
  /** The prompt's id and version: part of the cache key and of the output's lineage. */
  prompt: { id: string, version: string }
  messages: ChatMessage[]
  /** JSON Schema of the answer. */
  schema: object
  /** Checks beyond the schema (e.g. a total that must equal its parts); a message means invalid. */
  check?: (value: T) => string | undefined
  signal?: AbortSignal
  /** false: always ask the endpoint (default true). */
  cache?: boolean
}

export interface JsonResult<T> {
  value: T
  /** The answer text the value was read from. */
  raw: string
  model: string
  endpoint: string
  /** The answer came from synthq's simulator, not a real model. */
  simulated: boolean
  cached: boolean
  /** HTTP requests this call made (0 on a cache hit). */
  requests: number
  repairs: number
  promptTokens: number
  completionTokens: number
}

export interface EmbedRequest {
  texts: readonly string[]
  /** Output dimensions, for models that can shorten their vectors. */
  dimensions?: number
  signal?: AbortSignal
}

export interface EmbedResult {
  /** One unit-length-or-as-served vector per input text, in order. */
  vectors: Float32Array[]
  model: string
  endpoint: string
  simulated: boolean
  /** Texts answered from the cache (no request). */
  cached: number
  requests: number
}

export interface RetryTiming { minTimeoutMs: number, maxTimeoutMs: number, factor: number }

export interface StageStats {
  calls: number
  cacheHits: number
  cacheMisses: number
  requests: number
  retries: number
  repairs: number
  invalidOutputs: number
  /** Calls that got a first answer from the model (cache hits and calls that got none are not counted). */
  firstAnswers: number
  /** Of those, answers usable as they came: valid JSON of the schema, passing the stage's check, no repair. */
  validFirstTry: number
  failures: Record<string, number>
  latency: { count: number, totalMs: number, maxMs: number }
  promptTokens: number
  completionTokens: number
  costUsd: number
}

export function emptyStats (): StageStats {
  return { calls: 0, cacheHits: 0, cacheMisses: 0, requests: 0, retries: 0, repairs: 0, invalidOutputs: 0, firstAnswers: 0, validFirstTry: 0, failures: {}, latency: { count: 0, totalMs: 0, maxMs: 0 }, promptTokens: 0, completionTokens: 0, costUsd: 0 }
}

/** One chat or embeddings request as the metrics see it. */
export interface LlmRequestEvent {
  stage: string
  model: string
  endpoint: string
  kind: 'chat' | 'embeddings'
  /** 'ok', or the failure's classification (rate_limit, server_error, timeout, …). */
  outcome: string
  seconds: number
}

export interface LlmObserver {
  request (e: LlmRequestEvent): void
}
