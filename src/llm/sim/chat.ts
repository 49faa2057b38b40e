/**
 * Chat completions in the simulator: request validation with OpenAI's error messages and
 * `param`s, the choice of what to answer (a `json_schema` response format, else a schema carried
 * in the prompt after SCHEMA_IN_PROMPT_MARKER, else prose), usage accounting, and the response
 * and stream-chunk shapes of OpenAI's API.
 *
 * Answers depend on the conversation, not on the moment: the same messages give the same
 * answer. A follow-up to an answer this simulator gave (a repair turn: "that was not valid JSON,
 * answer again") is answered from the original request's text and seed, so a repair changes
 * nothing unless the schema it asks for changes.
 */
import { SCHEMA_IN_PROMPT_MARKER, SIMULATOR_FINGERPRINT } from '../protocol.ts'
import { answerJson, answerProse, type JsonSchema } from './answer.ts'
import { malformed, truncated, type FaultKind } from './faults.ts'
import { digest, hash32, seedOf } from './hash.ts'
import { HttpError } from './http.ts'
import { estimateTokens } from './text.ts'

export interface ChatMessage { role: string, content: string }

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema', name: string, schema: JsonSchema }

export interface ChatRequest {
  model: string
  messages: ChatMessage[]
  n: number
  maxTokens: number | undefined
  stream: boolean
  includeUsage: boolean
  responseFormat: ResponseFormat
  /** Sampling temperature as sent (absent: the server's default). */
  temperature?: number
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function'])

/** The chat-completions parameters OpenAI accepts; like OpenAI, the simulator refuses any other (a vLLM `guided_json`, say). */
const KNOWN_PARAMS = new Set([
  'model', 'messages', 'temperature', 'top_p', 'n', 'stream', 'stream_options', 'stop', 'max_tokens', 'max_completion_tokens',
  'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'user', 'seed', 'response_format', 'tools',
  'tool_choice', 'parallel_tool_calls', 'service_tier', 'store', 'metadata', 'reasoning_effort', 'modalities', 'audio', 'prediction',
  'web_search_options', 'safety_identifier', 'prompt_cache_key', 'verbosity', 'functions', 'function_call',
])

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function positiveInt (body: Record<string, unknown>, key: string, max: number): number | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new HttpError(400, `Invalid '${key}': expected an integer between 1 and ${max}, got ${JSON.stringify(v)}.`, 'invalid_request_error', key, 'invalid_value')
  return v
}

function messageText (content: unknown, i: number): string {
  if (typeof content === 'string') return content
  if (content === null || content === undefined) return ''
  if (Array.isArray(content)) {
    return content.map((part, j) => {
      if (!isObj(part) || typeof part.type !== 'string') throw new HttpError(400, `Invalid 'messages[${i}].content[${j}]': expected an object with a 'type'.`, 'invalid_request_error', `messages[${i}].content[${j}]`, 'invalid_type')
      return part.type === 'text' && typeof part.text === 'string' ? part.text : ''
    }).join('')
  }
  throw new HttpError(400, `Invalid type for 'messages[${i}].content': expected a string or an array of content parts.`, 'invalid_request_error', `messages[${i}].content`, 'invalid_type')
}

