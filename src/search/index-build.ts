/**
 * Builds the embedded BM25 index from corpus files and folders (`synthq index build`): expands
 * folders to their data files, reads each with the matching reader (readers.ts), writes the
 * documents in batched transactions, and accounts for every record: documents indexed and
 * records rejected per file, with reasons, so a bad line is visible, never silently lost.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../errors.ts'
import type { Bm25Index, IndexDoc } from './bm25-index.ts'
import { readDocuments, type DocFormat, type ReaderOptions, type Reject } from './readers.ts'

export { c4DocumentId, squadParagraphId, squadParagraphQuestions, type SquadQuestion } from './readers.ts'

/** Data files a folder contributes: JSONL/JSON, optionally gzip'd; hidden files are skipped. */
const DATA_FILE = /\.(jsonl|ndjson|json)(\.gz)?$/i

/**
 * Files and folders → the data files to read, in order (folders recursively, sorted). A path
 * that does not exist, or a folder without data files, is a ConfigError.
 */
export function listInputFiles (paths: readonly string[]): string[] {
  if (paths.length === 0) throw new ConfigError('No input given: name the files or folders to index, e.g. synthq index build data/web data/math')
  const out: string[] = []
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && DATA_FILE.test(e.name)) out.push(p)
    }
  }
  for (const p of paths) {
    let st
    try {
      st = statSync(p)
    } catch {
      throw new ConfigError(`${p}: no such file or folder`)
    }
    if (st.isDirectory()) {
      const before = out.length
      walk(p)
      if (out.length === before) throw new ConfigError(`${p}: the folder holds no .jsonl, .json or .ndjson files (gzip'd or not)`)
    } else {
      out.push(p)
    }
  }
  return [...new Set(out)]
}

export interface FileReport {
  file: string
  /** The format the file was read as; null when not one record could be read. */
  format: DocFormat | null
  /** Documents written from this file (a repeated id replaces the earlier document). */
  docs: number
  rejects: number
  ms: number
}

export interface BuildReport {
  files: FileReport[]
  docs: number
  rejects: number
  /** Documents in the index afterwards (fewer than `docs` when ids repeat, more when it held some). */
  indexCount: number
  seconds: number
}

export interface BuildOptions extends ReaderOptions {
  /** Documents per transaction (default 2,000). */
  batchSize?: number
  /** Each rejected record, as it happens. */
  onReject?: (r: Reject) => void
  /** Each file, when done. */
  onFile?: (f: FileReport) => void
  /** Notes about whole files (e.g. a Stack Exchange site that cannot be told). */
  onNote?: (note: string) => void
  /** Merge the FTS5 index's segments at the end (default true): faster queries. */
  optimize?: boolean
}

/** Reads every input file into `index`; files that cannot be read at all throw (after the earlier files are written). */
export async function buildIndex (index: Bm25Index, inputs: readonly string[], opts: BuildOptions = {}): Promise<BuildReport> {
  const t0 = performance.now()
  const files = listInputFiles(inputs)
  const batchSize = opts.batchSize ?? 2_000
  const reports: FileReport[] = []
  for (const file of files) {
    const f0 = performance.now()
    const report: FileReport = { file, format: null, docs: 0, rejects: 0, ms: 0 }
    let batch: IndexDoc[] = []
    const flush = (): void => {
      if (batch.length) report.docs += index.add(batch)
      batch = []
    }
    const docs = readDocuments(file, opts, {
      onReject: (r) => { report.rejects++; opts.onReject?.(r) },
      onFormat: (format) => { report.format = format },
      onNote: (note) => opts.onNote?.(note),
    })
    for await (const doc of docs) {
      batch.push(doc)
      if (batch.length >= batchSize) flush()
    }
    flush()
    report.ms = performance.now() - f0
    reports.push(report)
    opts.onFile?.(report)
  }
  if (opts.optimize ?? true) index.optimize()
  return {
    files: reports,
    docs: reports.reduce((n, r) => n + r.docs, 0),
    rejects: reports.reduce((n, r) => n + r.rejects, 0),
    indexCount: index.count,
    seconds: (performance.now() - t0) / 1000,
  }
}
