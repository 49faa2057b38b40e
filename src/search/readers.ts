/**
 * Readers that turn corpus files into index documents, one per shape of data synthq ships or
 * expects (data/README.md): C4 web pages, Stack Exchange Q&A, SQuAD paragraphs, unarXive papers,
 * and any JSONL with named fields. Files may be gzip'd (`.gz`); the format is detected from the
 * first record's fields unless given.
 *
 * Bad input is never dropped silently: each unreadable or wrongly shaped record is reported
 * through `onReject` with its file, line (or JSON path) and reason, and the caller counts it.
 *
 * Ids are stable across rebuilds, so grounded instructions keep pointing at the same documents:
 * C4 `c4-<sha256(text)[0:16]>` (the same id the demo feed gives, src/cli/run.ts), Stack Exchange
 * `stackexchange:<site>:<post_id>`, SQuAD `squad:<article title>:<paragraph index>`, unarXive
 * `arxiv:<paper id>`.
 */
import { createHash } from 'node:crypto'
import { createReadStream, readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline, type Readable } from 'node:stream'
import { createGunzip, gunzipSync } from 'node:zlib'
import { ConfigError } from '../errors.ts'
import type { IndexDoc } from './bm25-index.ts'

export type DocFormat = 'jsonl' | 'squad' | 'stackexchange' | 'c4' | 'unarxive'
export type InputFormat = 'auto' | DocFormat
export const INPUT_FORMATS: readonly InputFormat[] = ['auto', 'jsonl', 'squad', 'stackexchange', 'c4', 'unarxive']

/** Field names (dotted paths allowed, e.g. `meta.title`) for the generic `jsonl` format. */
export interface FieldMap {
  id?: string
  text?: string
  title?: string
  url?: string
}

export interface ReaderOptions {
  format?: InputFormat
  /** Generic JSONL fields; giving any makes `auto` read JSONL files as `jsonl`. */
  fields?: FieldMap
  /** Stack Exchange host, e.g. math.stackexchange.com (default: from the file name). */
  site?: string
  /** Corpus name for generic JSONL documents without a `corpus` field. */
  corpus?: string
}

/** A record that was not indexed, and why. */
export interface Reject {
  file: string
  /** 1-based line of a JSONL file. */
  line?: number
  /** JSON path inside a whole-file JSON (SQuAD), e.g. `data[2].paragraphs[5]`. */
  where?: string
  reason: string
}

export function formatReject (r: Reject): string {
  return `${r.file}${r.line !== undefined ? `:${r.line}` : ''}${r.where ? ` (${r.where})` : ''}: ${r.reason}`
}

export interface ReadHandlers {
  onReject: (r: Reject) => void
  /** Called once the file's format is known (before its first document). */
  onFormat?: (format: DocFormat) => void
  /** Notes about the file as a whole, e.g. a Stack Exchange site that could not be told. */
  onNote?: (note: string) => void
}

/** The id a C4 document gets: the same as the demo feed's (src/cli/run.ts `demoDocuments`). */
export function c4DocumentId (text: string): string {
  return `c4-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`
}

type Json = Record<string, unknown>
/** A converted document, or the reason the record cannot be one. */
type Converted = IndexDoc | { reject: string }

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const kind = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== ''

function pick (rec: Json, path: string): unknown {
  let v: unknown = rec
  for (const part of path.split('.')) {
    if (!isObject(v)) return undefined
    v = v[part]
  }
  return v
}

/** An optional string field: missing/null → null, a string → itself, anything else → a reject reason. */
function optionalString (rec: Json, path: string): string | null | { reject: string } {
  const v = pick(rec, path)
  if (v === undefined || v === null) return null
  if (typeof v === 'string') return v.trim() === '' ? null : v
  return { reject: `field "${path}" must be a string, got ${kind(v)}` }
}

// ── per-format conversion ──────────────────────────────────────────────────────────────────

