/**
 * Structured-output dialects: how a chat-completions request asks an OpenAI-compatible server for
 * JSON of a given schema. Servers agree on `/v1/chat/completions` but not on this part:
 *
 * | dialect              | what the request carries                                     | servers                                                                  |
 * |----------------------|--------------------------------------------------------------|--------------------------------------------------------------------------|
 * | `json_schema`        | `response_format: {type: "json_schema", json_schema: {…}}`   | OpenAI, vLLM, SGLang, llama.cpp's llama-server, Ollama ≥ 0.5, LM Studio |
 * | `json_schema_strict` | the same, strict, without the keywords strict mode refuses   | OpenAI when the schema has length or numeric bounds                      |
 * | `json_object_schema` | `response_format: {type: "json_object", schema: {…}}`        | llama-cpp-python's server, llama-server                                  |
 * | `guided_json`        | `guided_json: {…}` (a top-level extra)                        | vLLM before its `structured_outputs` rename                             |
 * | `tgi`                | `response_format: {type: "json_object", value: {…}}`         | Hugging Face TGI's Messages API                                          |
 * | `json_object`        | `response_format: {type: "json_object"}`, schema in the prompt | JSON mode only: valid JSON, shape not enforced                        |
 * | `prompt`             | the schema in the prompt, nothing else                       | any server                                                               |
 *
 * The first five constrain decoding to the schema (a grammar or a guided decoder), so a small
 * model still answers in the right shape; the last two only ask for it. `auto` starts with
 * `json_schema`, and every refusal whose text says the structured-output part is not understood
 * moves the endpoint to the next dialect of {@link FALLBACK_ORDER} — a capability answer, never
 * an outage. `synthq llm check` tries them in that order with one tiny request each.
 */
import { schemaInPrompt } from './protocol.ts'

export const DIALECTS = ['json_schema', 'json_schema_strict', 'json_object_schema', 'guided_json', 'tgi', 'json_object', 'prompt'] as const
export type Dialect = typeof DIALECTS[number]

/** A configured structured-output mode: a dialect, or `auto` (find the first that works). */
export type StructuredOutputMode = Dialect | 'auto'
export const STRUCTURED_OUTPUT_MODES: readonly StructuredOutputMode[] = ['auto', ...DIALECTS]

/** The order in which `auto` and the run-time fallback try dialects: constrained ones first. */
export const FALLBACK_ORDER: readonly Dialect[] = DIALECTS

/** Dialects in which the server constrains its decoding to the schema. */
export function isConstrained (d: Dialect): boolean {
  return d !== 'json_object' && d !== 'prompt'
}

/** The dialect a request starts with under `mode`. */
export function initialDialect (mode: StructuredOutputMode): Dialect {
  return mode === 'auto' ? FALLBACK_ORDER[0]! : mode
}

/**
 * The next dialect to try after `d` was refused (or ignored) with `detail`; undefined after
 * `prompt`. `json_schema_strict` follows `json_schema` only when the refusal names a keyword
 * strict mode does not permit: a server that does not take `json_schema` at all would refuse it
 * just the same.
 */
export function fallbackAfter (d: Dialect, detail = ''): Dialect | undefined {
  const next = FALLBACK_ORDER[FALLBACK_ORDER.indexOf(d) + 1]
  if (next === 'json_schema_strict' && !refusesStrictKeyword(detail)) return FALLBACK_ORDER[FALLBACK_ORDER.indexOf(next) + 1]
  return next
}

/** OpenAI's "'maxLength' is not permitted", and the like from servers that copy its strict mode. */
function refusesStrictKeyword (detail: string): boolean {
  // A keyword as a word of its own: "format" inside "response_format" is not one.
  return /not (permitted|supported|allowed)|unsupported/i.test(detail) && new RegExp(`(^|[^\\w])(${[...NOT_IN_STRICT_MODE].join('|')})($|[^\\w])`).test(detail)
}

export interface DialectRequest {
  /** Fields added to the chat-completions body. */
  readonly body: Record<string, unknown>
  /** The schema must also travel in the system message (the server does not enforce it). */
  readonly schemaInPrompt: boolean
}

/**
 * The structured-output part of a request in dialect `d`. `strict` only matters to OpenAI's
 * `json_schema` (every object closed and every property required).
 */
export function dialectRequest (d: Dialect, schema: object, name: string, strict: boolean): DialectRequest {
  const s = schema as Record<string, unknown>
  switch (d) {
    // The whole schema: vLLM, SGLang and llama.cpp enforce length and count bounds too.
    case 'json_schema': return { body: { response_format: { type: 'json_schema', json_schema: { name, schema: s, strict } } }, schemaInPrompt: false }
    case 'json_schema_strict': return { body: { response_format: { type: 'json_schema', json_schema: { name, schema: strict ? strictSubset(s) : s, strict } } }, schemaInPrompt: false }
    case 'json_object_schema': return { body: { response_format: { type: 'json_object', schema: grammarSafe(s) } }, schemaInPrompt: false }
    case 'guided_json': return { body: { guided_json: s }, schemaInPrompt: false }
    case 'tgi': return { body: { response_format: { type: 'json_object', value: s } }, schemaInPrompt: false }
    case 'json_object': return { body: { response_format: { type: 'json_object' } }, schemaInPrompt: true }
    case 'prompt': return { body: {}, schemaInPrompt: true }
  }
}

