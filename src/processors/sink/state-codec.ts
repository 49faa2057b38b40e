/**
 * The sink's checkpoint: its whole state as gzip-compressed JSON (format synthq.sink/1), written
 * by the processor at every checkpoint and read back by it at restore, and by `synthq export` and
 * `synthq sink` (src/sink/sample-store.ts), which read checkpoints without running the sink.
 *
 * Writing compresses on libuv's thread pool (zlib's callback API), so a checkpoint of several MB
 * does not hold the event loop while it deflates; the bytes are the ones gzipSync made before
 * (same level, same stream), so checkpoints written either way read the same. Reading stays
 * synchronous: restore() is synchronous by contract (a rollback must not interleave with input),
 * and happens at start and after failures, not on the hot path.
 */
import { promisify } from 'node:util'
import { gunzipSync, gzip } from 'node:zlib'
import { RecordInvalidError } from '../../errors.ts'
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
  return await gzipAsync(JSON.stringify(state), { level: 1 })
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
