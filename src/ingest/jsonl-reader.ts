/**
 * JSON lines, split on raw bytes rather than decoded text: each line is decoded on its own with
 * a strict UTF-8 decoder, so a line with invalid bytes is rejected by its number instead of
 * being silently "repaired" with U+FFFD (which is what readline would do). A line longer than
 * --max-bytes is never held whole in memory: past the limit only its first few KiB are kept,
 * for the rejects file, while the reader skips to the next newline.
 */
import { decodeUtf8, firstInvalidUtf8, parseJsonObject, type RawRecord } from './raw-record.ts'

/** How much of a rejected record the rejects file keeps (it truncates to 4 KiB itself). */
const KEEP_FOR_REJECT = 4096 + 4

export interface LineReaderOptions {
  maxBytes: number
}

export async function * readJsonLines (chunks: AsyncIterable<Buffer>, opts: LineReaderOptions): AsyncGenerator<RawRecord> {
  let parts: Buffer[] = []
  let length = 0
  let line = 0
  const take = (seg: Buffer): void => {
    if (length <= opts.maxBytes) {
      parts.push(seg)
      if (length + seg.length > opts.maxBytes) {
        // Over the limit: keep only a prefix for the rejects file, count the rest.
        parts = [Buffer.concat(parts).subarray(0, KEEP_FOR_REJECT)]
      }
    }
    length += seg.length
  }
  const finish = (): RawRecord | undefined => {
    line++
    const total = length
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
    parts = []
    length = 0
    if (total > opts.maxBytes) return { at: { kind: 'line', line }, raw: bytes, bytes: total, reject: `record is ${total} bytes, over the limit of ${opts.maxBytes} (--max-bytes)` }
    if (bytes.length && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1) // CRLF files
    if (line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3)
    const text = decodeUtf8(bytes)
    if (text === undefined) return { at: { kind: 'line', line }, raw: bytes, bytes: total, reject: `not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(bytes)} of the line)` }
    if (text.trim() === '') return undefined // blank lines are layout, not records
    const parsed = parseJsonObject(text)
    return 'reject' in parsed
      ? { at: { kind: 'line', line }, raw: text, bytes: total, reject: parsed.reject }
      : { at: { kind: 'line', line }, raw: text, bytes: total, value: parsed.value }
  }
  try {
    for await (const chunk of chunks) {
      let start = 0
      for (;;) {
        const nl = chunk.indexOf(0x0a, start)
        if (nl === -1) {
          if (start < chunk.length) take(chunk.subarray(start))
          break
        }
        take(chunk.subarray(start, nl))
        const rec = finish()
        if (rec) yield rec
        start = nl + 1
      }
    }
  } catch (err) {
    // The input broke off (truncated gzip, read error): the line in hand is where it broke.
    const partial = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
    yield { at: { kind: 'line', line: line + 1 }, raw: partial, bytes: length, reject: `input breaks off here: ${(err as Error).message}${/unexpected end/i.test((err as Error).message) ? ' (truncated gzip stream)' : ''}; the lines before it were read`, fatal: true }
    return
  }
  if (length > 0) {
    const rec = finish() // a last line without a newline
    if (rec) yield rec
  }
}
