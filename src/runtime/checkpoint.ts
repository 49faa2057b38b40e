/**
 * The format of a stateful stage's checkpoint in its state topic, and which checkpoint a reader
 * trusts. The stateful engine writes it (stateful-engine.ts) and restores from it; whoever reads
 * the state topic from outside a running stage — the sink's sample reader behind `synthq export`
 * and `synthq status`, the tests — reads it the same way. A leaf module, so a reader does not
 * load the engine.
 */
import { createHash } from 'node:crypto'

/** The value of a state-topic record (synthq.SinkCheckpoint). */
export interface CheckpointPart {
  stage: string
  generation: number
  part: number
  parts: number
  sha256: string
  data: Buffer
  offsets: Array<{ partition: number, offset: number }>
  run_id: string
  written_at: number
}

/** The newest generation whose parts are all there and whose bytes match its SHA-256. */
export function pickCheckpoint (parts: readonly CheckpointPart[]): { generation: number, state: Buffer, offsets: Map<number, number>, parts: number } | null {
  const byGen = new Map<number, CheckpointPart[]>()
  for (const p of parts) {
    let list = byGen.get(p.generation)
    if (!list) byGen.set(p.generation, list = [])
    list.push(p)
  }
  for (const gen of [...byGen.keys()].sort((a, b) => b - a)) {
    const list = byGen.get(gen)!.sort((a, b) => a.part - b.part)
    const n = list[0]!.parts
    if (list.length !== n || list.some((p, i) => p.part !== i || p.parts !== n || p.sha256 !== list[0]!.sha256)) continue
    const state = Buffer.concat(list.map((p) => p.data))
    if (createHash('sha256').update(state).digest('hex') !== list[0]!.sha256) continue
    return { generation: gen, state, offsets: new Map(list[0]!.offsets.map((o) => [o.partition, Number(o.offset)])), parts: n }
  }
  return null
}