function fromC4 (rec: Json): Converted {
  const text = rec.text
  if (!nonEmpty(text)) return { reject: `C4 record: field "text" must be a non-empty string, got ${kind(text)}` }
  const url = optionalString(rec, 'url')
  if (isObject(url)) return { reject: `C4 record: ${url.reject}` }
  return { id: c4DocumentId(text), text, title: null, url, corpus: 'c4' }
}

/** The Stack Exchange network's sites that are not <name>.stackexchange.com. */
const SE_HOSTS: Record<string, string> = {
  stackoverflow: 'stackoverflow.com', superuser: 'superuser.com', serverfault: 'serverfault.com',
  askubuntu: 'askubuntu.com', mathoverflow: 'mathoverflow.net', stackapps: 'stackapps.com',
}

/** `math-stackexchange-200.jsonl` → math.stackexchange.com; `stackoverflow_python.jsonl` → stackoverflow.com. */
export function stackExchangeSiteFromFileName (file: string): string | undefined {
  const name = basename(file).toLowerCase()
  const se = /(?:^|[^a-z0-9])([a-z0-9]+)[-_.]stackexchange/.exec(name)
  if (se?.[1]) return `${se[1]}.stackexchange.com`
  for (const [key, host] of Object.entries(SE_HOSTS)) if (new RegExp(`(^|[^a-z0-9])${key}([^a-z0-9]|$)`).test(name)) return host
  return undefined
}

function fromStackExchange (rec: Json, site: string | undefined, file: string): Converted {
  const input = rec.input
  const output = rec.output
  const meta = rec.meta
  if (!nonEmpty(input)) return { reject: `Stack Exchange record: field "input" (the question) must be a non-empty string, got ${kind(input)}` }
  if (typeof output !== 'string') return { reject: `Stack Exchange record: field "output" (the answer) must be a string, got ${kind(output)}` }
  if (!isObject(meta)) return { reject: `Stack Exchange record: field "meta" must be an object, got ${kind(meta)}` }
  const postId = meta.post_id
  if (!(typeof postId === 'number' && Number.isInteger(postId)) && !(typeof postId === 'string' && /^\d+$/.test(postId))) {
    return { reject: `Stack Exchange record: field "meta.post_id" must be a whole number, got ${kind(postId)}` }
  }
  const title = optionalString(rec, 'meta.post_title')
  if (isObject(title)) return { reject: `Stack Exchange record: ${title.reject}` }
  const namespace = site ?? basename(file).replace(/\.gz$/i, '').replace(/\.[^.]+$/, '')
  return {
    id: `stackexchange:${namespace}:${postId}`,
    text: output.trim() === '' ? input : `${input}\n\n${output}`,
    title,
    url: site ? `https://${site}/questions/${postId}` : null,
    corpus: 'stackexchange',
  }
}

/**
 * An unarXive paper as plain text: the abstract, then each section's heading and paragraphs,
 * formulas as their LaTeX, citation/figure/table markers dropped (also used by synthq ingest).
 */
export function unarxiveText (rec: Json): { text: string } | { reject: string } {
  const body = rec.body_text
  if (!Array.isArray(body)) return { reject: `field "body_text" must be an array, got ${kind(body)}` }
  const refs = isObject(rec.ref_entries) ? rec.ref_entries : {}
  // {{formula:<uuid>}} → its LaTeX; citation, figure and table markers → dropped.
  const resolve = (s: string): string => s.replace(/\{\{(formula|cite|figure|table):([^}]*)\}\}/g, (_m, what: string, ref: string) => {
    const entry = refs[ref]
    return what === 'formula' && isObject(entry) && typeof entry.latex === 'string' ? `$${entry.latex}$` : ''
  }).replace(/[ \t]+\n/g, '\n').replace(/ {2,}/g, ' ')
  const parts: string[] = []
  const abstract = isObject(rec.abstract) ? rec.abstract.text : pick(rec, 'metadata.abstract')
  if (nonEmpty(abstract)) parts.push(resolve(abstract.trim()))
  let section: string | undefined
  for (const p of body) {
    if (!isObject(p) || typeof p.text !== 'string') continue
    if (typeof p.section === 'string' && p.section !== section) {
      section = p.section
      if (section.trim()) parts.push(`## ${section.trim()}`)
    }
    const t = resolve(p.text).trim()
    if (t) parts.push(t)
  }
  if (parts.length === 0) return { reject: 'no abstract and no body text' }
  return { text: parts.join('\n\n') }
}

