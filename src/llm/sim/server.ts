/**
 * `synthq llm-sim`: an OpenAI-compatible LLM *simulator* on node:http. It stands in for a hosted
 * or self-hosted LLM in tests and benchmarks, speaking the real protocol so that the real
 * `openai` client is what gets exercised — retries, timeouts, rate-limit headers, streaming,
 * base64 embeddings — while its answers are synthetic (model names start with `sim-`,
 * completions carry SIMULATOR_FINGERPRINT).
 *
 *   POST /v1/chat/completions   schema-valid JSON or prose derived from the prompt (answer.ts)
 *   POST /v1/embeddings         feature-hashed unit vectors (embeddings.ts)
 *   GET  /v1/models[/id]        the served models
 *   GET  /sim/stats             counters: requests, statuses, faults, concurrency, tokens
 *
 * Around the answers it simulates a server's behaviour: latency, a concurrency limit with a FIFO
 * queue and prefix caching (profiles.ts, prefix-cache.ts), per-minute budgets with 429s for the
 * hosted profile (limits.ts), and injected faults (faults.ts). See README.md in this folder.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { SIMULATED_MODEL_PREFIX } from '../protocol.ts'
import { AnswerMemory, answerChat, chunkBody, completionBody, parseChatRequest, pieces, promptText, promptTokens, usageOf, type Usage } from './chat.ts'
import { DEFAULT_EMBEDDING_DIMS, embed, toBase64 } from './embeddings.ts'
import { CHAT_PATH, CONTENT_FAULTS, EMBEDDINGS_PATH, FAULT_KINDS, FaultPlan, type FaultKind, type FaultOptions, type SimPath } from './faults.ts'
import { HttpError, parseJsonBody, readBody, sendError, sendJson } from './http.ts'
import { Gate, RateBudget } from './limits.ts'
import { PrefixCache } from './prefix-cache.ts'
import { latencyAt, resolveProfile, type ProfileName, type ProfileSpec, type SimProfile } from './profiles.ts'
import { estimateTokens } from './text.ts'

export const DEFAULT_MODELS = ['sim-chat-8b', 'sim-chat-70b', 'sim-embed-small']

export interface LlmSimOptions {
  /** Interface to bind (default 127.0.0.1). */
  host?: string
  /** Port (default 0: any free port; read it back from `port` / `url`). */
  port?: number
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  /** Served models, all starting with "sim-"; names containing "embed" are embedding models. */
  models?: string[]
  /** Latency profile (default 'instant'), by name or as a named profile with fields replaced. */
  profile?: ProfileName | ProfileSpec
  /** Multiplies every simulated delay and the rate-limit window (default 1; 0.01 = 100× faster). */
  timeScale?: number
  faults?: FaultOptions
  /** Seed of the random fault draws (default 0). */
  seed?: number
  /** P(1) of generated 0/1 scores (default 0.89). */
  scoreP1?: number
  /** Largest request body accepted, bytes (default 32 MiB). */
  maxBodyBytes?: number
}

export interface SimStats {
  profile: string
  timeScale: number
  requests: { total: number, byPath: Record<string, number>, byStatus: Record<string, number> }
  /** Faults injected, by kind. */
  faults: Record<FaultKind, number>
  /** 429s from the profile's rate limits (not injected faults). */
  rateLimited: number
  /** Requests whose client went away before the answer. */
  clientAborts: number
  concurrency: { limit: number | null, inService: number, maxInService: number, queued: number, maxQueued: number }
  queueWaitMs: { total: number, max: number }
  tokens: { prompt: number, completion: number, cachedPrompt: number, embedding: number }
}

export interface LlmSim {
  /** Base URL for OpenAI clients, ending in /v1. */
  readonly url: string
  readonly port: number
  stats (): SimStats
  resetStats (): void
  /** Replaces the fault rates/script (queued faults stay). */
  setFaults (faults: FaultOptions): void
  /** The next requests to `path` (default chat completions) get these faults, in order. */
  queueFaults (kinds: FaultKind[], path?: SimPath): void
  setProfile (profile: ProfileName | ProfileSpec): void
  setTimeScale (timeScale: number): void
  close (): Promise<void>
}

type ModelKind = 'chat' | 'embedding'

const KNOWN_PATHS = new Set([CHAT_PATH, EMBEDDINGS_PATH, '/v1/models', '/sim/stats'])

