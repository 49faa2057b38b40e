/**
 * What can go wrong calling an LLM endpoint, and what each failure means for the pipeline:
 *
 * - transient (408, 409, 429, 5xx, connection reset, timeout): retried with backoff, honouring
 *   `Retry-After`; 429s and timeouts also tell the concurrency limit to back off;
 * - the request itself is refused (400, 422: e.g. a prompt longer than the model's context):
 *   not retried, the record goes to the dead-letter topic with the server's reason;
 * - the endpoint is misconfigured (401, 403, 404: wrong key, no permission, unknown model or
 *   path): not retried, reported loudly with the stage and the setting to fix;
 * - the answer is not the JSON the stage asked for, after the repair attempts: dead letter, with
 *   the raw answer kept.
 *
 * Messages never contain the API key: the server's own message is scrubbed before it is kept.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai'
import { SynthqError, type SynthqErrorOptions } from '../errors.ts'
import type { Secret } from '../config/secret.ts'

/** The endpoint is unreachable or overloaded; retriable while attempts remain. */
export class LlmUnavailableError extends SynthqError {
  readonly status?: number
  constructor (message: string, opts: SynthqErrorOptions & { status?: number } = {}) {
    super('SYNTHQ_LLM_UNAVAILABLE', message, { retriable: true, ...opts })
    if (opts.status !== undefined) this.status = opts.status
  }
}

/** The endpoint refused the request or the credentials: fixing config or input is the only cure. */
export class LlmRejectedError extends SynthqError {
  readonly status?: number
  /** 401/403/404: every call to this endpoint will fail the same way. */
  readonly endpointMisconfigured: boolean
  constructor (message: string, opts: SynthqErrorOptions & { status?: number, endpointMisconfigured?: boolean } = {}) {
    super('SYNTHQ_LLM_REJECTED', message, { retriable: false, ...opts })
    if (opts.status !== undefined) this.status = opts.status
    this.endpointMisconfigured = opts.endpointMisconfigured ?? false
  }
}

/** The answer never became valid JSON of the stage's shape; `raw` is kept for the dead letter. */
export class LlmOutputError extends SynthqError {
  readonly raw: string
  readonly attempts: number
  constructor (message: string, raw: string, attempts: number, opts: SynthqErrorOptions = {}) {
    super('SYNTHQ_LLM_OUTPUT', message, { retriable: false, ...opts })
    this.raw = raw
    this.attempts = attempts
  }
}

/** The spending budget is used up: calls are held (the pipeline pauses) rather than failed. */
export class LlmBudgetError extends SynthqError {
  constructor (message: string, opts: SynthqErrorOptions = {}) {
    super('SYNTHQ_LLM_BUDGET', message, { retriable: false, ...opts })
  }
}

export type FailureKind = 'transient' | 'rejected' | 'misconfigured' | 'aborted'

export interface ClassifiedFailure {
  kind: FailureKind
  /** HTTP status, when there was a response. */
  status?: number
  /** How long the server asked us to wait (Retry-After / retry-after-ms), in ms. */
  retryAfterMs?: number
  /** A sign of overload (429, timeout): the adaptive concurrency limit backs off. */
  overload: boolean
  /** Short, key-free description: "HTTP 429", "timeout", "connection reset (ECONNRESET)". */
  reason: string
  /** The server's message, scrubbed of secrets. */
  detail: string
}

const TRANSIENT_STATUS = new Set([408, 409, 425, 429])

/** Parses `retry-after-ms` (OpenAI's), then `Retry-After` as seconds or an HTTP date. */
export function retryAfterMs (headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined
  const ms = headers.get('retry-after-ms')
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms)
  const v = headers.get('retry-after')
  if (v === null || v.trim() === '') return undefined
  const seconds = Number(v)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(v)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Removes every occurrence of the key (and of a Bearer header) from a message. */
export function scrub (text: string, secret?: Secret): string {
  let out = text.replace(/Bearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer [redacted]')
  const key = secret?.reveal()
  if (key && key.length >= 4) out = out.split(key).join('[redacted]')
  return out
}

function causeCode (err: unknown): string | undefined {
  let e: unknown = err
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** Sorts an error thrown by the openai client (or our fetch layer) into what the pipeline should do. */
export function classifyFailure (err: unknown, secret?: Secret): ClassifiedFailure {
  if (err instanceof APIUserAbortError || (err instanceof Error && err.name === 'AbortError')) {
    return { kind: 'aborted', overload: false, reason: 'aborted', detail: '' }
  }
  if (err instanceof APIConnectionTimeoutError) {
    return { kind: 'transient', overload: true, reason: 'timeout', detail: 'no response within the request timeout' }
  }
  if (err instanceof APIConnectionError) {
    const code = causeCode(err.cause) ?? causeCode(err)
    return { kind: 'transient', overload: false, reason: `connection failed${code ? ` (${code})` : ''}`, detail: scrub(err.message, secret) }
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status
    const detail = scrub(err.message, secret)
    const after = retryAfterMs(err.headers)
    if (TRANSIENT_STATUS.has(status) || status >= 500) {
      return { kind: 'transient', status, overload: status === 429 || status === 503, reason: `HTTP ${status}`, detail, ...(after !== undefined ? { retryAfterMs: after } : {}) }
    }
    if (status === 401 || status === 403 || status === 404) return { kind: 'misconfigured', status, overload: false, reason: `HTTP ${status}`, detail }
    return { kind: 'rejected', status, overload: false, reason: `HTTP ${status}`, detail }
  }
  if (err instanceof SynthqError) {
    return { kind: err.retriable ? 'transient' : 'rejected', overload: false, reason: err.code, detail: scrub(err.message, secret) }
  }
  const code = causeCode(err)
  if (code && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR_\w+)$/.test(code)) {
    return { kind: 'transient', overload: code === 'ETIMEDOUT', reason: `connection failed (${code})`, detail: scrub((err as Error).message ?? '', secret) }
  }
  return { kind: 'rejected', overload: false, reason: (err as Error)?.name ?? 'Error', detail: scrub((err as Error)?.message ?? String(err), secret) }
}

/** What a user should change for a misconfigured endpoint, by status. */
export function misconfigurationHint (status: number | undefined, where: { stage: string, endpoint: string, baseUrl: string, model: string, keySource: string }): string {
  switch (status) {
    case 401: return `the endpoint ${where.endpoint} (${where.baseUrl}) rejected the API key from ${where.keySource}; set a valid key there`
    case 403: return `the API key from ${where.keySource} may not use model ${where.model} at ${where.baseUrl}; check the key's permissions or choose another model`
    case 404: return `model ${where.model} or the API path is unknown at ${where.baseUrl}; check the base URL (it usually ends in /v1) and the model name for stage ${where.stage}`
    default: return `check the settings of stage ${where.stage}`
  }
}