/** unarXive 2022: `paper_id`, `metadata.title`, `abstract.text`, `body_text[].{section,text}`, `ref_entries`. */
function fromUnarxive (rec: Json): Converted {
  const paperId = rec.paper_id
  if (!nonEmpty(paperId)) return { reject: `unarXive record: field "paper_id" must be a non-empty string, got ${kind(paperId)}` }
  const text = unarxiveText(rec)
  if ('reject' in text) return { reject: `unarXive record${text.reject.startsWith('field') ? ': ' : ` ${paperId}: `}${text.reject}` }
  const rawTitle = pick(rec, 'metadata.title')
  return {
    id: `arxiv:${paperId}`,
    text: text.text,
    title: typeof rawTitle === 'string' ? rawTitle.replace(/\s+/g, ' ').trim() : null,
    url: `https://arxiv.org/abs/${paperId}`,
    corpus: 'unarxive',
  }
}

function fromJsonl (rec: Json, fields: Required<FieldMap>, corpus: string | undefined): Converted {
  const text = pick(rec, fields.text)
  if (!nonEmpty(text)) return { reject: `field "${fields.text}" must be a non-empty string, got ${kind(text)}` }
  const rawId = pick(rec, fields.id)
  let id: string
  if (rawId === undefined || rawId === null) id = `doc-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`
  else if (nonEmpty(rawId)) id = rawId
  else if (typeof rawId === 'number' && Number.isFinite(rawId)) id = String(rawId)
  else return { reject: `field "${fields.id}" must be a non-empty string or a number, got ${kind(rawId)}` }
  const title = optionalString(rec, fields.title)
  if (isObject(title)) return title
  const url = optionalString(rec, fields.url)
  if (isObject(url)) return url
  const ownCorpus = optionalString(rec, 'corpus')
  return { id, text, title, url, corpus: (typeof ownCorpus === 'string' ? ownCorpus : null) ?? corpus ?? null }
}

/** The format a JSON object record looks like, or undefined. */
export function detectFormat (rec: Json): Exclude<DocFormat, 'squad'> | undefined {
  if ('paper_id' in rec && 'body_text' in rec) return 'unarxive'
  if ('input' in rec && 'output' in rec && isObject(rec.meta) && 'post_id' in rec.meta) return 'stackexchange'
  if ('text' in rec && 'url' in rec && 'timestamp' in rec) return 'c4'
  if ('text' in rec) return 'jsonl'
  return undefined
}

function converter (format: Exclude<DocFormat, 'squad'>, opts: ReaderOptions, file: string, handlers: ReadHandlers): (rec: Json) => Converted {
  switch (format) {
    case 'c4': return fromC4
    case 'unarxive': return fromUnarxive
    case 'stackexchange': {
      const site = opts.site ?? stackExchangeSiteFromFileName(file)
      if (!site) handlers.onNote?.(`${file}: cannot tell the Stack Exchange site from the file name, so documents get no URL (give --site, e.g. --site math.stackexchange.com)`)
      return (rec) => fromStackExchange(rec, site, file)
    }
    case 'jsonl': {
      const fields: Required<FieldMap> = { id: 'id', text: 'text', title: 'title', url: 'url', ...definedFields(opts.fields) }
      return (rec) => fromJsonl(rec, fields, opts.corpus)
    }
  }
}

function definedFields (f: FieldMap | undefined): FieldMap {
  const out: FieldMap = {}
  for (const k of ['id', 'text', 'title', 'url'] as const) if (f?.[k]) out[k] = f[k]
  return out
}

// ── files ──────────────────────────────────────────────────────────────────────────────────

const isGzip = (file: string): boolean => /\.gz$/i.test(file)
const innerName = (file: string): string => file.replace(/\.gz$/i, '')

function readWhole (file: string): string {
  const raw = readFileSync(file)
  return (isGzip(file) ? gunzipSync(raw) : raw).toString('utf8').replace(/^\uFEFF/, '')
}

