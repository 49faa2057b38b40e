/**
 * The simulator's "model": answers derived from the request text, deterministic, and — when a
 * JSON Schema is given — valid against it. Tests and benchmarks need answers that pass the
 * pipeline's validation, that differ between documents (so deduplication, topic balance and score
 * filters have something to work on), and that are reproducible (so a failure can be replayed).
 *
 * The generator walks the schema (objects, arrays, strings, numbers, enums, $ref/$defs, anyOf/
 * oneOf/allOf, nullable types) and fills leaves by property name: keyword-like names get the
 * text's distinctive words, narrative names (scene, intention, thought, analysis, …) get
 * sentences built from templates and those words, request-like names (instruction, query, …) read
 * like a user request quoting an excerpt, 0/1 integers are Bernoulli scores and a `total` is the
 * sum of the 0/1 scores next to it. Numbers and booleans are generated before strings, so an
 * `analysis` can agree with its sibling `score`.
 */
import { hash32, pick, rng, unit } from './hash.ts'
import { simulatedResponse, simulatedVerdict } from './respond.ts'
import { analyze, clip, excerpt, type TextAnalysis } from './text.ts'

/** A JSON Schema (draft-07 / 2020-12 subset, as used by OpenAI structured outputs). */
export type JsonSchema = boolean | { [keyword: string]: unknown }
type SchemaObject = { [keyword: string]: unknown }

export interface AnswerContext {
  /** What the answer is about: the last user message of the request (the document or instruction). */
  text: string
  /** Seed of the whole request: the same conversation gives the same answer. */
  seed: number
  /** P(1) of each binary 0/1 score (default 0.89: reproduces the paper's score distribution). */
  scoreP1?: number
  /** The model and temperature asked (`model@temperature`): only responses (respond.ts) vary with it. */
  variant?: string
}

/** Default P(score = 1): 7 independent criteria give 7/7 ≈ 44 %, 6/7 ≈ 38 %, 5/7 ≈ 14 %, mean ≈ 6.2. */
export const DEFAULT_SCORE_P1 = 0.89

const MAX_DEPTH = 10

// Property-name classes; a name is matched whole first, then by its words from last to first.
const CLASSES: Record<string, string[]> = {
  keywords: ['keywords', 'keyword', 'concepts', 'concept', 'topics', 'tags', 'tag', 'keyphrases', 'keyphrase', 'phrases', 'entities', 'entity', 'terms', 'term', 'subjects'],
  topic: ['topic', 'domain', 'category', 'categories', 'subject', 'theme', 'themes', 'field'],
  intention: ['intention', 'intent', 'goal', 'purpose', 'aim', 'objective'],
  motivation: ['motivation', 'motive', 'why', 'need', 'needs'],
  identity: ['identity', 'persona', 'user', 'role', 'profile', 'who', 'audience', 'asker', 'author'],
  scene: ['scene', 'situation', 'scenario', 'context', 'background', 'setting', 'story'],
  thought: ['thought', 'thoughts', 'thinking', 'plan', 'reasoning', 'steps'],
  analysis: ['analysis', 'rationale', 'explanation', 'justification', 'critique', 'comment', 'comments', 'feedback', 'reason', 'assessment', 'evaluation', 'judgement', 'judgment', 'verdict', 'notes', 'note'],
  instruction: ['instruction', 'query', 'question', 'prompt', 'request', 'task', 'problem'],
  ability: ['ability', 'abilities', 'skill', 'skills', 'capability', 'capabilities'],
  knowledge: ['knowledge', 'expertise', 'discipline'],
  extra: ['extra_information', 'information', 'details', 'detail', 'evidence', 'excerpt', 'quote', 'quotes', 'facts'],
  output: ['output', 'format', 'deliverable', 'expected_output', 'answer_format'],
  summary: ['summary', 'description', 'abstract', 'overview', 'gist', 'caption'],
  title: ['title', 'name', 'label', 'heading', 'headline'],
  answer: ['answer', 'response', 'reply', 'content', 'text', 'body', 'message', 'completion', 'solution'],
  language: ['language', 'lang', 'locale'],
  id: ['id', 'uuid', 'identifier'],
  url: ['url', 'uri', 'link', 'href', 'source'],
}
const CLASS_OF = new Map<string, string>()
for (const [cls, names] of Object.entries(CLASSES)) for (const n of names) CLASS_OF.set(n, cls)

