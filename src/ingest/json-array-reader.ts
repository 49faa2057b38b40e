/**
 * A JSON file whose top level is an array of records, read as a stream: a small scanner finds
 * where each top-level element starts and ends (tracking strings, escapes and nesting), and each
 * element is decoded (strict UTF-8) and parsed on its own. So a 10 GB array needs memory for one
 * record, not the file, and one malformed element is rejected by its index while the others are
 * kept. No library: none of the project's dependencies streams JSON, and this scanner is the
 * whole of what is needed (the parse itself is still JSON.parse).
 *
 * What cannot be recovered from — the top level is not an array, the input ends inside it —
 * ends the file with a fatal reject at the element where it happened.
 */
import { decodeUtf8, firstInvalidUtf8, parseJsonObject, type RawRecord } from './raw-record.ts'

const KEEP_FOR_REJECT = 4096 + 4
const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const isSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

type Phase = 'start' | 'expect-element' | 'element' | 'after-element' | 'done'

export async function * readJsonArray (chunks: AsyncIterable<Buffer>, opts: { maxBytes: number }): AsyncGenerator<RawRecord> {
  let phase: Phase = 'start'
  let index = 0
  let depth = 0
  let inString = false
  let escaped = false
  let parts: Buffer[] = []
  let length = 0
  let first = true
  const take = (seg: Buffer): void => {
    if (length <= opts.maxBytes) {
      parts.push(seg)
      if (length + seg.length > opts.maxBytes) parts = [Buffer.concat(parts).subarray(0, KEEP_FOR_REJECT)]
    }
    length += seg.length
  }
  const finish = (): RawRecord => {
    const at = { kind: 'index' as const, index: index++ }
    const total = length
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
    parts = []
    length = 0
    if (total > opts.maxBytes) return { at, raw: bytes, bytes: total, reject: `record is ${total} bytes, over the limit of ${opts.maxBytes} (--max-bytes)` }
    const text = decodeUtf8(bytes)
    if (text === undefined) return { at, raw: bytes, bytes: total, reject: `not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(bytes)} of the element)` }
    const parsed = parseJsonObject(text)
    return 'reject' in parsed ? { at, raw: text, bytes: total, reject: parsed.reject } : { at, raw: text, bytes: total, value: parsed.value }
  }
  const fatal = (reason: string, raw: Uint8Array = Buffer.alloc(0)): RawRecord => ({ at: { kind: 'index', index }, raw, bytes: raw.length, reject: reason, fatal: true })

  try {
    for await (let chunk of chunks) {
      if (first && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3)
      first = false
      let elementStart = phase === 'element' ? 0 : -1
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!
        switch (phase) {
          case 'start':
            if (isSpace(b)) continue
            if (b !== OPEN_BRACKET) {
              yield { ...fatal(`the top level is not an array (it starts with "${String.fromCharCode(b)}"); a JSON input must be an array of records — for one record per line use .jsonl or --format jsonl`, chunk.subarray(i, i + 200)), wholeFile: true }
              return
            }
            phase = 'expect-element'
            continue
          case 'expect-element':
          case 'after-element':
            if (isSpace(b)) continue
            if (b === CLOSE_BRACKET) { phase = 'done'; continue }
            if (phase === 'after-element') {
              if (b === COMMA) { phase = 'expect-element'; continue }
              yield fatal(`expected "," or "]" after element [${index - 1}], found "${String.fromCharCode(b)}"`, chunk.subarray(i, i + 200))
              return
            }
            if (b === COMMA) {
              yield fatal(`an empty element (",") at [${index}]`, chunk.subarray(i, i + 200))
              return
            }
            phase = 'element'
            elementStart = i
            depth = 0
            inString = false
            escaped = false
            i-- // read this byte again, as the element's first
            continue
          case 'element':
            if (inString) {
              if (escaped) escaped = false
              else if (b === BACKSLASH) escaped = true
              else if (b === QUOTE) inString = false
              continue
            }
            if (b === QUOTE) { inString = true; continue }
            if (b === OPEN_BRACE || b === OPEN_BRACKET) { depth++; continue }
            if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
              if (depth === 0) {
                // The array's own "]" right after a scalar element.
                take(chunk.subarray(elementStart, i))
                yield finish()
                phase = 'done'
                continue
              }
              depth--
              if (depth === 0) {
                take(chunk.subarray(elementStart, i + 1))
                yield finish()
                phase = 'after-element'
              }
              continue
            }
            if (b === COMMA && depth === 0) {
              take(chunk.subarray(elementStart, i))
              yield finish()
              phase = 'expect-element'
            }
            continue
          case 'done':
            if (isSpace(b)) continue
            yield fatal(`unexpected data after the array's closing "]"`, chunk.subarray(i, i + 200))
            return
        }
      }
      if (phase === 'element') take(chunk.subarray(elementStart))
    }
  } catch (err) {
    yield fatal(`input breaks off here: ${(err as Error).message}${/unexpected end/i.test((err as Error).message) ? ' (truncated gzip stream)' : ''}; the elements before it were read`, parts.length ? Buffer.concat(parts) : Buffer.alloc(0))
    return
  }
  const end = phase as Phase
  if (end === 'start') return // empty input: the caller reports an empty file
  if (end !== 'done') yield fatal(`the input ends inside the array (at element [${index}]): the file is truncated or the array is not closed with "]"`, parts.length ? Buffer.concat(parts) : Buffer.alloc(0))
}
