/**
 * Field-mapping presets: how the records of a known corpus become synthq Documents (or seed
 * RealInstructions). Each preset says where text, id, url and title are, which source fields are
 * worth keeping as `metadata`, and the corpus's licence when it has one licence for all records.
 *
 * Ids: a corpus with a stable id keeps it (FineWeb's `id`, Stack Exchange's post id, arXiv's
 * paper id, a seed's `id`). C4, Stack Exchange and unarXive use the very id functions of
 * src/search/readers.ts, so a document ingested here has the id `npm start` and the search
 * index give it, and grounded instructions keep pointing at it. A corpus without ids (PILE,
 * MathPILE) gets a content id: the SHA-256 of its normalised text (src/hygiene/normalize.ts).
 */
import { basename } from 'node:path'
import { c4DocumentId, stackExchangeSiteFromFileName } from '../search/readers.ts'
import { isJsonObject, kindOf, type JsonObject } from './raw-record.ts'
import { unarxiveText as unarxivePaperText } from '../search/readers.ts'

export type Target = 'documents' | 'seeds'
export type PresetName = 'fineweb' | 'pile' | 'mathpile' | 'c4' | 'stackexchange' | 'seeds' | 'unarxive'
export const PRESET_NAMES: readonly PresetName[] = ['fineweb', 'pile', 'mathpile', 'c4', 'stackexchange', 'seeds', 'unarxive']

/** A field's value, or the reason the record cannot be used. */
export type FieldResult<T> = T | { reject: string }
export const isReject = (v: unknown): v is { reject: string } => isJsonObject(v) && typeof v.reject === 'string' && Object.keys(v).length === 1

export interface FileContext {
  /** The input as named on the command line (or `-`). */
  source: string
}

/** How one corpus's records map to synthq fields; every function reads one source record. */
export interface Preset {
  name: PresetName | 'generic'
  target: Target
  /** One line for --help and docs: where each field comes from. */
  fields: Record<string, string>
  license: string | null
  /** Whether a record looks like this corpus (auto-detection, from the first record of a file). */
  matches: (rec: JsonObject) => boolean
  text: (rec: JsonObject) => FieldResult<string>
  /** The corpus's own stable id, or null when it has none (the key is then a content hash). */
  id: (rec: JsonObject, text: string, ctx: FileContext) => FieldResult<string | null>
  url: (rec: JsonObject, ctx: FileContext) => FieldResult<string | null>
  title: (rec: JsonObject) => FieldResult<string | null>
  /** Corpus name from the record itself, when it says (generic records with a `corpus` field). */
  corpus?: (rec: JsonObject) => string | null
  /** Licence from the record itself (unarXive papers carry theirs). */
  recordLicense?: (rec: JsonObject) => string | null
  metadata: (rec: JsonObject, ctx: FileContext) => Record<string, string>
}

export function pick (rec: JsonObject, path: string): unknown {
  let v: unknown = rec
  for (const part of path.split('.')) {
    if (!isJsonObject(v)) return undefined
    v = v[part]
  }
  return v
}

/** The text field: a non-empty string, nothing else. */
export function requiredText (rec: JsonObject, path: string): FieldResult<string> {
  const v = pick(rec, path)
  if (typeof v !== 'string') return { reject: `field "${path}" must be a string, got ${v === undefined ? 'nothing (missing)' : kindOf(v)}` }
  if (v.trim() === '') return { reject: `field "${path}" is empty` }
  return v
}

/** An id field: a string or a whole number (→ its decimal string); missing → null. */
export function optionalId (rec: JsonObject, path: string): FieldResult<string | null> {
  const v = pick(rec, path)
  if (v === undefined || v === null) return null
  if (typeof v === 'string' && v.trim() !== '') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return { reject: `field "${path}" (the id) must be a non-empty string or a number, got ${kindOf(v)}` }
}

/** An optional string field: missing/null/empty → null, another type → a reject. */
export function optionalString (rec: JsonObject, path: string): FieldResult<string | null> {
  const v = pick(rec, path)
  if (v === undefined || v === null) return null
  if (typeof v === 'string') return v.trim() === '' ? null : v
  return { reject: `field "${path}" must be a string, got ${kindOf(v)}` }
}

/** Scalars as metadata strings; objects and arrays are not metadata (they stay in the source). */
export function metadataOf (rec: JsonObject, paths: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, path] of Object.entries(paths)) {
    const v = pick(rec, path)
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[name] = String(v)
  }
  return out
}

/** Every scalar field of an object not already used, as metadata (for generic and seed records). */
export function otherScalars (obj: unknown, used: ReadonlySet<string>, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {}
  if (!isJsonObject(obj)) return out
  for (const [k, v] of Object.entries(obj)) {
    const name = prefix + k
    if (used.has(name)) continue
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[name] = String(v)
  }
  return out
}