/** Validates the body of POST /v1/chat/completions (the model's existence is checked by the caller). */
export function parseChatRequest (body: Record<string, unknown>): ChatRequest {
  if (typeof body.model !== 'string' || body.model === '') throw new HttpError(400, 'you must provide a model parameter', 'invalid_request_error', 'model', null)
  const unknown = Object.keys(body).find((k) => !KNOWN_PARAMS.has(k))
  if (unknown !== undefined) throw new HttpError(400, `Unrecognized request argument supplied: ${unknown}`, 'invalid_request_error', unknown, 'unknown_parameter')
  const rawMessages = body.messages
  if (!Array.isArray(rawMessages) || rawMessages.length === 0) throw new HttpError(400, "Invalid 'messages': expected a non-empty array of messages.", 'invalid_request_error', 'messages', rawMessages === undefined ? 'missing_required_parameter' : 'invalid_value')
  const messages = rawMessages.map((m, i): ChatMessage => {
    if (!isObj(m)) throw new HttpError(400, `Invalid type for 'messages[${i}]': expected an object.`, 'invalid_request_error', `messages[${i}]`, 'invalid_type')
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) throw new HttpError(400, `Invalid value for 'messages[${i}].role': ${JSON.stringify(m.role)}. Supported values are: ${[...ROLES].map((r) => `'${r}'`).join(', ')}.`, 'invalid_request_error', `messages[${i}].role`, 'invalid_value')
    return { role: m.role, content: messageText(m.content, i) }
  })
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw new HttpError(400, "Invalid type for 'stream': expected a boolean.", 'invalid_request_error', 'stream', 'invalid_type')
  const rf = body.response_format
  let responseFormat: ResponseFormat = { type: 'text' }
  if (rf !== undefined && rf !== null) {
    if (!isObj(rf) || !['text', 'json_object', 'json_schema'].includes(rf.type as string)) throw new HttpError(400, "Invalid value for 'response_format.type': supported values are 'text', 'json_object' and 'json_schema'.", 'invalid_request_error', 'response_format.type', 'invalid_value')
    const extra = Object.keys(rf).find((k) => k !== 'type' && !(rf.type === 'json_schema' && k === 'json_schema'))
    if (extra !== undefined) throw new HttpError(400, `Unrecognized request argument supplied: response_format.${extra}`, 'invalid_request_error', `response_format.${extra}`, 'unknown_parameter')
    if (rf.type === 'json_schema') {
      const js = rf.json_schema
      if (!isObj(js)) throw new HttpError(400, "Missing required parameter: 'response_format.json_schema'.", 'invalid_request_error', 'response_format.json_schema', 'missing_required_parameter')
      if (typeof js.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(js.name)) throw new HttpError(400, "Invalid 'response_format.json_schema.name': must be 1–64 characters of a-z, A-Z, 0-9, '_' or '-'.", 'invalid_request_error', 'response_format.json_schema.name', 'invalid_value')
      if (js.schema !== undefined && !isObj(js.schema) && typeof js.schema !== 'boolean') throw new HttpError(400, "Invalid type for 'response_format.json_schema.schema': expected an object.", 'invalid_request_error', 'response_format.json_schema.schema', 'invalid_type')
      responseFormat = { type: 'json_schema', name: js.name, schema: (js.schema ?? {}) as JsonSchema }
    } else {
      responseFormat = { type: rf.type as 'text' | 'json_object' }
    }
  }
  const so = body.stream_options
  return {
    model: body.model,
    messages,
    n: positiveInt(body, 'n', 16) ?? 1,
    maxTokens: positiveInt(body, 'max_completion_tokens', 1_000_000) ?? positiveInt(body, 'max_tokens', 1_000_000),
    stream: body.stream === true,
    includeUsage: body.stream === true && isObj(so) && so.include_usage === true,
    responseFormat,
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
  }
}

/** The schema carried in the prompt after SCHEMA_IN_PROMPT_MARKER, inside a ```json fence (last one wins). */
export function schemaFromPrompt (messages: ChatMessage[]): JsonSchema | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const text = messages[i]!.content
    const at = text.lastIndexOf(SCHEMA_IN_PROMPT_MARKER)
    if (at < 0) continue
    const m = /```[ \t]*json[ \t]*\r?\n([\s\S]*?)```/i.exec(text.slice(at + SCHEMA_IN_PROMPT_MARKER.length))
    if (!m) continue
    try {
      const schema: unknown = JSON.parse(m[1]!)
      if (isObj(schema) || typeof schema === 'boolean') return schema as JsonSchema
    } catch {
      // a broken schema in the prompt: the "model" falls back to prose, as a real one might
    }
  }
  return undefined
}

/** Prompt tokens as the simulator counts them: ceil(characters / 4) + 4 per message. */
export function promptTokens (messages: ChatMessage[]): number {
  return messages.reduce((acc, m) => acc + estimateTokens(m.content) + 4, 0)
}

/** The prompt as a server would see it after its chat template, for the prefix cache. */
export function promptText (messages: ChatMessage[]): string {
  return messages.map((m) => `<|${m.role}|>\n${m.content}\n`).join('')
}

interface Origin { seed: number, text: string }

/**
 * What a request is about. Prompts with worked examples put the subject last, after a
 * "Document:" header (synthq's synthesis prompts: "New document:", then "Scene:" and other
 * headed lines): the answer is drawn from that document, not from the examples before it.
 * Messages without such a header are used whole.
 */