/** Whether a file is read as one JSON document (SQuAD, or an array of records) rather than as JSONL. */
function isWholeJson (file: string, format: InputFormat): boolean {
  if (format === 'squad') return true
  return /\.json$/i.test(innerName(file))
}

/**
 * The documents of one file, in order. Records that cannot be documents go to `onReject`; a
 * file that cannot be read at all (missing, corrupt gzip, not JSON) throws a ConfigError.
 */
export async function * readDocuments (file: string, opts: ReaderOptions, handlers: ReadHandlers): AsyncGenerator<IndexDoc> {
  const format = opts.format ?? 'auto'
  if (isWholeJson(file, format)) {
    yield * readWholeJson(file, opts, handlers)
    return
  }
  const fieldsGiven = Object.keys(definedFields(opts.fields)).length > 0
  let convert: ((rec: Json) => Converted) | undefined = format === 'auto'
    ? (fieldsGiven ? converter('jsonl', opts, file, handlers) : undefined)
    : format === 'squad' ? undefined : converter(format, opts, file, handlers)
  if (convert) handlers.onFormat?.(format === 'auto' ? 'jsonl' : format as DocFormat)

  let stream: Readable = createReadStream(file)
  if (isGzip(file)) {
    // pipeline, not pipe: a read error of the file must reach (and end) the line reader too.
    const gunzip = createGunzip()
    pipeline(stream, gunzip, () => { /* errors surface through the line reader */ })
    stream = gunzip
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  let n = 0
  let undetected = 0
  try {
    for await (const raw of lines) {
      n++
      const line = n === 1 ? raw.replace(/^\uFEFF/, '') : raw
      if (line.trim() === '') continue
      let rec: unknown
      try {
        rec = JSON.parse(line)
      } catch (err) {
        handlers.onReject({ file, line: n, reason: `invalid JSON: ${(err as Error).message}` })
        continue
      }
      if (!isObject(rec)) {
        handlers.onReject({ file, line: n, reason: `expected a JSON object, got ${kind(rec)}` })
        continue
      }
      if (!convert) {
        const detected = detectFormat(rec)
        if (!detected) {
          undetected++
          handlers.onReject({ file, line: n, reason: `cannot tell the format from the fields (${Object.keys(rec).slice(0, 8).join(', ') || 'none'}): give --format, or --text-field for generic JSONL` })
          if (undetected >= 20) throw new ConfigError(`${file}: the first 20 records match no known format; give --format, or --text-field for generic JSONL`)
          continue
        }
        convert = converter(detected, opts, file, handlers)
        handlers.onFormat?.(detected)
      }
      const doc = convert(rec)
      if ('reject' in doc) handlers.onReject({ file, line: n, reason: doc.reject })
      else yield doc
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`${file}: cannot read${n ? ` past line ${n}` : ''}: ${(err as Error).message}`, { cause: err, context: { file } })
  } finally {
    lines.close()
    stream.destroy()
  }
}

async function * readWholeJson (file: string, opts: ReaderOptions, handlers: ReadHandlers): AsyncGenerator<IndexDoc> {
  let root: unknown
  try {
    root = JSON.parse(readWhole(file))
  } catch (err) {
    throw new ConfigError(`${file}: cannot read as JSON: ${(err as Error).message}`, { cause: err, context: { file } })
  }
  const format = opts.format ?? 'auto'
  if (format === 'squad' || (format === 'auto' && isObject(root) && Array.isArray(root.data))) {
    handlers.onFormat?.('squad')
    for (const item of squadItems(file, root, handlers.onReject)) yield item.doc
    return
  }
  if (!Array.isArray(root)) throw new ConfigError(`${file}: a .json file must be SQuAD ({"data": [...]}) or an array of records; got ${kind(root)} (use .jsonl for one record per line)`)
  let convert: ((rec: Json) => Converted) | undefined
  if (format !== 'auto') convert = converter(format, opts, file, handlers)
  else if (Object.keys(definedFields(opts.fields)).length > 0) convert = converter('jsonl', opts, file, handlers)
  for (const [i, rec] of root.entries()) {
    if (!isObject(rec)) { handlers.onReject({ file, where: `[${i}]`, reason: `expected a JSON object, got ${kind(rec)}` }); continue }
    if (!convert) {
      const detected = detectFormat(rec)
      if (!detected) { handlers.onReject({ file, where: `[${i}]`, reason: `cannot tell the format from the fields (${Object.keys(rec).slice(0, 8).join(', ')})` }); continue }
      convert = converter(detected, opts, file, handlers)
      handlers.onFormat?.(detected)
    }
    const doc = convert(rec)
    if ('reject' in doc) handlers.onReject({ file, where: `[${i}]`, reason: doc.reject })
    else yield doc
  }
}

// ── SQuAD ──────────────────────────────────────────────────────────────────────────────────

export interface SquadQuestion {
  questionId: string
  question: string
  /** Id of the paragraph document in the index: `squad:<article title>:<paragraph index>`. */
  paragraphId: string
  /** SQuAD 2.0: the paragraph does not contain the answer (the question is still about it). */
  isImpossible: boolean
}

export function squadParagraphId (articleTitle: string, paragraphIndex: number): string {
  return `squad:${articleTitle}:${paragraphIndex}`
}

interface SquadItem { doc: IndexDoc, qas: unknown[], where: string }

function * squadItems (file: string, root: unknown, onReject: (r: Reject) => void): Generator<SquadItem> {
  if (!isObject(root) || !Array.isArray(root.data)) throw new ConfigError(`${file}: not SQuAD JSON (expected {"version", "data": [articles]})`)
  for (const [a, article] of root.data.entries()) {
    const where = `data[${a}]`
    if (!isObject(article) || !nonEmpty(article.title) || !Array.isArray(article.paragraphs)) {
      onReject({ file, where, reason: 'SQuAD article needs a "title" string and a "paragraphs" array' })
      continue
    }
    const title = article.title
    const display = title.replace(/_/g, ' ')
    const url = `https://en.wikipedia.org/wiki/${/%[0-9A-F]{2}/i.test(title) ? title : encodeURIComponent(title.replace(/ /g, '_'))}`
    for (const [p, para] of article.paragraphs.entries()) {
      const pw = `${where}.paragraphs[${p}]`
      if (!isObject(para) || !nonEmpty(para.context)) {
        onReject({ file, where: pw, reason: `SQuAD paragraph needs a non-empty "context" string, got ${isObject(para) ? kind(para.context) : kind(para)}` })
        continue
      }
      yield { doc: { id: squadParagraphId(title, p), text: para.context, title: display, url, corpus: 'squad' }, qas: Array.isArray(para.qas) ? para.qas : [], where: pw }
    }
  }
}

/**
 * Every question of a SQuAD file with the id of its paragraph's document: retrieval ground truth
 * for the attribution evaluation. Malformed questions throw (the file is a test fixture, not a
 * corpus to skim).
 */
export function squadParagraphQuestions (file: string): SquadQuestion[] {
  const out: SquadQuestion[] = []
  const rejects: Reject[] = []
  let root: unknown
  try {
    root = JSON.parse(readWhole(file))
  } catch (err) {
    throw new ConfigError(`${file}: cannot read as JSON: ${(err as Error).message}`, { cause: err, context: { file } })
  }
  for (const item of squadItems(file, root, (r) => rejects.push(r))) {
    for (const [q, qa] of item.qas.entries()) {
      if (!isObject(qa) || !nonEmpty(qa.id) || !nonEmpty(qa.question)) {
        rejects.push({ file, where: `${item.where}.qas[${q}]`, reason: 'SQuAD question needs "id" and "question" strings' })
        continue
      }
      out.push({ questionId: qa.id, question: qa.question, paragraphId: item.doc.id, isImpossible: qa.is_impossible === true })
    }
  }
  if (rejects.length) throw new ConfigError(`${file}: ${rejects.length} malformed SQuAD entries, first: ${formatReject(rejects[0]!)}`)
  return out
}
