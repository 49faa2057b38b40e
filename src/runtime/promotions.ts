/**
 * Prompt promotions: a prompt version made live on a running stream (`synthq shadow promote`).
 * A promotion is a record of the compacted `promptPromotions` topic, keyed by stage; every stage
 * that sends a prompt reads the topic as a table, so running processes pick a promotion up
 * without a restart. From the promotion's offsets on (per partition of the stage's input), the
 * stage's engine hands records to a processor built for the promoted version; records before
 * them went through the version the stage ran, and their outputs stay as they are.
 */
import type { Topology } from '../topologies/topology.ts'
import type { TopicName, TopicNamespace } from '../topics.ts'

/** The value of a promptPromotions record (schemas/prompt-promotion.avsc). */
export interface PromptPromotion {
  stage: string
  prompt_id: string
  version: string
  previous_version: string
  /** The physical input topic the offsets are of. */
  input_topic: string
  offsets: Array<{ partition: number, offset: number }>
  shadow_prefix: string | null
  promoted_at: number
}

/**
 * The tables a run loads: those its stages declare, and the promotions table when a live run
 * has a stage that sends a prompt (a shadow run sends the version it was asked for).
 */
export function tablesOf (topology: Topology, ns: TopicNamespace, stages?: readonly string[]): TopicName[] {
  const selected = topology.stages.filter((s) => !stages || stages.includes(s.name))
  const tables = [...topology.tables]
  if (!ns.shadow && selected.some((s) => s.prompt) && !tables.includes('promptPromotions')) tables.push('promptPromotions')
  return tables
}
