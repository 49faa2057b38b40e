/**
 * What every reader (JSONL, JSON array, Parquet) hands the ingest loop: one source record with
 * where it was found and its original bytes, or the reason it could not be read. Readers never
 * throw for a bad record — only for a file that cannot be read at all — so one broken line
 * never costs the records around it.
 */

/** Where a record sits in its file, in the unit a user would look it up by. */
export type Position =
  | { kind: 'line', line: number }
  | { kind: 'index', index: number }
  | { kind: 'row', row: number }

export type JsonObject = Record<string, unknown>

export interface RawRecord {
  at: Position
  /** The parsed record, absent when `reject` says why there is none. */
  value?: JsonObject
  /** The record as it was in the file (for the rejects file): text when it was UTF-8, else bytes. */
  raw: string | Uint8Array
  /** Size of the record in the file, in bytes (before any truncation of `raw`). */
  bytes: number
  reject?: string
  /** The input cannot be read past this record (a truncated gzip stream, a broken array): the file ends here. */
  fatal?: boolean
  /** The input is not what its format says at all (not an array, not Parquet): nothing in it is a record. */
  wholeFile?: boolean
}

/** `file:12`, `file [3]`, `file row 7`: the form editors and grep users expect. */
export function formatPosition (source: string, at: Position): string {
  switch (at.kind) {
    case 'line': return `${source}:${at.line}`
    case 'index': return `${source} [${at.index}]`
    case 'row': return `${source} row ${at.row}`
  }
}

/** The number a rejects-file line carries in its `line` field (1-based line, 0-based index or row). */
export function positionNumber (at: Position): number {
  return at.kind === 'line' ? at.line : at.kind === 'index' ? at.index : at.row
}

export const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)

export const kindOf = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'an array' : v instanceof Uint8Array ? 'bytes' : typeof v === 'object' ? 'an object' : typeof v

/** UTF-8 that refuses invalid bytes instead of replacing them with U+FFFD. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The text of some bytes, or undefined when they are not valid UTF-8. A leading BOM is dropped. */
export function decodeUtf8 (bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
}

/** Where the first invalid UTF-8 sequence starts, for the reason a user reads. */
export function firstInvalidUtf8 (bytes: Uint8Array): number {
  let lo = 0
  let hi = bytes.length
  // The shortest invalid prefix: binary search over "is this prefix decodable (allowing a cut)".
  const streaming = (n: number): boolean => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, n), { stream: true })
      return true
    } catch {
      return false
    }
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (streaming(mid + 1)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Parses one record's text; the reason is what JSON.parse said, shortened. */
export function parseJsonObject (text: string): { value: JsonObject } | { reject: string } {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    return { reject: `invalid JSON: ${(err as Error).message.slice(0, 200)}` }
  }
  if (!isJsonObject(v)) return { reject: `expected a JSON object, got ${kindOf(v)}` }
  return { value: v }
}
