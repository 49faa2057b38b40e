/**
 * Tolerant extraction of the JSON object a model was asked for. Endpoints without structured
 * outputs answer in many shapes: bare JSON, a fenced ```json block, JSON after a sentence of
 * prose, or JSON followed by commentary. (The method's reference code only looked inside a
 * fenced json block and lost every bare answer.)
 *
 * Order: the whole text; each fenced block; then the first balanced {…} or […] in the text
 * that parses. Strings are scanned with their escapes, so braces inside them do not count.
 */
import { SynthqError } from '../errors.ts'

/** The model's answer holds no parseable JSON; `raw` is kept for the dead-letter record. */
export class InvalidOutputError extends SynthqError {
  readonly raw: string
  constructor (message: string, raw: string) {
    super('SYNTHQ_RECORD_INVALID', message)
    this.raw = raw
  }
}

function tryParse (text: string): { ok: true, value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    // A raw line break or tab inside a string is not JSON, but its meaning is plain: some
    // grammar-constrained servers (llama-cpp-python's) let models write them. Escaped, the same
    // answer parses (Python's json.loads(strict=False) reads such text the same way).
    const escaped = escapeControlCharsInStrings(text)
    if (escaped === text) return { ok: false }
    try {
      return { ok: true, value: JSON.parse(escaped) }
    } catch {
      return { ok: false }
    }
  }
}

const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' }

/** `text` with control characters inside string literals written as escapes; the rest untouched. */
function escapeControlCharsInStrings (text: string): string {
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (inString) {
      if (c === '\\') { out += c + (text[i + 1] ?? ''); i++; continue }
      if (c === '"') inString = false
      else if (c < ' ') { out += CONTROL_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`; continue }
    } else if (c === '"') inString = true
    out += c
  }
  return out
}

/** The end index (exclusive) of the balanced value starting at `start`, or -1. */
function balancedEnd (text: string, start: number): number {
  const open = text[start]
  const close = open === '{' ? '}' : ']'
  let depth = 0
  let inString = false
  for (let i = start; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
      continue
    }
    if (c === '"') inString = true
    else if (c === open) depth++
    else if (c === close && --depth === 0) return i + 1
  }
  return -1
}

export function extractJson (raw: string): unknown {
  const text = raw.trim().replace(/^\uFEFF/, '')
  if (text === '') throw new InvalidOutputError('the model returned an empty answer', raw)
  const whole = tryParse(text)
  if (whole.ok) return whole.value
  for (const m of text.matchAll(/```[ \t]*(?:json|JSON)?[ \t]*\r?\n([\s\S]*?)```/g)) {
    const fenced = tryParse(m[1]!.trim())
    if (fenced.ok) return fenced.value
  }
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '{' && text[i] !== '[') continue
    const end = balancedEnd(text, i)
    if (end < 0) continue
    const candidate = tryParse(text.slice(i, end))
    if (candidate.ok) return candidate.value
  }
  throw new InvalidOutputError(`the model's answer holds no JSON value (${text.length} characters, starting "${text.slice(0, 60).replace(/\s+/g, ' ')}")`, raw)
}
