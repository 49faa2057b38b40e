/**
 * The documents `npm run bench:scale` feeds: real corpora from ../shared/data (C4 web pages,
 * math/MathOverflow/CS-theory/physics Stack Exchange, unarXive papers), mapped with synthq's own
 * ingest presets, shuffled once with a fixed seed, and put through synthq's document gate
 * (normalise, reject too short or damaged pages) and exact dedup, as bench/peers/work.ts does.
 *
 * Why the gate here: a document the hygiene stage rejects becomes a dead letter (an outcome, fine
 * for the count), but an exact duplicate is dropped with no record at all, by design; the
 * independent count (count.py) knows only records. With duplicates removed before ingest, every
 * input must end as one scored instruction or one dead letter.
 *
 * A run takes N documents of the same shuffled pool from an offset: the runs of one round share
 * the round's slice (a larger run's documents include a smaller one's), and each round has a
 * slice of its own, so medians over rounds are over different documents. The records are
 * written as generic JSON lines (`id`, `text`, `url`, `title`, `corpus`, `license`), which
 * `synthq ingest` maps field by field; the text is the corpus's own, not the gate's normalised
 * form (the pipeline's hygiene stage normalises it, as for any ingest).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkDocument } from '../../src/hygiene/document-gate.ts'
import { tokenizerFor } from '../../src/hygiene/tokenizer.ts'
import { detectPreset, isReject } from '../../src/ingest/presets.ts'
import { isJsonObject, type JsonObject } from '../../src/ingest/raw-record.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import { mulberry32 } from '../../src/util/hash.ts'

export const SHARED_DATA = resolve(fileURLToPath(new URL('../../../shared/data', import.meta.url)))
/** The bottom-up corpora (seeds and decontamination sets are not documents). */
const CORPUS_DIRS = ['web', 'math', 'tech']

export interface PoolDocument { id: string, text: string, url: string | null, title: string | null, corpus: string, license: string | null }

export interface DocumentPool {
  docs: PoolDocument[]
  /** Raw records read, rejected by the gate, dropped as exact duplicates (up to the pool's size). */
  read: number
  rejected: number
  duplicates: number
  /** Documents per corpus in the pool. */
  byCorpus: Record<string, number>
  files: string[]
}

function jsonlFiles (): string[] {
  const out: string[] = []
  for (const d of CORPUS_DIRS) {
    const dir = join(SHARED_DATA, d)
    if (!existsSync(dir)) continue
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.jsonl') && statSync(join(dir, f)).isFile()) out.push(join(dir, f))
  }
  return out
}

/** The first `size` gated, distinct documents of the seeded shuffle of every corpus record. */
export function buildPool (size: number, seed = 7): DocumentPool {
  const files = jsonlFiles()
  if (files.length === 0) throw new Error(`no corpora under ${SHARED_DATA} (web/, math/, tech/)`)
  const raw: Array<{ file: string, rec: JsonObject }> = []
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue
      const rec = JSON.parse(line) as unknown
      if (isJsonObject(rec)) raw.push({ file, rec })
    }
  }
  const rnd = mulberry32(seed)
  for (let i = raw.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[raw[i], raw[j]] = [raw[j]!, raw[i]!]
  }
  const tokenizer = tokenizerFor('llama3')
  tokenizer.load()
  const seen = new Set<string>()
  const ids = new Set<string>()
  const docs: PoolDocument[] = []
  const byCorpus: Record<string, number> = {}
  let read = 0
  let rejected = 0
  let duplicates = 0
  for (const { file, rec } of raw) {
    if (docs.length >= size) break
    read++
    const preset = detectPreset(rec, 'documents')
    if (!preset) { rejected++; continue }
    const ctx = { source: file }
    const text = preset.text(rec)
    const id = isReject(text) ? null : preset.id(rec, text, ctx)
    if (isReject(text) || id === null || isReject(id)) { rejected++; continue }
    const checked = checkDocument(text, { maxTokens: DEFAULT_PIPELINE_OPTIONS.budget.documentTokens, tokenizer, minChars: DEFAULT_PIPELINE_OPTIONS.hygiene.minChars })
    if (!checked.ok) { rejected++; continue }
    if (seen.has(checked.hash) || ids.has(id)) { duplicates++; continue }
    seen.add(checked.hash)
    ids.add(id)
    const url = preset.url(rec, ctx)
    const title = preset.title(rec)
    const corpus = preset.name === 'stackexchange' ? `stackexchange:${id.split(':')[1] ?? ''}` : preset.name
    docs.push({
      id, text, corpus,
      url: isReject(url) ? null : url,
      title: isReject(title) ? null : title,
      license: preset.recordLicense?.(rec) ?? preset.license,
    })
    byCorpus[corpus] = (byCorpus[corpus] ?? 0) + 1
  }
  if (docs.length < size) throw new Error(`only ${docs.length} usable documents in ${SHARED_DATA}; ${size} wanted (lower --docs)`)
  return { docs, read, rejected, duplicates, byCorpus, files }
}

/** Writes `n` documents of the pool from `offset` on as JSON lines, and their ids one per line. */
export function writeInput (pool: DocumentPool, n: number, file: string, idsFile: string, offset = 0): string[] {
  if (offset + n > pool.docs.length) throw new Error(`the pool holds ${pool.docs.length} documents; ${offset + n} wanted`)
  const docs = pool.docs.slice(offset, offset + n)
  writeFileSync(file, docs.map((d) => JSON.stringify(d)).join('\n') + '\n')
  writeFileSync(idsFile, docs.map((d) => d.id).join('\n') + '\n')
  return docs.map((d) => d.id)
}