const has = (rec: JsonObject, path: string): boolean => pick(rec, path) !== undefined
const noTitle = (): null => null

const fineweb: Preset = {
  name: 'fineweb',
  target: 'documents',
  fields: { id: 'id', text: 'text', url: 'url', metadata: 'dump, date, file_path, language, language_score, token_count' },
  license: 'ODC-By 1.0',
  matches: (r) => typeof r.text === 'string' && (has(r, 'dump') || (has(r, 'token_count') && has(r, 'language_score'))),
  text: (r) => requiredText(r, 'text'),
  id: (r) => optionalId(r, 'id'),
  url: (r) => optionalString(r, 'url'),
  title: noTitle,
  metadata: (r) => metadataOf(r, { dump: 'dump', date: 'date', file_path: 'file_path', language: 'language', language_score: 'language_score', token_count: 'token_count' }),
}

const c4: Preset = {
  name: 'c4',
  target: 'documents',
  fields: { id: 'c4-<sha256(text)[0:16]> (as npm start and the search index)', text: 'text', url: 'url', metadata: 'timestamp' },
  license: 'ODC-BY',
  matches: (r) => typeof r.text === 'string' && has(r, 'url') && has(r, 'timestamp'),
  text: (r) => requiredText(r, 'text'),
  id: (_r, text) => c4DocumentId(text),
  url: (r) => optionalString(r, 'url'),
  title: noTitle,
  metadata: (r) => metadataOf(r, { timestamp: 'timestamp' }),
}

const pile: Preset = {
  name: 'pile',
  target: 'documents',
  fields: { id: 'none (content hash)', text: 'text', metadata: 'pile_set_name (meta.pile_set_name) and the other scalar meta.* fields' },
  license: null, // each PILE subset has its own terms
  matches: (r) => typeof r.text === 'string' && has(r, 'meta.pile_set_name'),
  text: (r) => requiredText(r, 'text'),
  id: () => null,
  url: () => null,
  title: noTitle,
  metadata: (r) => otherScalars(r.meta, new Set()),
}

/** MathPILE's source subset: `subset`, `SubSet` (older releases) or `meta.subset`. */
const mathpileSubset = (r: JsonObject): unknown => r.subset ?? r.SubSet ?? pick(r, 'meta.subset')

const mathpile: Preset = {
  name: 'mathpile',
  target: 'documents',
  fields: { id: 'meta.id when present, else content hash', text: 'text', url: 'meta.url', title: 'meta.title', metadata: 'subset (subset, SubSet or meta.subset) and the other scalar meta.* fields' },
  license: null, // MathPILE mixes sources; CC BY-NC-SA 4.0 at most permissive for the whole, per-source terms otherwise
  matches: (r) => typeof r.text === 'string' && typeof mathpileSubset(r) === 'string',
  text: (r) => requiredText(r, 'text'),
  id: (r) => optionalId(r, 'meta.id'),
  url: (r) => optionalString(r, 'meta.url'),
  title: (r) => { const t = pick(r, 'meta.title'); return typeof t === 'string' && t.trim() ? t : null },
  metadata: (r) => {
    const subset = mathpileSubset(r)
    return { ...otherScalars(r.meta, new Set(['id', 'url', 'title'])), ...(typeof subset === 'string' ? { subset } : {}) }
  },
}

/** Stack Exchange Q&A (EleutherAI math-lm dumps): question `input`, top answer `output`, `meta.post_id`. */
const stackexchange: Preset = {
  name: 'stackexchange',
  target: 'documents',
  fields: { id: 'stackexchange:<site>:<meta.post_id> (site from the file name)', text: 'input + blank line + output', url: 'https://<site>/questions/<meta.post_id>', title: 'meta.post_title', metadata: 'site, post_id, input_score, output_score' },
  license: 'CC BY-SA',
  matches: (r) => typeof r.input === 'string' && 'output' in r && isJsonObject(r.meta) && 'post_id' in r.meta,
  text: (r) => {
    const input = requiredText(r, 'input')
    if (isReject(input)) return input
    const output = r.output
    if (typeof output !== 'string') return { reject: `field "output" (the answer) must be a string, got ${kindOf(output)}` }
    return output.trim() === '' ? input : `${input}\n\n${output}`
  },
  id: (r, _t, ctx) => {
    const postId = pick(r, 'meta.post_id')
    if (!(typeof postId === 'number' && Number.isInteger(postId)) && !(typeof postId === 'string' && /^\d+$/.test(postId))) return { reject: `field "meta.post_id" must be a whole number, got ${kindOf(postId)}` }
    // The same namespace as src/search/readers.ts: the site, else the file's name.
    const namespace = seSite(ctx) ?? (ctx.source === '-' ? 'stdin' : basename(ctx.source).replace(/\.gz$/i, '').replace(/\.[^.]+$/, ''))
    return `stackexchange:${namespace}:${postId}`
  },
  url: (r, ctx) => { const site = seSite(ctx); const id = pick(r, 'meta.post_id'); return site && (typeof id === 'number' || typeof id === 'string') ? `https://${site}/questions/${id}` : null },
  title: (r) => optionalString(r, 'meta.post_title'),
  metadata: (r, ctx) => ({ ...metadataOf(r, { post_id: 'meta.post_id', input_score: 'meta.input_score', output_score: 'meta.output_score' }), ...(seSite(ctx) ? { site: seSite(ctx)! } : {}) }),
}
const seSite = (ctx: FileContext): string | undefined => ctx.source === '-' ? undefined : stackExchangeSiteFromFileName(ctx.source)

