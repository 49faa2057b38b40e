/**
 * The sink's checkpoint: its whole state as gzip-compressed JSON (format synthq.sink/1), written
 * by the processor at every checkpoint and read back by it at restore, and by `synthq export` and
 * `synthq sink` (src/sink/sample-store.ts), which read checkpoints without running the sink.
 *
 * Writing compresses on libuv's thread pool (zlib's callback API), so a checkpoint of several MB
 * does not hold the event loop while it deflates; the bytes are the ones gzipSync made before
 * (same level, same stream), so checkpoints written either way read the same. The JSON is built
 * in slices across turns of the event loop (stringifyInTurns: JSON.stringify of the whole state
 * at K = 100,000 held it for 100–200 ms), and is the very string JSON.stringify makes. Reading stays
 * synchronous: restore() is synchronous by contract (a rollback must not interleave with input),
 * and happens at start and after failures, not on the hot path.
 */
import { promisify } from 'node:util'
import { gunzipSync, gzip } from 'node:zlib'
import { RecordInvalidError } from '../../errors.ts'
import { inTurn } from '../../runtime/turns.ts'
import type { ScalableBloomSnapshot } from '../../sink/dedup/index.ts'
import type { ReservoirSnapshot } from '../../sink/reservoir/index.ts'
import type { LexicalSnapshot, OnlineTopicSnapshot, TopicLabelerSnapshot } from '../../sink/clusters/index.ts'
import type { PendingRow, SinkCounters, SinkOptions } from './types.ts'

export const SINK_STATE_FORMAT = 'synthq.sink/1'

/** The checkpointed state (gzip-compressed JSON). */
export interface SinkState {
  format: typeof SINK_STATE_FORMAT
  options: SinkOptions
  vectors: string | null
  counters: SinkCounters
  reservoir: ReservoirSnapshot<null>
  topics: OnlineTopicSnapshot
  labels: TopicLabelerSnapshot
  lexical: LexicalSnapshot | null
  dedup: ScalableBloomSnapshot
  /** Rows waiting for warm-up to end: id → row (topic fields not yet set). */
  pending: Array<[string, PendingRow]>
  /** Sample members in the diversity probe: id → base64 float32 vector. */
  probe: Array<[string, string]>
  /** Probe vectors of rows still waiting for warm-up. */
  pendingProbe: Array<[string, string]>
  /** Highest Vendi score measured on the probe (collapse check), and the latest. */
  peakVendi: number
  lastVendi: number | null
  simulatedVectors: boolean
  /** The label cache rows are stamped from, and placements since it was refreshed. */
  labelCache: Array<[number, string]>
  sinceLabels: number
}

const gzipAsync = promisify(gzip)

/** The state as checkpoint bytes, compressed off the event loop. */
export async function encodeSinkState (state: SinkState): Promise<Buffer> {
  // Level 1: the state is mostly base64 vectors and Bloom bits, which higher levels barely shrink.
  return await gzipAsync(await stringifyInTurns(state), { level: 1 })
}

/** Flat array elements stringified together, at most this many (≈ 0.1–0.3 ms of reservoir entries). */
const SLICE = 512

/** A primitive, or an array of primitives: cheap enough to stringify with its neighbours in one slice. */
function isFlat (v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true
  if (!Array.isArray(v)) return false
  for (const x of v as unknown[]) if (x !== null && typeof x === 'object') return false
  return true
}

/** Plain data that is not a leaf: arrays and objects without toJSON (typed arrays, Buffers and Dates go whole). */
function isContainer (v: unknown): v is object {
  return v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function' && !ArrayBuffer.isView(v)
}

/**
 * JSON.stringify(value), the same string, built across turns of the event loop (inTurn): objects
 * and arrays are walked, and runs of flat array elements (the reservoir's [id, score, payload]
 * entries, base64 vectors) are stringified SLICE at a time. Byte-identical because JSON.stringify
 * without indentation writes each element and property independently of where it sits: arrays as
 * "[" elements joined by "," "]" (undefined and functions as null), objects as "{" "key":value
 * joined by "," "}" over Object.keys order (properties whose value is undefined, a function or a
 * symbol left out). For plain data (what snapshots are): no replacer, no boxed primitives. The
 * caller must not change `value` until the promise settles (the sink's checkpoint runs between batches).
 */
export async function stringifyInTurns (value: unknown): Promise<string> {
  const parts: string[] = []
  await write(value, parts)
  return parts.join('')
}

async function write (value: unknown, parts: string[]): Promise<void> {
  if (!isContainer(value)) {
    const s = await inTurn(() => JSON.stringify(value) as string | undefined)
    parts.push(s ?? 'null') // only an array element can be undefined here; JSON writes it as null
    return
  }
  if (Array.isArray(value)) {
    const a = value as unknown[]
    parts.push('[')
    for (let i = 0; i < a.length;) {
      if (i > 0) parts.push(',')
      if (!isFlat(a[i])) { await write(a[i], parts); i++; continue }
      let j = i + 1
      while (j < a.length && j - i < SLICE && isFlat(a[j])) j++
      const slice = a.slice(i, j)
      parts.push((await inTurn(() => JSON.stringify(slice))).slice(1, -1))
      i = j
    }
    parts.push(']')
    return
  }
  const o = value as Record<string, unknown>
  parts.push('{')
  let first = true
  for (const key of Object.keys(o)) {
    const v = o[key]
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue
    parts.push(first ? '' : ',', JSON.stringify(key), ':')
    first = false
    await write(v, parts)
  }
  parts.push('}')
}

/** Reads a checkpoint's state (for the sink's restore, and for export and status, which do not run the sink). */
export function readSinkState (bytes: Buffer): SinkState {
  const s = JSON.parse(gunzipSync(bytes).toString('utf8')) as SinkState
  if (s?.format !== SINK_STATE_FORMAT) throw new RecordInvalidError(`sink checkpoint: unknown format ${String(s?.format)}`, ['format'])
  return s
}

/** A float32 vector as base64 of its bytes (exact, and a third of its JSON number form). */
export function encodeF32 (v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
}

export function decodeF32 (b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64')
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
}
