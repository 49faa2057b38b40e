/**
 * HTTP plumbing for the LLM simulator: bounded body reading, JSON replies and errors in
 * OpenAI's shape (`{ error: { message, type, param, code } }`), so the real `openai` client
 * maps them to its own error classes exactly as it would for the hosted API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface OpenAiErrorBody {
  error: { message: string, type: string, param: string | null, code: string | null }
}

/** Thrown while handling a request; becomes an OpenAI-shaped error reply. */
export class HttpError extends Error {
  constructor (
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }

  body (): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

/** Reads the whole body as UTF-8, refusing more than `limit` bytes (413). */
export async function readBody (req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new HttpError(413, `Request body too large: more than ${limit} bytes.`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Parses a JSON object body; anything else is OpenAI's 400. */
export function parseJsonBody (raw: string): Record<string, unknown> {
  let body: unknown
  try {
    body = JSON.parse(raw)
  } catch {
    throw new HttpError(400, 'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'The request body must be a JSON object.')
  return body as Record<string, unknown>
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export function sendError (res: ServerResponse, err: HttpError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, err.body(), { ...headers, ...err.headers })
}

/**
 * Go-style durations as OpenAI writes them in `x-ratelimit-reset-*`: "120ms", "1.5s", "6m0s".
 */
export function formatDuration (ms: number): string {
  const t = Math.max(0, Math.ceil(ms))
  if (t < 1000) return `${t}ms`
  const h = Math.floor(t / 3_600_000)
  const m = Math.floor((t % 3_600_000) / 60_000)
  const s = Number(((t % 60_000) / 1000).toFixed(3))
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`
}
