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
}

export interface TopicPlan {
  topic: string
  spec: TopicSpec
  partitions: number
  replicationFactor: number
  configs: Record<string, string>
}

export function topicPlan (layout: TopicLayout = {}): TopicPlan[] {
  return TOPICS.map((spec) => ({
    topic: topicName(spec.name, layout.prefix),
    spec,
    partitions: layout.partitions ?? 6,
    replicationFactor: layout.replicationFactor ?? 1,
    configs: { 'cleanup.policy': spec.cleanupPolicy },
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