export function subjectText (content: string): string {
  const headers = [...content.matchAll(/(?:^|\n)(?:new )?document:[ \t]*\n?/gi)]
  const last = headers[headers.length - 1]
  if (!last) return content
  const rest = content.slice(last.index + last[0].length)
  const end = rest.search(/\n\n[A-Z][A-Za-z ]{1,30}:/)
  return end > 0 ? rest.slice(0, end) : rest
}

/**
 * Answers are recognised by their first 1,024 characters, so a client that quotes a long answer
 * back shortened (synthq's repair turn keeps 8,000 characters) is still recognised.
 */
const answerKey = (content: string): string => digest(content.slice(0, 1024))

/** Remembers which request each answer came from, so follow-ups can be traced back to it. */
export class AnswerMemory {
  private readonly map = new Map<string, Origin>()

  constructor (private readonly capacity = 10_000) {}

  remember (content: string, origin: Origin): void {
    if (content === '') return // an empty answer identifies nothing
    const key = answerKey(content)
    this.map.delete(key)
    this.map.set(key, origin)
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!)
  }

  /** The request this conversation continues (the last assistant turn we produced), or a fresh origin. */
  origin (messages: ChatMessage[]): Origin {
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i]!
      if (m.role !== 'assistant') continue
      const known = m.content === '' ? undefined : this.map.get(answerKey(m.content))
      if (known) return known
    }
    const users = messages.filter((m) => m.role === 'user')
    const text = subjectText((users[users.length - 1] ?? messages[messages.length - 1]!).content)
    return { seed: seedOf(JSON.stringify(messages.map((m) => [m.role, m.content]))), text }
  }
}

export interface Choice { content: string, finishReason: 'stop' | 'length' }

export interface AnswerSettings { scoreP1: number | undefined }

/** What the simulated model says: one choice per `n`, with a content fault applied if drawn. */
export function answerChat (req: ChatRequest, origin: Origin, settings: AnswerSettings, fault: FaultKind | null): Choice[] {
  const rf = req.responseFormat
  const schema = rf.type === 'json_schema' ? rf.schema : schemaFromPrompt(req.messages)
  const choices: Choice[] = []
  for (let i = 0; i < req.n; i++) {
    const ctx = { text: origin.text, seed: i === 0 ? origin.seed : hash32(`choice${i}`, origin.seed), ...(settings.scoreP1 === undefined ? {} : { scoreP1: settings.scoreP1 }), variant: `${req.model}@${req.temperature ?? 1}` }
    let value: unknown
    let content: string
    if (schema !== undefined) content = JSON.stringify(value = answerJson(schema, ctx))
    else if (rf.type === 'json_object') content = JSON.stringify(value = { answer: answerProse(ctx) })
    else content = answerProse(ctx)
    let finishReason: Choice['finishReason'] = 'stop'
    if (fault === 'malformed_json') content = malformed(value ?? content)
    else if (fault === 'truncated_json') { content = truncated(content); finishReason = 'length' }
    else if (fault === 'empty') content = ''
    if (req.maxTokens !== undefined && estimateTokens(content) > req.maxTokens) {
      content = Array.from(content).slice(0, req.maxTokens * 4).join('')
      finishReason = 'length'
    }
    choices.push({ content, finishReason })
  }
  return choices
}

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details: { cached_tokens: number }
  completion_tokens_details: { reasoning_tokens: number }
}

export function usageOf (prompt: number, cached: number, choices: Choice[]): Usage {
  const completion = choices.reduce((acc, c) => acc + estimateTokens(c.content), 0)
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
    completion_tokens_details: { reasoning_tokens: 0 },
  }
}

export function completionBody (id: string, created: number, model: string, choices: Choice[], usage: Usage): unknown {
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: choices.map((c, index) => ({ index, message: { role: 'assistant', content: c.content, refusal: null }, logprobs: null, finish_reason: c.finishReason })),
    usage,
    system_fingerprint: SIMULATOR_FINGERPRINT,
  }
}

export function chunkBody (id: string, created: number, model: string, choices: unknown[], usage?: Usage): string {
  const chunk = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: SIMULATOR_FINGERPRINT, choices, ...(usage ? { usage } : {}) }
  return `data: ${JSON.stringify(chunk)}\n\n`
}

/** Splits content into stream deltas of about `tokens` tokens each (never inside a code point). */
export function pieces (content: string, tokens = 4): string[] {
  const chars = Array.from(content)
  const out: string[] = []
  for (let i = 0; i < chars.length; i += tokens * 4) out.push(chars.slice(i, i + tokens * 4).join(''))
  return out
}