/** unarXive 2022 full papers: the same text and id as src/search/readers.ts builds. */
const unarxive: Preset = {
  name: 'unarxive',
  target: 'documents',
  fields: { id: 'arxiv:<paper_id>', text: 'abstract + body_text sections (formulas as $LaTeX$, citation markers dropped)', url: 'https://arxiv.org/abs/<paper_id>', title: 'metadata.title', license: 'metadata.license (per paper)', metadata: 'categories, authors, discipline' },
  license: null,
  matches: (r) => 'paper_id' in r && 'body_text' in r,
  text: (r) => unarxiveText(r),
  id: (r) => { const id = r.paper_id; return typeof id === 'string' && id.trim() ? `arxiv:${id}` : { reject: `field "paper_id" must be a non-empty string, got ${kindOf(id)}` } },
  url: (r) => typeof r.paper_id === 'string' ? `https://arxiv.org/abs/${r.paper_id}` : null,
  title: (r) => { const t = pick(r, 'metadata.title'); return typeof t === 'string' ? t.replace(/\s+/g, ' ').trim() : null },
  recordLicense: (r) => { const l = pick(r, 'metadata.license'); return typeof l === 'string' && l ? l : null },
  metadata: (r) => metadataOf(r, { categories: 'metadata.categories', authors: 'metadata.authors', discipline: 'discipline' }),
}

function unarxiveText (rec: JsonObject): FieldResult<string> {
  const r = unarxivePaperText(rec)
  return 'reject' in r ? { reject: r.reject === 'no abstract and no body text' ? 'unarXive record has no abstract and no body text' : r.reject } : r.text
}

/** Real user prompts (seeds): `id`, `prompt`, `source` (OpenAssistant's shape in data/seeds). */
const seeds: Preset = {
  name: 'seeds',
  target: 'seeds',
  fields: { id: 'id (else content hash of the prompt)', text: 'prompt', corpus: 'source (the seed\'s dataset; else the file name)', metadata: 'the other scalar fields' },
  license: null,
  matches: (r) => typeof r.prompt === 'string',
  text: (r) => requiredText(r, 'prompt'),
  id: (r) => optionalId(r, 'id'),
  url: () => null,
  title: noTitle,
  corpus: (r) => typeof r.source === 'string' && r.source.trim() ? r.source : null,
  metadata: (r) => otherScalars(r, new Set(['id', 'prompt', 'source'])),
}

/** Any other JSON with a `text` field: text, id, url, title as named; other scalar fields → metadata. */
export function genericPreset (target: Target): Preset {
  const text = target === 'seeds' ? 'prompt' : 'text'
  return {
    name: 'generic',
    target,
    fields: { id: 'id (else content hash)', text, url: 'url', title: 'title', corpus: 'corpus', license: 'license', metadata: 'the other scalar fields' },
    license: null,
    matches: (r) => typeof r[text] === 'string',
    text: (r) => requiredText(r, text),
    id: (r) => optionalId(r, 'id'),
    url: (r) => optionalString(r, 'url'),
    title: (r) => optionalString(r, 'title'),
    corpus: (r) => typeof r.corpus === 'string' && r.corpus.trim() ? r.corpus : null,
    recordLicense: (r) => typeof r.license === 'string' && r.license.trim() ? r.license : null,
    metadata: (r) => otherScalars(r, new Set(['id', text, 'url', 'title', 'corpus', 'license'])),
  }
}

export const PRESETS: Readonly<Record<PresetName, Preset>> = { fineweb, pile, mathpile, c4, stackexchange, seeds, unarxive }

/** Detection order: the most specific shapes first (C4's text+url+timestamp before generic text). */
const DETECTION_ORDER: readonly Preset[] = [unarxive, stackexchange, fineweb, c4, pile, mathpile]

/** The preset a record looks like, for a target; generic when it has the text field, else undefined. */
export function detectPreset (rec: JsonObject, target: Target): Preset | undefined {
  if (target === 'seeds') return seeds.matches(rec) ? seeds : undefined
  const found = DETECTION_ORDER.find((p) => p.matches(rec))
  if (found) return found
  const generic = genericPreset('documents')
  return generic.matches(rec) ? generic : undefined
}