/**
 * The longest string bound sent to a server that compiles the schema into a GBNF grammar itself
 * (`json_object_schema`: llama-cpp-python, llama-server). llama-cpp-python 0.3.36 writes one rule
 * per allowed character: above about 1,000 it refuses the grammar ("number of rules … exceeds")
 * and then crashes the server process. The answer is still checked against the full schema.
 */
export const GRAMMAR_MAX_LENGTH = 1_000

/** `schema` with every `maxLength` above GRAMMAR_MAX_LENGTH lowered to it (property names left alone). */
export function grammarSafe (schema: unknown, key?: string): unknown {
  if (Array.isArray(schema)) return schema.map((x) => grammarSafe(x))
  if (!schema || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'maxLength' && key !== 'properties' && typeof v === 'number' && v > GRAMMAR_MAX_LENGTH) out[k] = GRAMMAR_MAX_LENGTH
    else out[k] = grammarSafe(v, k)
  }
  return out
}

/**
 * Keywords OpenAI's strict mode refuses with a 400 ("'maxLength' is not permitted"): length,
 * count and numeric bounds, patterns, formats, defaults. In `json_schema_strict` they are left
 * out; strict decoding guarantees the rest (types, required keys, enums, closed objects), and
 * synthq's own validation of every answer against the full schema still checks these, asking for
 * a repair when one is broken.
 */
const NOT_IN_STRICT_MODE = new Set(['minLength', 'maxLength', 'minItems', 'maxItems', 'uniqueItems', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'pattern', 'format', 'minProperties', 'maxProperties', 'default'])

/** `schema` without the keywords strict mode refuses; property names are left alone. */
export function strictSubset (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictSubset)
  if (!schema || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema)) {
    if (NOT_IN_STRICT_MODE.has(k)) continue
    // `properties` maps names to schemas; `enum`/`const` are values, not schemas.
    if (k === 'properties' || k === '$defs' || k === 'definitions') out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([n, sub]) => [n, strictSubset(sub)]))
    else if (k === 'enum' || k === 'const' || k === 'required') out[k] = v
    else out[k] = strictSubset(v)
  }
  return out
}

/** The messages of a request in a dialect that needs the schema in the prompt: appended to the system message. */
export function withSchemaInPrompt<M extends { role: string, content: string }> (messages: readonly M[], schema: object): Array<M | { role: 'system', content: string }> {
  const first = messages[0]
  return first?.role === 'system'
    ? [{ ...first, content: `${first.content}\n\n${schemaInPrompt(schema)}` }, ...messages.slice(1)]
    : [{ role: 'system', content: schemaInPrompt(schema) }, ...messages]
}

/**
 * Words a server uses when it does not understand the structured-output part of a request:
 * OpenAI ("Invalid parameter: 'response_format'…"), llama-cpp-python (a pydantic error on
 * `response_format.type`: "Input should be 'text' or 'json_object'"), vLLM ("guided_json"…),
 * TGI ("Failed to deserialize … response_format"), and proxies ("unknown field", "extra inputs").
 */
const SHAPE_WORDS = /response_format|json_schema|json_object|guided_(json|decoding)|structured[ _-]?output|grammar|\bunknown field\b|extra (inputs|fields)/i

/**
 * Whether an HTTP refusal is a capability answer — the server says it does not take this request
 * shape — rather than an outage. Some servers answer a shape they do not parse with a 500 (as
 * llama-cpp-python does), so any status counts except those that mean something else for sure:
 * auth and routing (401, 403, 404), rate limits (429), and gateways in front of a server that
 * never saw the request (502, 503, 504).
 */
export function isCapabilityRefusal (status: number | undefined, detail: string): boolean {
  if (status === undefined || status < 400) return false
  if ([401, 403, 404, 408, 429, 502, 503, 504].includes(status)) return false
  return SHAPE_WORDS.test(detail)
}

/** OpenAI's strict mode needs every object closed and every property required. */
export function strictCompatible (schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return true
  const s = schema as { type?: unknown, properties?: Record<string, unknown>, required?: string[], additionalProperties?: unknown, items?: unknown }
  if (s.type === 'object' || s.properties) {
    if (s.additionalProperties !== false) return false
    const props = Object.keys(s.properties ?? {})
    if (!props.every((p) => s.required?.includes(p))) return false
    if (!Object.values(s.properties ?? {}).every(strictCompatible)) return false
  }
  if (s.items && !strictCompatible(s.items)) return false
  return true
}
