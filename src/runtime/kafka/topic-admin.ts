/**
 * Creates the pipeline's topics from the topic map: configured partitions and replication,
 * `cleanup.policy=compact` for tables (demonstrations). Existing topics are left as they are.
 */
import type { Admin } from 'kafkajs'
import { TOPICS, topicName, type TopicSpec } from '../../topics.ts'

export interface TopicLayout {
  prefix?: string
  partitions?: number
  replicationFactor?: number
  /**
   * Replicas that must have a write before it is acknowledged (acks=all). Default: 2 when a
   * topic has 3 or more replicas (one broker may be lost without losing writes or availability),
   * else the broker's default.
   */
  minInSyncReplicas?: number
}

export interface TopicPlan {
  topic: string
  spec: TopicSpec
  partitions: number
  replicationFactor: number
  configs: Record<string, string>
}

export function topicPlan (layout: TopicLayout = {}): TopicPlan[] {
  const replicationFactor = layout.replicationFactor ?? 1
  const minIsr = layout.minInSyncReplicas ?? (replicationFactor >= 3 ? 2 : undefined)
  return TOPICS.map((spec) => ({
    topic: topicName(spec.name, layout.prefix),
    spec,
    partitions: layout.partitions ?? 6,
    replicationFactor,
    configs: { 'cleanup.policy': spec.cleanupPolicy, ...(minIsr !== undefined ? { 'min.insync.replicas': String(minIsr) } : {}) },
  }))
}

/** Creates missing topics; returns the names it created. */
export async function ensureTopics (admin: Admin, layout: TopicLayout = {}): Promise<string[]> {
  const plan = topicPlan(layout)
  const existing = new Set(await admin.listTopics())
  const missing = plan.filter((p) => !existing.has(p.topic))
  if (missing.length === 0) return []
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((p) => ({
      topic: p.topic,
      numPartitions: p.partitions,
      replicationFactor: p.replicationFactor,
      configEntries: Object.entries(p.configs).map(([name, value]) => ({ name, value })),
    })),
  })
  return missing.map((p) => p.topic)
}
