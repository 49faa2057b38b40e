/**
 * Opens an input as a stream of bytes, decompressing gzip when the first two bytes are gzip's
 * magic (1f 8b) — whatever the file is called, since `.gz` is often missing on stdin or on
 * renamed downloads. It counts the bytes read from the input itself (compressed), which is what
 * the progress bar's total is measured in.
 *
 * A gzip stream cut short (an interrupted download) makes the iteration throw once the
 * decompressor reaches the end; the readers turn that into a rejected record at the line where
 * the data stopped, so what came before is kept.
 */
import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import type { InputFormat } from './input-files.ts'

export interface ByteCounter {
  /** Bytes read from the input (compressed bytes for gzip). */
  bytes: number
}

export interface OpenedBytes {
  chunks: AsyncIterable<Buffer>
  gzip: boolean
  /** The first bytes of the (decompressed) content, to tell its format. */
  head: Buffer
}

const GZIP_MAGIC = [0x1f, 0x8b]
const PARQUET_MAGIC = Buffer.from('PAR1')

async function * counted (source: AsyncIterable<Buffer | string>, counter: ByteCounter): AsyncGenerator<Buffer> {
  for await (const c of source) {
    const b = typeof c === 'string' ? Buffer.from(c) : c
    counter.bytes += b.length
    yield b
  }
}

/** Reads chunks until at least `min` bytes are in hand (or the input ends); returns them and the rest. */
async function peek (source: AsyncIterable<Buffer>, min: number): Promise<{ head: Buffer, rest: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]()
  const parts: Buffer[] = []
  let have = 0
  while (have < min) {
    const r = await it.next()
    if (r.done) break
    parts.push(r.value)
    have += r.value.length
  }
  const head = Buffer.concat(parts)
  async function * rest (): AsyncGenerator<Buffer> {
    if (head.length) yield head
    for (;;) {
      const r = await it.next()
      if (r.done) return
      yield r.value
    }
  }
  return { head, rest: rest() }
}

export async function openBytes (input: { path?: string, stdin?: Readable }, counter: ByteCounter): Promise<OpenedBytes> {
  const raw: Readable = input.path !== undefined ? createReadStream(input.path, { highWaterMark: 1 << 16 }) : input.stdin!
  const outer = await peek(counted(raw, counter), 2)
  const gzip = outer.head.length >= 2 && outer.head[0] === GZIP_MAGIC[0] && outer.head[1] === GZIP_MAGIC[1]
  let content: AsyncIterable<Buffer> = outer.rest
  if (gzip) {
    const gunzip = createGunzip()
    // Readable.from + pipe: errors of the source end the gunzip stream with that error.
    const src = Readable.from(outer.rest)
    src.on('error', (err) => gunzip.destroy(err))
    src.pipe(gunzip)
    content = gunzip
  }
  const inner = await peek(content, 64)
  return { chunks: inner.rest, gzip, head: inner.head }
}

/**
 * The format the content looks like: Parquet by its magic, a JSON array by a leading `[`, JSON
 * lines by a leading `{`. Undefined when it cannot tell (empty, or something else).
 */
export function sniffFormat (head: Buffer): InputFormat | undefined {
  if (head.length >= 4 && head.subarray(0, 4).equals(PARQUET_MAGIC)) return 'parquet'
  let i = 0
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3 // UTF-8 BOM
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++
  if (head[i] === 0x5b) return 'json'
  if (head[i] === 0x7b) return 'jsonl'
  return undefined
}