/** Sends a JSON answer with the simulator's standard headers and counts its status. */
type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void

function zeroStats (): Omit<SimStats, 'profile' | 'timeScale' | 'concurrency'> {
  return {
    requests: { total: 0, byPath: {}, byStatus: {} },
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    rateLimited: 0,
    clientAborts: 0,
    queueWaitMs: { total: 0, max: 0 },
    tokens: { prompt: 0, completion: 0, cachedPrompt: 0, embedding: 0 },
  }
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest()

/** Waits `ms`, or less if `signal` aborts; true when the full time passed. */
async function sleep (ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false
  if (ms <= 0) return true
  try {
    await delay(ms, undefined, { signal })
    return true
  } catch {
    return false
  }
}

class Simulator {
  profile: SimProfile
  timeScale: number
  readonly models: Map<string, ModelKind>
  readonly gate: Gate
  readonly cache: PrefixCache
  readonly faults: FaultPlan
  readonly memory = new AnswerMemory()
  budget: RateBudget | undefined
  counters = zeroStats()
  readonly active = new Set<AbortController>()
  private readonly keyHash: Buffer | undefined
  private readonly created = Math.floor(Date.now() / 1000)

  constructor (private readonly opts: LlmSimOptions) {
    this.profile = resolveProfile(opts.profile)
    this.timeScale = Simulator.checkScale(opts.timeScale ?? 1)
    const names = opts.models ?? DEFAULT_MODELS
    if (names.length === 0) throw new Error('the LLM simulator needs at least one model')
    for (const n of names) if (!n.startsWith(SIMULATED_MODEL_PREFIX)) throw new Error(`simulated model names must start with "${SIMULATED_MODEL_PREFIX}", got "${n}"`)
    this.models = new Map(names.map((n) => [n, /embed/i.test(n) ? 'embedding' : 'chat']))
    this.gate = new Gate(this.profile.maxConcurrent)
    this.cache = new PrefixCache(this.profile.prefixCacheBlocks)
    this.faults = new FaultPlan(opts.faults ?? {}, opts.seed ?? 0)
    this.budget = this.newBudget()
    if (opts.apiKey !== undefined) {
      if (opts.apiKey === '') throw new Error('apiKey must not be empty')
      this.keyHash = sha(`Bearer ${opts.apiKey}`)
    }
    if (opts.scoreP1 !== undefined && !(opts.scoreP1 >= 0 && opts.scoreP1 <= 1)) throw new Error('scoreP1 must be between 0 and 1')
  }

  static checkScale (s: number): number {
    if (!(s >= 0) || !Number.isFinite(s)) throw new Error(`timeScale must be a finite number ≥ 0, got ${s}`)
    return s
  }

  newBudget (): RateBudget | undefined {
    const rl = this.profile.rateLimits
    return rl ? new RateBudget(rl.requestsPerMinute, rl.tokensPerMinute, 60_000 * this.timeScale) : undefined
  }

  setProfile (spec: ProfileName | ProfileSpec): void {
    this.profile = resolveProfile(spec)
    this.gate.setLimit(this.profile.maxConcurrent)
    this.cache.setCapacity(this.profile.prefixCacheBlocks)
    this.budget = this.newBudget()
  }

  stats (): SimStats {
    const c = structuredClone(this.counters)
    return {
      profile: this.profile.name,
      timeScale: this.timeScale,
      ...c,
      concurrency: {
        limit: Number.isFinite(this.profile.maxConcurrent) ? this.profile.maxConcurrent : null,
        inService: this.gate.inService,
        maxInService: this.gate.maxInService,
        queued: this.gate.queued,
        maxQueued: this.gate.maxQueued,
      },
    }
  }

  resetStats (): void {
    this.counters = zeroStats()
    this.gate.resetMaxima()
  }

  async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const ac = new AbortController()
    this.active.add(ac)
    res.on('error', () => { /* the client went away; nothing to tell it */ })
    res.on('close', () => {
      this.active.delete(ac)
      if (!res.writableFinished && !ac.signal.aborted) {
        this.counters.clientAborts++
        ac.abort()
      }
    })
    const base: Record<string, string> = { 'x-request-id': `req_${randomBytes(12).toString('hex')}`, 'x-synthq-llm-sim': '1' }
    const reply: Reply = (status, body, headers = {}) => {
      this.counters.requests.byStatus[status] = (this.counters.requests.byStatus[status] ?? 0) + 1
      sendJson(res, status, body, { ...base, 'openai-processing-ms': String(Math.round(performance.now() - started)), ...headers })
    }
    const url = new URL(req.url ?? '/', 'http://sim')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    // Known paths are counted by name; anything else (scanners, typos) under one key, so the map stays small.
    const counted = KNOWN_PATHS.has(path) ? path : path.startsWith('/v1/models/') ? '/v1/models/{id}' : 'other'
    this.counters.requests.total++
    this.counters.requests.byPath[counted] = (this.counters.requests.byPath[counted] ?? 0) + 1
    try {
      if (req.method === 'GET' && path === '/sim/stats') return reply(200, this.stats())
      if (path.startsWith('/v1/')) this.authorize(req)
      if (req.method === 'GET' && path === '/v1/models') {
        return reply(200, { object: 'list', data: [...this.models.keys()].map((id) => this.modelObject(id)) })
      }
      if (req.method === 'GET' && path.startsWith('/v1/models/')) {
        let id = path.slice('/v1/models/'.length)
        try { id = decodeURIComponent(id) } catch { /* not %-encoded after all: an unknown model */ }
        this.checkModel(id)
        return reply(200, this.modelObject(id))
      }
      if (req.method === 'POST' && path === CHAT_PATH) return await this.chat(req, res, ac.signal, reply)
      if (req.method === 'POST' && path === EMBEDDINGS_PATH) return await this.embeddings(req, res, ac.signal, reply)
      throw new HttpError(404, `Invalid URL (${req.method ?? 'GET'} ${path})`)
    } catch (err) {
      if (res.headersSent || ac.signal.aborted) {
        res.destroy()
        return
      }
      const e = err instanceof HttpError ? err : new HttpError(500, `The simulator failed: ${(err as Error).message}`, 'server_error')
      this.counters.requests.byStatus[e.status] = (this.counters.requests.byStatus[e.status] ?? 0) + 1
      sendError(res, e, { ...base, ...e.headers })
    }
  }

  private modelObject (id: string): unknown {
    return { id, object: 'model', created: this.created, owned_by: 'synthq-llm-sim' }
  }

  /** 401 unless the request carries the configured key; the message never repeats what was sent. */
  private authorize (req: IncomingMessage): void {
    if (!this.keyHash) return
    const sent = req.headers.authorization
    if (!sent) throw new HttpError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null, 'invalid_api_key')
    if (!timingSafeEqual(sha(sent), this.keyHash)) throw new HttpError(401, 'Incorrect API key provided. (The simulator never echoes keys; check the key your client is configured with.)', 'invalid_request_error', null, 'invalid_api_key')
  }

  private checkModel (model: string, kind?: ModelKind): void {
    const k = this.models.get(model)
    if (!k) throw new HttpError(404, `The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model', 'model_not_found')
    if (kind && k !== kind) {
      throw new HttpError(400, kind === 'chat'
        ? `The model \`${model}\` is an embedding model and is not supported in the v1/chat/completions endpoint.`
        : `The model \`${model}\` is a chat model and does not support embeddings.`, 'invalid_request_error', 'model', 'model_not_supported')
    }
  }

  /** Transport-level faults: answered (429, 500) or never answered (reset, timeout). */
  private async transportFault (kind: FaultKind, res: ServerResponse, signal: AbortSignal, reply: Reply): Promise<void> {
    this.counters.faults[kind]++
    if (kind === 'rate_limit') {
      const s = this.faults.retryAfterSeconds
      reply(429, { error: { message: `Rate limit reached. Please try again in ${s}s. (fault injected by synthq llm-sim)`, type: 'requests', param: null, code: 'rate_limit_exceeded' } }, {
        'retry-after': String(Math.ceil(s)),
        'retry-after-ms': String(Math.round(s * 1000)),
        ...this.budget?.peek(),
      })
    } else if (kind === 'server_error') {
      reply(500, { error: { message: 'The server had an error while processing your request. Sorry about that! (fault injected by synthq llm-sim)', type: 'server_error', param: null, code: null } })
    } else if (kind === 'reset') {
      res.socket?.destroy()
    } else if (kind === 'timeout') {
      await sleep(this.faults.timeoutHangMs * this.timeScale, signal)
      res.socket?.destroy()
    }
  }

  /** Hosted profiles: takes from the per-minute budget, or answers 429 with Retry-After. */
  private rateLimit (tokens: number, reply: Reply): Record<string, string> | undefined {
    if (!this.budget) return {}
    const v = this.budget.take(tokens)
    if (v.ok) return v.headers
    this.counters.rateLimited++
    const seconds = v.retryAfterMs / 1000
    reply(429, { error: { message: v.message, type: v.kind, param: null, code: 'rate_limit_exceeded' } }, {
      ...v.headers,
      'retry-after': String(Math.max(1, Math.ceil(seconds))),
      'retry-after-ms': String(Math.ceil(v.retryAfterMs)),
    })
    return undefined
  }

  /** Waits for a slot (recording the wait); false if the client left while queued. */
  private async admit (signal: AbortSignal): Promise<boolean> {
    const t0 = performance.now()
    const ok = await this.gate.acquire(signal)
    const waited = performance.now() - t0
    this.counters.queueWaitMs.total += waited
    this.counters.queueWaitMs.max = Math.max(this.counters.queueWaitMs.max, waited)
    return ok
  }

  private async chat (req: IncomingMessage, res: ServerResponse, signal: AbortSignal, reply: Reply): Promise<void> {
    const body = parseJsonBody(await readBody(req, this.opts.maxBodyBytes ?? 32 * 1024 * 1024))
    const creq = parseChatRequest(body)
    this.checkModel(creq.model, 'chat')
    const fault = this.faults.draw(CHAT_PATH, body)
    if (fault && !CONTENT_FAULTS.has(fault)) return this.transportFault(fault, res, signal, reply)
    if (fault) this.counters.faults[fault]++

    const origin = this.memory.origin(creq.messages)
    const choices = answerChat(creq, origin, { scoreP1: this.opts.scoreP1 }, fault)
    for (const c of choices) this.memory.remember(c.content, origin)
    const prompt = promptTokens(creq.messages)
    const limitHeaders = this.rateLimit(prompt + usageOf(prompt, 0, choices).completion_tokens, reply)
    if (!limitHeaders) return
    const cached = Math.min(prompt, Math.floor(this.cache.lookupAndInsert(promptText(creq.messages)) / 4))
    const usage = usageOf(prompt, cached, choices)

    if (!await this.admit(signal)) return
    try {
      const lat = latencyAt(this.profile, this.gate.inService)
      if (!await sleep((lat.ttftMs + (prompt - cached) * lat.prefillMsPerToken) * this.timeScale, signal)) return
      // Decode speed depends on how many requests share the server once this one starts decoding.
      const itl = latencyAt(this.profile, this.gate.inService).interTokenMs * this.timeScale
      const longest = Math.max(0, ...choices.map((c) => estimateTokens(c.content)))
      const id = `chatcmpl-${randomBytes(12).toString('base64url')}`
      const created = Math.floor(Date.now() / 1000)
      if (creq.stream) await this.stream(res, signal, id, created, creq.model, choices, creq.includeUsage ? usage : undefined, itl, limitHeaders)
      else {
        if (!await sleep(longest * itl, signal)) return
        reply(200, completionBody(id, created, creq.model, choices, usage), limitHeaders)
      }
      this.counters.tokens.prompt += usage.prompt_tokens
      this.counters.tokens.completion += usage.completion_tokens
      this.counters.tokens.cachedPrompt += cached
    } finally {
      this.gate.release()
    }
  }

  private async stream (res: ServerResponse, signal: AbortSignal, id: string, created: number, model: string, choices: ReturnType<typeof answerChat>, usage: Usage | undefined, itlMs: number, headers: Record<string, string>): Promise<void> {
    this.counters.requests.byStatus[200] = (this.counters.requests.byStatus[200] ?? 0) + 1
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-synthq-llm-sim': '1', ...headers })
    const write = (chunk: string): boolean => {
      if (signal.aborted) return false
      res.write(chunk)
      return true
    }
    for (const [index] of choices.entries()) write(chunkBody(id, created, model, [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]))
    for (const [index, c] of choices.entries()) {
      for (const piece of pieces(c.content)) {
        if (!await sleep(estimateTokens(piece) * itlMs, signal)) return
        write(chunkBody(id, created, model, [{ index, delta: { content: piece }, logprobs: null, finish_reason: null }]))
      }
    }
    for (const [index, c] of choices.entries()) write(chunkBody(id, created, model, [{ index, delta: {}, logprobs: null, finish_reason: c.finishReason }]))
    if (usage) write(chunkBody(id, created, model, [], usage))
    if (write('data: [DONE]\n\n')) res.end()
  }

  private async embeddings (req: IncomingMessage, res: ServerResponse, signal: AbortSignal, reply: Reply): Promise<void> {
    const body = parseJsonBody(await readBody(req, this.opts.maxBodyBytes ?? 32 * 1024 * 1024))
    if (typeof body.model !== 'string' || body.model === '') throw new HttpError(400, 'you must provide a model parameter', 'invalid_request_error', 'model', null)
    const inputs = embeddingInputs(body.input)
    const dims = body.dimensions ?? DEFAULT_EMBEDDING_DIMS
    if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > 4096) throw new HttpError(400, "Invalid 'dimensions': expected an integer between 1 and 4096.", 'invalid_request_error', 'dimensions', 'invalid_value')
    const format = body.encoding_format ?? 'float'
    if (format !== 'float' && format !== 'base64') throw new HttpError(400, "Invalid value for 'encoding_format': supported values are 'float' and 'base64'.", 'invalid_request_error', 'encoding_format', 'invalid_value')
    this.checkModel(body.model, 'embedding')
    const fault = this.faults.draw(EMBEDDINGS_PATH, body)
    if (fault && !CONTENT_FAULTS.has(fault)) return this.transportFault(fault, res, signal, reply)

    const tokens = inputs.reduce((acc, t) => acc + estimateTokens(t), 0)
    const limitHeaders = this.rateLimit(tokens, reply)
    if (!limitHeaders) return
    if (!await this.admit(signal)) return
    try {
      const lat = latencyAt(this.profile, this.gate.inService)
      if (!await sleep((lat.ttftMs + tokens * lat.prefillMsPerToken) * this.timeScale, signal)) return
      const data = inputs.map((text, index) => {
        const v = embed(text, dims)
        return { object: 'embedding', index, embedding: format === 'base64' ? toBase64(v) : Array.from(v) }
      })
      reply(200, { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }, limitHeaders)
      this.counters.tokens.embedding += tokens
    } finally {
      this.gate.release()
    }
  }
}

