/**
 * Reads the dataset back from the sink's two compacted topics, whatever holds them: the sample
 * (latest value per instruction id; tombstones delete) and the newest complete checkpoint of
 * the sink's state. The checkpoint is the authority on membership — rows are the sample
 * members it lists — so a sample read while the sink runs never returns a row the state has
 * already evicted; `missing` counts members whose row was not read (a checkpoint committed
 * between the two reads).
 */
import { readSinkState, type SinkState } from '../processors/sink/state-codec.ts'
import type { SampleRowValue } from '../processors/sink/types.ts'
import { pickCheckpoint, type CheckpointPart } from '../runtime/checkpoint.ts'
import type { AvroSerde } from '../serde/avro-serde.ts'
import { topicName } from '../topics.ts'
import type { DatasetRow } from './export/dataset.ts'
import { TopicLabeler } from './clusters/index.ts'

export interface RawKeyed { key: string | null, value: Buffer | null }

export interface SinkContents {
  rows: SampleRowValue[]
  state: SinkState | null
  generation: number | null
  /** Sample members of the checkpoint without a row (read while the sink was committing). */
  missing: number
}

export async function readSinkContents (serde: AvroSerde, prefix: string, sample: Iterable<RawKeyed>, state: Iterable<RawKeyed>, stage = 'sink'): Promise<SinkContents> {
  const stateTopic = topicName('sinkState', prefix)
  const sampleTopic = topicName('sample', prefix)
  const latestParts = new Map<string, Buffer | null>()
  for (const r of state) if (r.key?.startsWith(`${stage}/`)) latestParts.set(r.key, r.value)
  const parts: CheckpointPart[] = []
  for (const v of latestParts.values()) if (v) parts.push(await serde.decode<CheckpointPart>(stateTopic, v))
  const cp = pickCheckpoint(parts)
  const s = cp ? readSinkState(cp.state) : null
  const latest = new Map<string, Buffer | null>()
  for (const r of sample) if (r.key !== null) latest.set(r.key, r.value)
  const members = s ? new Set(s.reservoir.topics.flatMap((t) => t.items.map(([id]) => id))) : null
  const rows: SampleRowValue[] = []
  for (const [key, v] of latest) {
    if (v === null || (members && !members.has(key))) continue
    rows.push(await serde.decode<SampleRowValue>(sampleTopic, v))
  }
  return { rows, state: s, generation: cp?.generation ?? null, missing: members ? members.size - rows.length : 0 }
}

/** A sample row as a dataset row, labelled with the topic's latest words when known. */
export function datasetRows (c: SinkContents): DatasetRow[] {
  const labels = c.state ? TopicLabeler.restore(c.state.labels).labels(c.state.options.labelWords) : new Map<number, string>()
  return c.rows
    .map((r) => ({
      id: r.id,
      instruction: r.instruction,
      scene: r.scene,
      query_compositions: r.query_compositions,
      criteria: r.criteria,
      total: r.total,
      topic: r.topic,
      topic_label: labels.get(r.topic) ?? r.topic_label,
      document_id: r.document.id,
      document_url: r.document.url,
      lineage: r.lineage,
      simulated: r.lineage.simulated,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
