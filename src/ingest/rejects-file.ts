/**
 * The rejects file: one JSON line per record that was not ingested, so a user can see exactly
 * what was wrong, fix the source and ingest again (re-ingesting adds only what is new).
 *
 *   {"source":"data/x.jsonl","line":12,"position":"data/x.jsonl:12","reason":"invalid JSON: …",
 *    "raw":"{\"text\": …","raw_encoding":"utf8","raw_bytes":5120,"raw_truncated":true}
 *
 * `raw` is the original text cut to 4 KiB (at a character boundary), or base64 of the first
 * 4 KiB when the bytes are not UTF-8. The file is created on the first reject only: a clean run
 * leaves nothing behind.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { decodeUtf8, formatPosition, positionNumber, type Position } from './raw-record.ts'

export const RAW_LIMIT = 4096

export interface RejectLine {
  source: string
  /** 1-based line (JSONL), 0-based index (JSON array) or 0-based row (Parquet). */
  line: number
  position: string
  reason: string
  raw: string
  raw_encoding: 'utf8' | 'base64'
  raw_bytes: number
  raw_truncated: boolean
}

/** The raw form of a record for the rejects file. */
export function rawForRejects (raw: string | Uint8Array, bytes: number): Pick<RejectLine, 'raw' | 'raw_encoding' | 'raw_bytes' | 'raw_truncated'> {
  let buf = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  const size = Math.max(bytes, buf.length)
  const truncated = buf.length > RAW_LIMIT || size > buf.length
  if (buf.length > RAW_LIMIT) buf = buf.subarray(0, RAW_LIMIT)
  // A cut inside a multi-byte character is not a UTF-8 error: step back to a character start.
  let text = decodeUtf8(buf)
  for (let back = 1; text === undefined && back <= 3 && truncated; back++) text = decodeUtf8(buf.subarray(0, buf.length - back))
  if (text !== undefined) return { raw: text, raw_encoding: 'utf8', raw_bytes: size, raw_truncated: truncated }
  return { raw: buf.toString('base64'), raw_encoding: 'base64', raw_bytes: size, raw_truncated: truncated }
}

export class RejectsFile {
  readonly path: string
  #fd: number | undefined
  count = 0

  constructor (path: string) {
    this.path = path
  }

  add (source: string, at: Position, reason: string, raw: string | Uint8Array, bytes: number): RejectLine {
    const line: RejectLine = { source, line: positionNumber(at), position: formatPosition(source, at), reason, ...rawForRejects(raw, bytes) }
    if (this.#fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true })
      this.#fd = openSync(this.path, 'a')
    }
    writeSync(this.#fd, JSON.stringify(line) + '\n')
    this.count++
    return line
  }

  close (): void {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
  }
}
