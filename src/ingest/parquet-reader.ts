/**
 * Parquet, read one row group at a time with hyparquet (pure JavaScript): memory holds one row
 * group's rows, not the file. Strings are decoded with a strict UTF-8 decoder (hyparquet's
 * default replaces bad bytes with U+FFFD), so a row with invalid text is rejected by its row
 * number like a bad JSON line. Values are made JSON-like before mapping: 64-bit integers become
 * numbers when exact (else strings), timestamps ISO strings, raw bytes base64.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import type { ByteCounter } from './byte-source.ts'
import { type JsonObject, type RawRecord } from './raw-record.ts'

/** A string column value whose bytes are not UTF-8; the row holding it is rejected. */
class InvalidUtf8 {
  constructor (readonly bytes: Uint8Array) {}
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const stringFromBytes = (bytes: Uint8Array | undefined): unknown => {
  if (bytes === undefined) return undefined
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return new InvalidUtf8(bytes)
  }
}

/** A row value as JSON would have it; records the columns with invalid UTF-8. */
function plain (v: unknown, path: string, bad: string[]): unknown {
  if (v instanceof InvalidUtf8) { bad.push(path); return Buffer.from(v.bytes).toString('base64') }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<unknown>, (x, i) => plain(x, `${path}[${i}]`, bad))
  if (typeof v === 'object' && v !== null) {
    const out: JsonObject = {}
    for (const [k, x] of Object.entries(v)) out[k] = plain(x, path ? `${path}.${k}` : k, bad)
    return out
  }
  return v
}

export interface ParquetReaderOptions {
  maxBytes: number
  counter: ByteCounter
}

export async function * readParquetRows (path: string, opts: ParquetReaderOptions): AsyncGenerator<RawRecord> {
  const file = await asyncBufferFromFile(path)
  let metadata
  try {
    metadata = await parquetMetadataAsync(file)
  } catch (err) {
    yield { at: { kind: 'row', row: 0 }, raw: '', bytes: 0, reject: `not a readable Parquet file: ${(err as Error).message}`, fatal: true, wholeFile: true }
    return
  }
  const total = Number(metadata.num_rows)
  let rowStart = 0
  const countedBefore = opts.counter.bytes
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows)
    let rows: Array<Record<string, unknown>>
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, parsers: { stringFromBytes } })
    } catch (err) {
      yield { at: { kind: 'row', row: rowStart }, raw: '', bytes: 0, reject: `cannot read the row group of rows ${rowStart}–${rowEnd - 1}: ${(err as Error).message}; the rows before it were read`, fatal: true }
      return
    }
    for (const [i, row] of rows.entries()) {
      const at = { kind: 'row' as const, row: rowStart + i }
      const bad: string[] = []
      const value = plain(row, '', bad) as JsonObject
      const text = JSON.stringify(value)
      const bytes = Buffer.byteLength(text)
      if (bad.length) yield { at, raw: text, bytes, reject: `not valid UTF-8 in column ${bad.join(', ')} (shown base64 in raw)` }
      else if (bytes > opts.maxBytes) yield { at, raw: text.slice(0, 4100), bytes, reject: `record is ${bytes} bytes, over the limit of ${opts.maxBytes} (--max-bytes)` }
      else yield { at, raw: text, bytes, value }
    }
    rowStart = rowEnd
    // Progress in bytes of the file, by the share of rows read.
    opts.counter.bytes = countedBefore + Math.round(file.byteLength * (total ? rowEnd / total : 1))
  }
}
