/**
 * One source record → the key and value synthq writes: a Document (topic `documents`) or a
 * RealInstruction (topic `realInstructions`). The preset says where each field is; `--map`
 * overrides single fields with dotted paths; `--corpus` and `--license` override the values.
 *
 * The key is the record's stable id when the corpus has one, else `sha256:<hex>` of the
 * normalised text (prompt for seeds): derived from content, so the same record ingested twice
 * has the same key and the second copy is recognised as a duplicate. The id in the value is
 * the key, so a document's id and its Kafka key never disagree.
 */
import { basename } from 'node:path'
import { contentHash } from '../hygiene/normalize.ts'
import { isReject, optionalId, optionalString, requiredText, type FieldResult, type FileContext, type Preset, type Target } from './presets.ts'
import type { JsonObject } from './raw-record.ts'

export const MAPPABLE_FIELDS = ['id', 'text', 'url', 'title', 'corpus', 'license'] as const
export type MappableField = typeof MAPPABLE_FIELDS[number]
export type FieldOverrides = Partial<Record<MappableField, string>>

export interface MappingOptions {
  target: Target
  overrides: FieldOverrides
  /** --corpus: the corpus (documents) or source (seeds) of every record. */
  corpus?: string
  /** --license: the licence of every document. */
  license?: string
  /** ingested_at of the records of this run. */
  now: number
}

export interface DocumentValue {
  id: string
  text: string
  url: string | null
  title: string | null
  corpus: string
  license: string | null
  metadata: Record<string, string>
  ingested_at: number
}

export interface SeedValue {
  id: string
  prompt: string
  source: string
  metadata: Record<string, string>
  ingested_at: number
}

export type Mapped = { key: string, value: DocumentValue | SeedValue } | { reject: string }

/** The key of a record without a stable id: SHA-256 of its normalised text. */
export function contentKey (text: string): string {
  return `sha256:${contentHash(text)}`
}

/** `data/web/x.jsonl.gz` → `x`: the corpus name of generic records that name none. */
export function fileStem (source: string): string {
  if (source === '-') return 'stdin'
  return basename(source).replace(/\.gz$/i, '').replace(/\.[^.]+$/, '')
}

export function mapRecord (rec: JsonObject, preset: Preset, opts: MappingOptions, ctx: FileContext): Mapped {
  const o = opts.overrides
  const text = o.text ? requiredText(rec, o.text) : preset.text(rec)
  if (isReject(text)) return text
  const id = o.id ? optionalId(rec, o.id) : preset.id(rec, text, ctx)
  if (isReject(id)) return id
  const key = id ?? contentKey(text)
  const fromRecord = (path: string | undefined, fallback: () => string | null): FieldResult<string | null> => path ? optionalString(rec, path) : fallback()
  const corpus = opts.corpus ?? fromRecord(o.corpus, () => preset.corpus?.(rec) ?? null)
  if (isReject(corpus)) return corpus
  const metadata = preset.metadata(rec, ctx)
  for (const path of Object.values(o)) if (path) delete metadata[path] // a mapped field is not also metadata
  if (opts.target === 'seeds') {
    return { key, value: { id: key, prompt: text, source: corpus ?? fileStem(ctx.source), metadata, ingested_at: opts.now } }
  }
  const url = o.url ? optionalString(rec, o.url) : preset.url(rec, ctx)
  if (isReject(url)) return url
  const title = o.title ? optionalString(rec, o.title) : preset.title(rec)
  if (isReject(title)) return title
  const license = opts.license ?? fromRecord(o.license, () => preset.recordLicense?.(rec) ?? preset.license)
  if (isReject(license)) return license
  return {
    key,
    value: {
      id: key,
      text,
      url,
      title,
      corpus: corpus ?? (preset.name === 'generic' ? fileStem(ctx.source) : preset.name),
      license: license ?? (o.license ? preset.license : null),
      metadata,
      ingested_at: opts.now,
    },
  }
}
