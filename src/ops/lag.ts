/**
 * Consumer lag per stage: records of a stage's input topic it has not committed yet. The figures
 * come from the runtime's transport (src/runtime/transport.ts): on the embedded runner from the
 * log's positions table, on Kafka from the stage's consumer group offsets against the
 * partitions' last stable offsets, less the offsets that hold no record (transaction markers,
 * aborted records) where a census has read them (src/runtime/kafka/kafka-lag.ts). This file
 * names the stages.
 */
import type { LagFigures } from '../runtime/transport.ts'
import { TOPOLOGIES } from '../topologies/registry.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../topologies/options.ts'
import { topicName } from '../topics.ts'

export interface PipelineStage {
  stage: string
  topology: string
  /** Kafka name of the input topic. */
  input: string
  /** The stage's consumer group (Kafka) / consumer (embedded log). */
  group: string
}

export type StageLagFigures = PipelineStage & LagFigures

/** The stages of the named topologies (default: attribution and synthesis), in pipeline order. */
export function pipelineStages (prefix: string, topologies: readonly string[] = ['attribution', 'synthesis']): PipelineStage[] {
  const out: PipelineStage[] = []
  for (const name of topologies) {
    const make = TOPOLOGIES[name]
    if (!make) throw new Error(`unknown topology ${name} (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
    const t = make({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: '' })
    for (const s of [...t.stages, ...t.statefulStages]) out.push({ stage: s.name, topology: t.name, input: topicName(s.input, prefix), group: `${prefix}.${s.name}` })
  }
  return out
}