/** The semantic class of a property name ('generic' when none matches). */
export function nameClass (name: string): string {
  const norm = name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '')
  const whole = CLASS_OF.get(norm)
  if (whole) return whole
  const parts = norm.split('_')
  for (let i = parts.length - 1; i >= 0; i--) {
    const c = CLASS_OF.get(parts[i]!)
    if (c) return c
  }
  return 'generic'
}

const ROLES = ['a graduate student', 'a high-school teacher', 'a small-business owner', 'a software engineer', 'a journalist',
  'a policy analyst', 'a hobbyist', 'a product manager', 'a nurse', 'a retired engineer', 'a science blogger', 'a local historian']
const DELIVERABLES = ['one-page briefing', 'lesson plan', 'decision checklist', 'short report', 'comparison table',
  'step-by-step guide', 'FAQ for newcomers', 'risk assessment']
const FALLBACK_WORDS = ['the main topic', 'the details', 'the context', 'the consequences', 'the evidence', 'the next steps']

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)
const humanize = (name: string): string => name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase().trim()

function isObject (v: unknown): v is SchemaObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function num (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** Integer 0/1 scores: `integer` with minimum 0 and maximum 1, or an enum of exactly 0 and 1. */
export function isBinaryScore (s: JsonSchema): boolean {
  if (!isObject(s)) return false
  if (Array.isArray(s.enum)) return s.enum.length === 2 && s.enum.includes(0) && s.enum.includes(1)
  return s.type === 'integer' && s.minimum === 0 && s.maximum === 1
}

class Generator {
  private readonly a: TextAnalysis
  private readonly p1: number
  /** Every 0/1 score generated, by JSON pointer, for `total` fields. */
  private readonly binaries: Array<[string, number]> = []

  constructor (private readonly root: JsonSchema, private readonly ctx: AnswerContext) {
    this.a = analyze(ctx.text)
    this.p1 = ctx.scoreP1 ?? DEFAULT_SCORE_P1
  }

  /** Resolves $ref, allOf and anyOf/oneOf (first non-null branch) into one plain schema. */
  private resolve (s: JsonSchema, depth = 0): SchemaObject {
    if (!isObject(s) || depth > 20) return {}
    let out: SchemaObject = s
    if (typeof out.$ref === 'string') {
      const { $ref, ...rest } = out
      out = { ...this.resolve(this.deref($ref as string), depth + 1), ...rest }
    }
    if (Array.isArray(out.allOf)) {
      const { allOf, ...rest } = out
      let merged: SchemaObject = {}
      for (const part of allOf as JsonSchema[]) {
        const p = this.resolve(part, depth + 1)
        merged = {
          ...merged, ...p,
          properties: { ...(merged.properties as object | undefined), ...(p.properties as object | undefined) },
          required: [...(merged.required as string[] | undefined ?? []), ...(p.required as string[] | undefined ?? [])],
        }
      }
      out = { ...merged, ...rest }
      if (Object.keys(out.properties as object).length === 0) delete out.properties
      if ((out.required as string[]).length === 0) delete out.required
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const branches = out[key]
      if (!Array.isArray(branches) || branches.length === 0) continue
      const { [key]: _omit, ...rest } = out
      const nonNull = (branches as JsonSchema[]).find((b) => !(isObject(b) && b.type === 'null')) ?? branches[0] as JsonSchema
      out = { ...rest, ...this.resolve(nonNull, depth + 1) }
    }
    return out
  }

  private deref (ref: string): JsonSchema {
    if (!ref.startsWith('#')) return {}
    let node: unknown = this.root
    for (const raw of ref.slice(1).split('/').filter((p) => p !== '')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~')
      node = isObject(node) ? node[key] : undefined
    }
    return isObject(node) || typeof node === 'boolean' ? node : {}
  }

  private kind (s: SchemaObject): string {
    if ('const' in s) return 'const'
    if (Array.isArray(s.enum) && s.enum.length > 0) return 'enum'
    const t = s.type
    if (typeof t === 'string') return t
    if (Array.isArray(t)) return (t.find((x) => x !== 'null') ?? 'null') as string
    if (s.properties || s.required || s.additionalProperties !== undefined) return 'object'
    if (s.items || s.prefixItems) return 'array'
    if (s.minimum !== undefined || s.maximum !== undefined || s.multipleOf !== undefined) return 'number'
    return 'string'
  }

  /** Keywords in a per-field order: the six most distinctive, shuffled by the field's seed. */
  private words (path: string): string[] {
    const base = this.a.keywords.length ? this.a.keywords.slice(0, 6) : [...FALLBACK_WORDS]
    while (base.length < 4) base.push(FALLBACK_WORDS[base.length]!)
    const r = rng(hash32(`words${path}`, this.ctx.seed))
    for (let i = base.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1))
      const t = base[i]!
      base[i] = base[j]!
      base[j] = t
    }
    return base
  }

  value (schema: JsonSchema, name: string, path: string, depth: number, siblings?: Record<string, unknown>, parent?: string): unknown {
    if (schema === false) return null
    const s = this.resolve(schema)
    switch (this.kind(s)) {
      case 'const': return s.const
      case 'enum': return this.enumValue(s, path)
      case 'null': return null
      case 'boolean': return this.boolean(name, path)
      case 'integer': return this.number(s, name, path, true)
      case 'number': return this.number(s, name, path, false)
      case 'array': return this.array(s, name, path, depth)
      case 'object': return depth >= MAX_DEPTH && this.nullable(s) ? null : this.object(s, path, depth)
      default: return this.string(s, name, path, siblings, parent)
    }
  }

  private nullable (s: SchemaObject): boolean {
    return Array.isArray(s.type) && s.type.includes('null')
  }

  private enumValue (s: SchemaObject, path: string): unknown {
    const options = s.enum as unknown[]
    if (isBinaryScore(s)) return this.binary(path)
    const nonNull = options.filter((o) => o !== null)
    return pick(nonNull.length ? nonNull : options, unit(this.ctx.seed, `enum${path}`))
  }

  private binary (path: string): number {
    const v = unit(this.ctx.seed, `score${path}`) < this.p1 ? 1 : 0
    this.binaries.push([path, v])
    return v
  }

  private boolean (name: string, path: string): boolean {
    const p = /pass|meet|satisf|valid|accept|good|ok$/i.test(name) ? this.p1 : 0.5
    return unit(this.ctx.seed, `bool${path}`) < p
  }

  private bounds (s: SchemaObject, integer: boolean): { lo: number | undefined, hi: number | undefined } {
    let lo = num(s.minimum)
    let hi = num(s.maximum)
    const exLo = s.exclusiveMinimum === true ? lo : num(s.exclusiveMinimum)
    const exHi = s.exclusiveMaximum === true ? hi : num(s.exclusiveMaximum)
    if (s.exclusiveMinimum === true) lo = undefined
    if (s.exclusiveMaximum === true) hi = undefined
    if (exLo !== undefined) {
      const v = integer ? Math.floor(exLo) + 1 : exLo + Math.max(Math.abs(exLo) * 1e-9, 1e-9)
      lo = lo === undefined ? v : Math.max(lo, v)
    }
    if (exHi !== undefined) {
      const v = integer ? Math.ceil(exHi) - 1 : exHi - Math.max(Math.abs(exHi) * 1e-9, 1e-9)
      hi = hi === undefined ? v : Math.min(hi, v)
    }
    if (integer) {
      if (lo !== undefined) lo = Math.ceil(lo)
      if (hi !== undefined) hi = Math.floor(hi)
    }
    return { lo, hi }
  }

  private number (s: SchemaObject, name: string, path: string, integer: boolean): number {
    if (integer && isBinaryScore(s)) return this.binary(path)
    const cls = name.toLowerCase()
    let { lo, hi } = this.bounds(s, integer)
    const countLike = /(^|_)(count|num|number|n)(_|$)|count$/.test(cls)
    if (lo === undefined && hi === undefined) { lo = countLike ? 1 : 0; hi = countLike ? 10 : 100 }
    else if (lo === undefined) lo = Math.min(0, hi! - 100)
    else if (hi === undefined) hi = Math.max(lo, 0) + (countLike ? 10 : 100)
    if (hi! < lo) hi = lo
    const r = unit(this.ctx.seed, `num${path}`)
    // Ratings lean high, as models' self-reported scores do; other numbers are uniform.
    const f = /score|rating|grade|quality|confidence/.test(cls) ? 0.55 + 0.45 * r : r
    const v = lo + (hi! - lo) * f
    const m = num(s.multipleOf)
    if (m !== undefined && m > 0) {
      const k = Math.min(Math.floor(hi! / m), Math.max(Math.ceil(lo / m), Math.round(v / m)))
      return Number((k * m).toPrecision(12))
    }
    if (integer) return Math.min(hi!, Math.max(lo, Math.round(v)))
    const short = Number(v.toPrecision(6))
    return short >= lo && short <= hi! ? short : v
  }

  private array (s: SchemaObject, name: string, path: string, depth: number): unknown[] {
    const min = num(s.minItems) ?? 0
    const max = num(s.maxItems) ?? Infinity
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems as JsonSchema[] : Array.isArray(s.items) ? s.items as JsonSchema[] : []
    const rest: JsonSchema = Array.isArray(s.items) ? (s.additionalItems as JsonSchema | undefined ?? {}) : (s.items as JsonSchema | undefined ?? {})
    const itemSchema = this.resolve(rest)
    const cls = nameClass(name)
    const stringItems = this.kind(itemSchema) === 'string'
    // The paper asks for at most 5 keywords; other lists get 3 items (or all tuple positions).
    let want = cls === 'keywords' ? 5 : Math.max(3, prefix.length)
    if (cls === 'keywords' && stringItems) want = Math.min(want, Math.max(this.a.keywords.length, 1))
    if (depth >= MAX_DEPTH) want = 0
    const count = Math.max(min, Math.min(max, want))
    const n = rest === false ? Math.min(count, prefix.length) : count
    const out: unknown[] = []
    const seen = new Set<string>()
    for (let i = 0; i < n; i++) {
      const itemPath = `${path}/${i}`
      const sub = prefix[i] ?? rest
      let v: unknown
      if (cls === 'keywords' && stringItems && i >= prefix.length) v = this.keywordItem(itemSchema, i, itemPath)
      else v = this.value(sub, name, itemPath, depth + 1)
      if (s.uniqueItems === true) v = this.distinct(v, seen, sub, name, itemPath, depth)
      out.push(v)
    }
    return out
  }

  /** uniqueItems: retries a duplicate under other seeds, then marks strings with a counter. */
  private distinct (v: unknown, seen: Set<string>, sub: JsonSchema, name: string, path: string, depth: number): unknown {
    for (let attempt = 1; seen.has(JSON.stringify(v)) && attempt < 8; attempt++) v = this.value(sub, name, `${path}~${attempt}`, depth + 1)
    if (seen.has(JSON.stringify(v)) && typeof v === 'string') {
      const s = this.resolve(sub)
      const max = num(s.maxLength) ?? Infinity
      for (let k = 2; seen.has(JSON.stringify(v)); k++) v = `${clip(v as string, max - String(k).length - 1)} ${k}`
    }
    seen.add(JSON.stringify(v))
    return v
  }

  private keywordItem (s: SchemaObject, i: number, path: string): string {
    const kws = this.a.keywords
    const base = kws[i] ?? `${kws[0] ?? 'topic'} ${i + 1}`
    return this.fit(base, s, path)
  }

  private object (s: SchemaObject, path: string, depth: number): Record<string, unknown> {
    const props = isObject(s.properties) ? s.properties as Record<string, JsonSchema> : {}
    const required = Array.isArray(s.required) ? s.required.filter((k): k is string => typeof k === 'string') : []
    const names = [...Object.keys(props), ...required.filter((k) => !(k in props))]
    const keep = depth >= MAX_DEPTH ? names.filter((k) => required.includes(k)) : names
    // synthq's response and judge prompts (src/processors/response/): answers shaped for them.
    if (path === '' && names.length === 1 && names[0] === 'assistant_response') return { assistant_response: simulatedResponse(this.ctx.text, this.ctx.seed, this.ctx.variant ?? '') }
    if (path === '' && names.includes('better_response') && names.includes('judge_reason') && names.length === 2) return simulatedVerdict(this.ctx.text)
    const values: Record<string, unknown> = {}
    const isTotal = (k: string): boolean => /^(total|total_score|totalscore|overall_score|sum)$/i.test(k)
    const scalar = (k: string): boolean => ['integer', 'number', 'boolean', 'enum', 'const'].includes(this.kind(this.resolve(props[k] ?? {})))
    // Scores before the texts that discuss them; totals last.
    for (const k of keep) if (!isTotal(k) && scalar(k)) values[k] = this.value(props[k] ?? {}, k, `${path}/${k}`, depth + 1)
    for (const k of keep) if (!isTotal(k) && !scalar(k)) values[k] = this.value(props[k] ?? {}, k, `${path}/${k}`, depth + 1, values, path.split('/').pop())
    for (const k of keep) if (isTotal(k)) values[k] = this.total(props[k] ?? {}, k, path, depth)
    const minProps = num(s.minProperties) ?? 0
    const extra = s.additionalProperties
    for (let i = 1; Object.keys(values).length < minProps && extra !== false; i++) {
      const k = `extra_${i}`
      if (!(k in values)) values[k] = this.value(isObject(extra) ? extra : {}, k, `${path}/${k}`, depth + 1)
    }
    const ordered: Record<string, unknown> = {}
    for (const k of keep) ordered[k] = values[k]
    for (const k of Object.keys(values)) if (!(k in ordered)) ordered[k] = values[k]
    return ordered
  }

  /** `total`: the sum of the 0/1 scores generated under the same parent object (outside itself). */
  private total (schema: JsonSchema, name: string, parentPath: string, depth: number): unknown {
    const s = this.resolve(schema)
    const kind = this.kind(s)
    if (kind !== 'integer' && kind !== 'number') return this.value(schema, name, `${parentPath}/${name}`, depth + 1)
    const prefix = `${parentPath}/`
    const own = `${parentPath}/${name}`
    const found = this.binaries.filter(([p]) => p.startsWith(prefix) && !p.startsWith(own) && p.slice(prefix.length).split('/').length <= 4)
    if (found.length === 0) return this.number(s, name, own, kind === 'integer')
    const sum = found.reduce((acc, [, v]) => acc + v, 0)
    const { lo, hi } = this.bounds(s, kind === 'integer')
    return Math.min(hi ?? Infinity, Math.max(lo ?? -Infinity, sum))
  }

  private string (s: SchemaObject, name: string, path: string, siblings?: Record<string, unknown>, parent?: string): string {
    const format = typeof s.format === 'string' ? s.format : undefined
    const text = format ? this.formatted(format, path) : this.phrase(nameClass(name), name, path, siblings, parent)
    return format && ['date-time', 'date', 'time', 'email', 'uri', 'url', 'uuid', 'ipv4'].includes(format) ? text : this.fit(text, s, path)
  }

  private formatted (format: string, path: string): string {
    const h = hash32(`fmt${path}`, this.ctx.seed)
    const day = new Date(Date.UTC(2024, 0, 1) + (h % 365) * 86_400_000)
    const slug = (this.a.keywords[0] ?? 'topic').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'topic'
    const hex = (h.toString(16).padStart(8, '0') + hash32(path, h).toString(16).padStart(8, '0')).repeat(2)
    switch (format) {
      case 'date-time': return day.toISOString().replace('.000Z', 'Z')
      case 'date': return day.toISOString().slice(0, 10)
      case 'time': return '12:00:00Z'
      case 'email': return `${slug}@example.com`
      case 'uri': case 'url': return `https://example.com/${slug}`
      case 'uuid': return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
      case 'ipv4': return `10.${h & 255}.${(h >>> 8) & 255}.${(h >>> 16) & 255}`
      default: return this.phrase('generic', 'value', path)
    }
  }

  /** Fits a text to minLength/maxLength (code points, as JSON Schema counts) and, when it can, to a pattern. */
  private fit (text: string, s: SchemaObject, path: string): string {
    const min = num(s.minLength) ?? 0
    const max = num(s.maxLength) ?? Infinity
    let out = text
    if (typeof s.pattern === 'string') out = this.matchPattern(out, s.pattern, path)
    // Too short: continue with a paragraph about the text, then its sentences, then its keywords.
    const more = [...this.prose(path).split(/(?<=[.!?"])\s+/), ...this.a.sentences, ...this.a.keywords, ...FALLBACK_WORDS]
    for (let i = 0; Array.from(out).length < min; i++) out = `${out}${out ? ' ' : ''}${more[i % more.length]}`
    if (Array.from(out).length > max) out = clip(out, max)
    while (Array.from(out).length < min) out += '.'
    return Array.from(out).slice(0, max).join('')
  }

  private matchPattern (text: string, pattern: string, path: string): string {
    let re: RegExp
    try { re = new RegExp(pattern, 'u') } catch { return text }
    if (re.test(text)) return text
    const h = hash32(`pat${path}`, this.ctx.seed).toString(16)
    const candidates = [...this.a.keywords, ...this.a.keywords.map((k) => k.toLowerCase().replace(/[^a-z0-9]+/g, '_')), h, String(hash32(path) % 1000), 'a', 'A', '0']
    return candidates.find((c) => re.test(c)) ?? text
  }

  /** Text for a string field, by the class of its name. */
  private phrase (cls: string, name: string, path: string, siblings?: Record<string, unknown>, parent?: string): string {
    const [A, B, C, D] = this.words(path) as [string, string, string, string]
    const r = rng(hash32(`tpl${path}`, this.ctx.seed))
    const role = pick(ROLES, r())
    const deliverable = pick(DELIVERABLES, r())
    const ex = excerpt(this.a, pick([A, B, this.a.keywords[0] ?? A], r()))
    const quote = ex ? `"${ex}"` : `the passage on ${A}`
    switch (cls) {
      case 'keywords': return /s$/.test(name) ? [A, B, C].join(', ') : A
      case 'topic': return A
      case 'intention': return pick([
        `The user wants to understand how ${A} relates to ${B} and what that means for ${C}.`,
        `The user asks for a practical plan that applies ${A} to a problem involving ${B}.`,
        `The user wants a clear, well-argued explanation of ${A}, grounded in ${B}.`,
        `The user wants to compare options around ${A} and decide how to handle ${B}.`,
      ], r())
      case 'motivation': return pick([
        `They have to make a decision about ${A} soon and want to understand ${B} before committing.`,
        `Something they read about ${A} contradicts what they believed about ${B}, and they want to know who is right.`,
        `They are preparing material on ${A} for others and need a reliable account of ${B} and ${C}.`,
      ], r())
      case 'identity': return `${cap(role)} interested in ${A}`
      case 'scene': return pick([
        `${cap(role)} is looking into ${A}. A passage they read says ${quote}, which raises a practical question about ${B}. Before acting, they need to understand how ${B} connects to ${C} and what it means for their own situation.`,
        `While preparing a ${deliverable}, ${role} comes across material on ${A} and ${B}. The key line is ${quote}. They want to turn it into something usable, but first have to work out how ${C} fits in.`,
        `${cap(role)} has to explain ${A} to colleagues who doubt its link to ${B}. Quoting ${quote}, they look for an argument that also covers ${C} and ${D}.`,
      ], r())
      case 'thought': return `The document is mainly about ${A}, with details on ${B} and ${C}. Rather than asking to copy facts, a good query should make the reader reason about how ${A} bears on ${B}, quote the key passage, and ask for a concrete ${deliverable}.`
      case 'analysis': {
        const score = siblings ? Object.values(siblings).find((v): v is number => v === 0 || v === 1) : undefined
        const crit = parent && !/^\d+$/.test(parent) ? `the ${humanize(parent)} criterion` : 'this criterion'
        if (score === 1) return `The text is concrete about ${A} and ties it to ${B}, so it meets ${crit}.`
        if (score === 0) return `The text mentions ${A} but stays vague about ${B} and ${C}, so it does not meet ${crit}.`
        return `The text centres on ${A}; its treatment of ${B} is specific, while ${C} is only touched on.`
      }
      case 'instruction': return ex ? pick([
        `Based on this excerpt: "${ex}" — explain how ${A} affects ${B}, and propose a step-by-step plan that ${role} could follow to deal with ${C}.`,
        `I'm ${role} and came across this: "${ex}". Compare ${A} with ${B}: what are the trade-offs, and which approach would you recommend for ${C}? Justify your answer.`,
        `Given the statement "${ex}", write a ${deliverable} about ${A} for readers new to ${B}, including one worked example involving ${C}.`,
        `"${ex}" Using this passage as evidence, assess whether ${A} really explains ${B}. Identify the assumptions, point out what is missing about ${C}, and suggest how to test the claim.`,
        `Read this: "${ex}". Design a ${deliverable} that helps ${role} make a decision about ${A}, taking ${B} and ${C} into account, and explain each step.`,
      ], r()) : `Explain how ${A} relates to ${B}, and write a ${deliverable} about ${C}.`
      case 'ability': return `Analysing ${A}, relating it to ${B}, and turning the result into a ${deliverable}`
      case 'knowledge': return `${cap(A)}; ${B}; background on ${C}`
      case 'extra': return ex ? `The passage: "${ex}"` : `Details on ${A} and ${B}`
      case 'output': return `A ${deliverable} covering ${A} and ${B}`
      case 'summary': return `A text about ${A}, ${B} and ${C}.`
      case 'title': return [A, B].map((w) => w.split(' ').map(cap).join(' ')).join(' and ')
      case 'answer': return this.prose(path)
      case 'language': return 'English'
      case 'id': return `sim-${hash32(`id${path}`, this.ctx.seed).toString(16).padStart(8, '0')}`
      case 'url': return `https://example.com/${A.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'page'}`
      default: return `${cap(A)} in relation to ${B}`
    }
  }

  /** A paragraph about the text, for plain-text answers. */
  prose (path = ''): string {
    const [A, B, C, D] = this.words(`prose${path}`) as [string, string, string, string]
    const r = rng(hash32(`prose${path}`, this.ctx.seed))
    const role = pick(ROLES, r())
    const ex = excerpt(this.a, A)
    return [
      `The text is mainly about ${A}, with ${B} and ${C} as supporting themes.`,
      ex ? `A central statement is: "${ex}"` : '',
      pick([
        `Read closely, it suggests that ${A} cannot be understood without ${B}.`,
        `Its argument links ${A} to ${B}, though the evidence for ${C} is thinner.`,
        `The practical upshot concerns ${B}, and ${C} is where the details matter.`,
      ], r()),
      `In practice, ${role} would weigh ${A} against ${D} before deciding, and check how ${C} changes the picture.`,
    ].filter(Boolean).join(' ')
  }
}

/** A JSON value valid against `schema`, derived from the context's text and seed. */
export function answerJson (schema: JsonSchema, ctx: AnswerContext): unknown {
  return new Generator(schema, ctx).value(schema, '', '', 0)
}

/** A plain-text answer derived from the context's text and seed. */
export function answerProse (ctx: AnswerContext): string {
  return new Generator({}, ctx).prose()
}
