/**
 * The HTTP plumbing the remote search backends (Elasticsearch/OpenSearch, SearXNG) share: one
 * undici connection pool per backend, a per-request timeout joined with the caller's abort
 * signal, and the translation of transport failures and statuses into search errors
 * (errors.ts) — transient ones retriable, configuration ones naming the setting to fix.
 * Messages carry the server's own words, scrubbed of any secret value, and never a credential.
 */
import { readFileSync } from 'node:fs'
import { Agent, request } from 'undici'
import type { Secret } from '../config/secret.ts'
import { ConfigError } from '../errors.ts'
import { SearchRejectedError, SearchUnavailableError } from './errors.ts'

export interface HttpResponse { status: number, headers: Record<string, string | string[] | undefined>, text: string }

export const DEFAULT_TIMEOUT_MS = 10_000

/** Parses a service base URL: http(s) only, no credentials in it (they would end up in logs). */
export function parseServiceUrl (raw: string, setting: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${setting} is not a URL: "${raw.replace(/\/\/[^/@]*@/, '//[redacted]@')}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${setting} must be an http:// or https:// URL, got ${url.protocol}`)
  if (url.username || url.password) throw new ConfigError(`${setting} must not carry credentials: give them in the credential settings instead (they are kept as secrets, never logged)`)
  url.hash = ''
  url.search = ''
  if (!url.pathname.endsWith('/')) url.pathname += '/'
  return url
}

/** The URL without a trailing slash, for messages. */
export function showUrl (url: URL): string {
  return url.href.replace(/\/$/, '')
}

export function basicAuth (username: string, password: Secret): string {
  return `Basic ${Buffer.from(`${username}:${password.reveal()}`).toString('base64')}`
}

/** Replaces every secret's value (and its base64 forms in auth headers) by [redacted]. */
export function scrub (text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]')
  return out
}

export function newAgent (opts: { caFile?: string, timeoutMs: number }): Agent {
  let ca: string | undefined
  if (opts.caFile) {
    try {
      ca = readFileSync(opts.caFile, 'utf8')
    } catch (err) {
      throw new ConfigError(`The CA file ${opts.caFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
    }
  }
  return new Agent({ connect: { timeout: opts.timeoutMs, ...(ca ? { ca } : {}) }, keepAliveTimeout: 30_000 })
}

export interface CallOptions {
  /** Service name for messages: "Elasticsearch", "SearXNG". */
  service: string
  /** Base URL shown in messages (no secrets). */
  shownUrl: string
  method: 'GET' | 'POST'
  url: URL
  headers: Record<string, string>
  body?: string
  timeoutMs: number
  signal?: AbortSignal | undefined
  dispatcher: Agent
}

/**
 * Sends one request and reads the whole body. Connection failures and the timeout become
 * retriable SearchUnavailableErrors; the caller's own abort is rethrown as its reason.
 */
export async function call (opts: CallOptions): Promise<HttpResponse> {
  opts.signal?.throwIfAborted()
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
  try {
    const res = await request(opts.url, {
      method: opts.method,
      headers: opts.headers,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      signal,
      dispatcher: opts.dispatcher,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, text }
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason
    if (timeout.aborted || isTimeout(err)) {
      throw new SearchUnavailableError(`${opts.service} at ${opts.shownUrl} did not answer within ${opts.timeoutMs} ms`, { cause: err, context: { service: opts.service } })
    }
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
    const code = e.code ?? e.cause?.code
    throw new SearchUnavailableError(`Cannot reach ${opts.service} at ${opts.shownUrl}: ${code ? `${code} ` : ''}${e.cause?.message ?? e.message}`, { cause: err, context: { service: opts.service, ...(code ? { errno: code } : {}) } })
  }
}

function isTimeout (err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || (err as Error).name === 'TimeoutError'
}

/** Retry-After (seconds or an HTTP date) in ms, if the server sent one. */
export function retryAfterMs (headers: HttpResponse['headers']): number | undefined {
  const raw = headers['retry-after']
  const v = Array.isArray(raw) ? raw[0] : raw
  if (v === undefined || v.trim() === '') return undefined
  const s = Number(v)
  if (Number.isFinite(s) && s >= 0) return s * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/** Transient statuses: the request may succeed later. */
export function isTransientStatus (status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500
}

/**
 * The error for a non-2xx status that is not a configuration problem (the backends handle
 * 401/403/404 themselves, with their own settings): transient → retriable, else rejected.
 */
export function statusError (service: string, shownUrl: string, res: HttpResponse, detail: string): Error {
  const context = { service, status: res.status }
  if (isTransientStatus(res.status)) {
    const wait = retryAfterMs(res.headers)
    return new SearchUnavailableError(`${service} at ${shownUrl} answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`, { status: res.status, context: { ...context, ...(wait !== undefined ? { retryAfterMs: wait } : {}) } })
  }
  return new SearchRejectedError(`${service} at ${shownUrl} refused the query (HTTP ${res.status})${detail ? `: ${detail}` : ''}`, { status: res.status, context })
}

/** A short, printable excerpt of a response body for messages. */
export function excerpt (text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}
