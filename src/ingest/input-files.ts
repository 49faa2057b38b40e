/**
 * Turns the command's arguments into the list of inputs to read: files as given, directories
 * walked recursively in sorted order (so two runs read the same records in the same order and
 * the summary is stable), and `-` for standard input. In a directory only known extensions are
 * read — a folder of corpora often also holds READMEs, licences and checksums — and the files
 * left out are counted, not silently ignored. A file named explicitly is read whatever its
 * name: its content says what it is (magic bytes, first character).
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../errors.ts'

export type InputFormat = 'jsonl' | 'json' | 'parquet'
export const INPUT_FORMATS: readonly InputFormat[] = ['jsonl', 'json', 'parquet']

export interface InputSource {
  /** How the input is named in messages and in the rejects file: the path as given, or `-`. */
  name: string
  /** Absent for standard input. */
  path?: string
  /** Bytes on disk (compressed size for .gz); absent for standard input. */
  size?: number
}

const KNOWN_EXTENSION = /\.(jsonl|ndjson|json|parquet)(\.gz)?$/i

/** The format a file name promises, if any: `x.jsonl.gz` → jsonl. */
export function formatFromName (name: string): InputFormat | undefined {
  const m = /\.(jsonl|ndjson|json|parquet)(\.gz)?$/i.exec(name)
  if (!m) return undefined
  const ext = m[1]!.toLowerCase()
  return ext === 'ndjson' ? 'jsonl' : ext as InputFormat
}

export interface ExpandedInputs {
  sources: InputSource[]
  /** Files inside directories that were left out for their extension. */
  skipped: string[]
}

export function expandInputs (args: readonly string[]): ExpandedInputs {
  const sources: InputSource[] = []
  const skipped: string[] = []
  const seen = new Set<string>()
  const add = (path: string, size: number): void => {
    if (seen.has(path)) return // the same file named twice (or inside a named directory) is read once
    seen.add(path)
    sources.push({ name: path, path, size })
  }
  const walk = (dir: string): void => {
    let entries
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch (err) {
      throw new ConfigError(`cannot list directory ${dir}: ${(err as Error).message}`, { cause: err })
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue // .git, .DS_Store, editor swap files
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() || e.isSymbolicLink()) {
        if (!KNOWN_EXTENSION.test(e.name)) { skipped.push(p); continue }
        add(p, statSync(p).size)
      }
    }
  }
  for (const arg of args) {
    if (arg === '-') {
      if (seen.has('-')) throw new ConfigError('standard input (-) can be read only once')
      seen.add('-')
      sources.push({ name: '-' })
      continue
    }
    let st
    try {
      st = statSync(arg)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new ConfigError(code === 'ENOENT' ? `${arg}: no such file or directory (check the path; use - for standard input)` : `${arg}: cannot read: ${(err as Error).message}`, { cause: err })
    }
    if (st.isDirectory()) walk(arg)
    else add(arg, st.size)
  }
  return { sources, skipped }
}