/** `input` of an embeddings request: a string, strings, or token arrays (read as words "t<id>"). */
function embeddingInputs (input: unknown): string[] {
  const bad = (): HttpError => new HttpError(400, "Invalid 'input': expected a non-empty string, an array of non-empty strings, or token arrays.", 'invalid_request_error', 'input', 'invalid_value')
  const tokensText = (a: unknown[]): string => {
    if (a.length === 0 || !a.every((t) => Number.isInteger(t))) throw bad()
    return a.map((t) => `t${String(t)}`).join(' ')
  }
  if (typeof input === 'string') {
    if (input === '') throw bad()
    return [input]
  }
  if (!Array.isArray(input) || input.length === 0 || input.length > 2048) throw bad()
  if (input.every((x) => typeof x === 'number')) return [tokensText(input)]
  return input.map((x) => {
    if (typeof x === 'string' && x !== '') return x
    if (Array.isArray(x)) return tokensText(x)
    throw bad()
  })
}

/** Starts the simulator; resolves once it listens. */
export async function startLlmSim (opts: LlmSimOptions = {}): Promise<LlmSim> {
  const sim = new Simulator(opts)
  const server = createServer((req, res) => { void sim.handle(req, res) })
  const host = opts.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host
  let closing: Promise<void> | undefined
  return {
    url: `http://${urlHost}:${port}/v1`,
    port,
    stats: () => sim.stats(),
    resetStats: () => sim.resetStats(),
    setFaults: (faults) => sim.faults.set(faults),
    queueFaults: (kinds, path = CHAT_PATH) => sim.faults.enqueue(kinds, path),
    setProfile: (profile) => sim.setProfile(profile),
    setTimeScale: (timeScale) => {
      sim.timeScale = Simulator.checkScale(timeScale)
      sim.budget = sim.newBudget()
    },
    close: () => closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const ac of sim.active) ac.abort()
      server.closeAllConnections()
    }),
  }
}
