/**
 * Consumer lag per stage: records of a stage's input topic it has not committed yet. On the
 * embedded runner from the log's positions table; on Kafka from the stage's consumer group
 * offsets against the partitions' high watermarks — what kafka-consumer-groups.sh --describe
 * prints, summed over partitions.
 *
 * On an exactly-once Kafka pipeline an idle stage can show a lag of about one record per
 * partition: the commit marker a transaction leaves occupies an offset no consumer commits
 * past until the next record arrives.
 */
import type { Admin } from 'kafkajs'
import type { EmbeddedLog } from '../runtime/embedded/embedded-log.ts'
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

export interface StageLagFigures extends PipelineStage {
  lag: number
  committed: number
  /** Kafka: members of the stage's group right now. */
  consumers?: number
  /** Kafka: partitions of the input topic. */
  partitions?: number
}

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

export function embeddedLag (log: EmbeddedLog, stages: readonly PipelineStage[]): StageLagFigures[] {
  return stages.map((s) => {
    const head = log.head(s.input)
    const p = log.position(s.group, s.input)
    const done = p.committed + p.completedBeyond.length
    return { ...s, lag: Math.max(0, head - done), committed: done }
  })
}

export async function kafkaLag (admin: Admin, stages: readonly PipelineStage[]): Promise<StageLagFigures[]> {
  const ends = new Map<string, Array<{ partition: number, high: number, low: number }>>()
  const existing = new Set(await admin.listTopics())
  for (const topic of new Set(stages.map((s) => s.input))) {
    if (!existing.has(topic)) continue
    ends.set(topic, (await admin.fetchTopicOffsets(topic)).map((e) => ({ partition: e.partition, high: Number(e.high), low: Number(e.low) })))
  }
  const groups = await admin.describeGroups(stages.map((s) => s.group))
  const members = new Map(groups.groups.map((g) => [g.groupId, g.state === 'Dead' ? 0 : g.members.length]))
  const out: StageLagFigures[] = []
  for (const s of stages) {
    const partitions = ends.get(s.input)
    if (!partitions) { out.push({ ...s, lag: 0, committed: 0, consumers: members.get(s.group) ?? 0 }); continue }
    const [committed] = await admin.fetchOffsets({ groupId: s.group, topics: [s.input] })
    const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
    let lag = 0
    let done = 0
    for (const e of partitions) {
      const c = at.get(e.partition) ?? -1
      const position = c < 0 ? e.low : Math.max(c, e.low) // -1: nothing committed yet → from the start
      lag += Math.max(0, e.high - position)
      done += c < 0 ? 0 : c
    }
    out.push({ ...s, lag, committed: done, consumers: members.get(s.group) ?? 0, partitions: partitions.length })
  }
  return out
}
