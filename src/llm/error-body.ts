/**
 * Servers' error bodies, made readable to the `openai` package. It takes a failed response's
 * message from `{"error": {...}}` (OpenAI's shape) and drops any other JSON body, so a vLLM 400
 * (`{"object": "error", "message": "…"}`) or a proxy's `{"detail": "…"}` reached the user as
 * "400 status code (no body)" — the server's reason lost. This fetch wraps such bodies as
 * `{"error": {"message": …}}`, keeping their other fields; successful responses pass untouched.
 */
import { fetch as undiciFetch, Headers, Response } from 'undici'

type Fetch = typeof undiciFetch

/** The message a non-OpenAI error body carries: its `message`, `detail` or `error` text, else the body itself. */
export function errorMessageOf (body: Record<string, unknown>, text: string): string {
  for (const k of ['message', 'detail', 'error', 'msg']) {
    const v = body[k]
    if (typeof v === 'string' && v !== '') return v
    if (v !== undefined && v !== null && typeof v !== 'object') return String(v)
  }
  return text
}

export function readableErrors (inner: Fetch = undiciFetch): Fetch {
  return (async (input: Parameters<Fetch>[0], init?: Parameters<Fetch>[1]) => {
    const res = await inner(input, init)
    if (res.ok) return res
    const text = await res.text()
    let body = text
    try {
      const json = JSON.parse(text) as unknown
      const error = json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>).error : undefined
      if (json && typeof json === 'object' && !Array.isArray(json) && (error === undefined || typeof error !== 'object' || error === null)) {
        body = JSON.stringify({ error: { ...(json as Record<string, unknown>), message: errorMessageOf(json as Record<string, unknown>, text) } })
      }
    } catch { /* not JSON: the package keeps the text as the message */ }
    const headers = new Headers([...res.headers])
    headers.delete('content-length')
    headers.delete('content-encoding')
    return new Response(body, { status: res.status, statusText: res.statusText, headers })
  }) as Fetch
}
