/**
 * Fault injection for the LLM simulator: the failures a pipeline meets when it talks to real
 * LLM endpoints, on demand and reproducibly. Random faults are a pure function of (seed, request
 * index), so a run with the same seed and the same request order fails the same way; scripted
 * faults (a queue, or a function of the request) let a test say exactly which request fails how.
 *
 * Kinds, and what the client sees:
 *   rate_limit      429 with `Retry-After` (whole seconds) and `retry-after-ms`, as OpenAI sends
 *   server_error    500 in OpenAI's error shape
 *   reset           the socket is destroyed without a response (a connection error)
 *   timeout         the request is accepted and never answered (until `timeoutHangMs`, then the
 *                   socket is closed): the client's own timeout fires
 *   malformed_json  200, but the content is prose with broken, unparseable JSON-like text
 *   truncated_json  200, a valid answer cut in the middle, finish_reason 'length'
 *   empty           200 with empty content
 * The last three only apply to chat completions; embeddings requests never draw them.
 */
import { hash32 } from './hash.ts'

export const FAULT_KINDS = ['rate_limit', 'server_error', 'reset', 'timeout', 'malformed_json', 'truncated_json', 'empty'] as const
export type FaultKind = typeof FAULT_KINDS[number]

/** Faults that change a successful chat answer rather than the HTTP exchange. */
export const CONTENT_FAULTS: ReadonlySet<FaultKind> = new Set(['malformed_json', 'truncated_json', 'empty'])

export const CHAT_PATH = '/v1/chat/completions'
export const EMBEDDINGS_PATH = '/v1/embeddings'
export type SimPath = typeof CHAT_PATH | typeof EMBEDDINGS_PATH

export interface FaultContext {
  /** 0-based index of the request among all chat and embeddings requests since start. */
  index: number
  path: SimPath
  /** The parsed request body. */
  body: unknown
}

export interface FaultOptions {
  /** Probability of each kind per request (their sum at most 1). */
  rates?: Partial<Record<FaultKind, number>>
  /** Decides a request's fault; returning null falls through to `rates`. */
  script?: (ctx: FaultContext) => FaultKind | null
  /** `Retry-After` of rate_limit faults, seconds; fractions go to `retry-after-ms` (default 1). */
  retryAfterSeconds?: number
  /** How long a `timeout` fault holds the connection before closing it, ms before time scaling (default 600000). */
  timeoutHangMs?: number
}

export function isFaultKind (s: string): s is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(s)
}

export function validateFaultOptions (o: FaultOptions): void {
  let sum = 0
  for (const [kind, rate] of Object.entries(o.rates ?? {})) {
    if (!isFaultKind(kind)) throw new Error(`unknown fault kind "${kind}" (known: ${FAULT_KINDS.join(', ')})`)
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new Error(`fault rate of ${kind} must be between 0 and 1, got ${String(rate)}`)
    sum += rate
  }
  if (sum > 1 + 1e-9) throw new Error(`fault rates add up to ${sum}, more than 1`)
  if (o.retryAfterSeconds !== undefined && !(o.retryAfterSeconds >= 0)) throw new Error('retryAfterSeconds must be ≥ 0')
  if (o.timeoutHangMs !== undefined && !(o.timeoutHangMs >= 0)) throw new Error('timeoutHangMs must be ≥ 0')
}

/** Chooses the fault of each request: queued faults first, then the script, then the rates. */
export class FaultPlan {
  private readonly queued: Array<{ kind: FaultKind, path: SimPath }> = []
  private next = 0

  constructor (private options: FaultOptions, private readonly seed: number) {
    validateFaultOptions(options)
  }

  get retryAfterSeconds (): number {
    return this.options.retryAfterSeconds ?? 1
  }

  get timeoutHangMs (): number {
    return this.options.timeoutHangMs ?? 600_000
  }

  set (options: FaultOptions): void {
    validateFaultOptions(options)
    this.options = options
  }

  /** The next requests to `path` get these faults, in order, before anything else applies. */
  enqueue (kinds: FaultKind[], path: SimPath): void {
    for (const kind of kinds) {
      if (!isFaultKind(kind)) throw new Error(`unknown fault kind "${String(kind)}"`)
      if (path !== CHAT_PATH && CONTENT_FAULTS.has(kind)) throw new Error(`${kind} only applies to ${CHAT_PATH}`)
      this.queued.push({ kind, path })
    }
  }

  draw (path: SimPath, body: unknown): FaultKind | null {
    const index = this.next++
    const qi = this.queued.findIndex((q) => q.path === path)
    if (qi >= 0) return this.queued.splice(qi, 1)[0]!.kind
    const scripted = this.options.script?.({ index, path, body }) ?? null
    if (scripted) return scripted
    const u = hash32(`fault:${index}`, this.seed) / 4294967296
    let acc = 0
    for (const kind of FAULT_KINDS) {
      const rate = this.options.rates?.[kind] ?? 0
      if (rate <= 0) continue
      acc += rate
      if (u < acc) return path !== CHAT_PATH && CONTENT_FAULTS.has(kind) ? null : kind
    }
    return null
  }
}

/**
 * Turns a valid JSON answer into text no JSON parser (nor a tolerant extractor) accepts: the
 * same content in a JavaScript-ish notation — unquoted keys, single quotes, no brackets around
 * lists — after a sentence of prose, with the closing brace missing.
 */
export function malformed (answer: unknown): string {
  const render = (v: unknown): string => {
    if (Array.isArray(v)) return v.map(render).join(', ')
    if (typeof v === 'object' && v !== null) return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${render(x)}`).join('; ')} }`
    if (typeof v === 'string') return `'${v.replace(/["'{}[\]]/g, '')}'`
    return `<${String(v)}>`
  }
  const body = typeof answer === 'object' && answer !== null ? render(answer).replace(/ }$/, '') : `{ value: ${render(answer)}`
  return `Sure! Here is the JSON you asked for:\n${body},\n...and that should cover everything.`
}

/** The first half (or so) of a JSON text, cut inside it. */
export function truncated (json: string): string {
  return json.slice(0, Math.max(1, Math.floor(json.length / 2)))
}
