/**
 * Creates the pipeline's topics from the topic map: configured partitions and replication,
 * `cleanup.policy=compact` for tables (demonstrations). Existing topics are left as they are.
 */
import type { Admin, ITopicConfig } from 'kafkajs'
import { TOPICS, topicName, type TopicName, type TopicSpec } from '../../topics.ts'

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
  /** Only these topics of the map (a shadow run creates its own copies of the topics it writes). */
  only?: readonly TopicName[]
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
  return TOPICS.filter((spec) => !layout.only || layout.only.includes(spec.name)).map((spec) => ({
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
  // The listing may come from a broker that has not heard of topics created a moment ago (by
  // another worker): what comes back is what this call created, not what the listing missed.
  return await createTopicsAndWait(admin, missing.map((p) => ({
    topic: p.topic,
    numPartitions: p.partitions,
    replicationFactor: p.replicationFactor,
    configEntries: Object.entries(p.configs).map(([name, value]) => ({ name, value })),
  })))
}

/** Metadata errors that only mean "this broker has not caught up yet": asked again until the deadline. */
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'REPLICA_NOT_AVAILABLE'])

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Creates topics and waits until every partition of each has a leader.
 *
 * Why not KafkaJS's own `waitForLeaders`: it asks one broker and retries only
 * LEADER_NOT_AVAILABLE. On a cluster of several brokers the broker it asks may not have received
 * the new topic's metadata yet and answers UNKNOWN_TOPIC_OR_PARTITION, which KafkaJS passes on as
 * a failure although the topic was created. Here both answers mean "ask again", until `timeoutMs`.
 * Topics that already exist (another worker created them meanwhile) are waited for too; the
 * result names only the topics this call created.
 */
export async function createTopicsAndWait (admin: Admin, topics: ITopicConfig[], opts: { timeoutMs?: number, pollMs?: number } = {}): Promise<string[]> {
  const timeoutMs = opts.timeoutMs ?? 60_000
  const pollMs = opts.pollMs ?? 100
  let created: string[]
  try {
    // KafkaJS answers false when every topic already existed.
    created = await admin.createTopics({ waitForLeaders: false, topics }) ? topics.map((t) => t.topic) : []
  } catch (err) {
    const errors = (err as { errors?: Array<{ type?: string, topicName?: string }> }).errors
    if (Array.isArray(errors) && errors.length > 0) {
      // Some existed, some were created: only "already exists" is fine.
      if (!errors.every((e) => e.type === 'TOPIC_ALREADY_EXISTS')) throw err
      const existed = new Set(errors.map((e) => e.topicName))
      created = topics.map((t) => t.topic).filter((name) => !existed.has(name))
    } else {
      const existing = new Set(await admin.listTopics())
      if (!topics.every((t) => existing.has(t.topic))) throw err
      created = []
    }
  }
  await waitForTopicLeaders(admin, topics.map((t) => ({ topic: t.topic, partitions: t.numPartitions })), { timeoutMs, pollMs })
  return created
}

/**
 * Waits until the cluster's metadata shows each topic with (at least) its expected partition
 * count and a leader for every partition, and each leader answers for its partition (a
 * ListOffsets request): a broker may publish itself as leader in its metadata a moment before
 * its log is ready, and a reader that starts in that moment is told NOT_LEADER_OR_FOLLOWER.
 * Throws after `timeoutMs`, naming what is still missing.
 */
export async function waitForTopicLeaders (admin: Admin, topics: Array<{ topic: string, partitions?: number }>, opts: { timeoutMs?: number, pollMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
  const pollMs = opts.pollMs ?? 100
  const names = topics.map((t) => t.topic)
  let waitingFor: string
  for (;;) {
    try {
      const md = await admin.fetchTopicMetadata({ topics: names })
      const byName = new Map(md.topics.map((m) => [m.name, m.partitions]))
      const unready = topics.filter((t) => {
        const parts = byName.get(t.topic)
        return parts === undefined || parts.length === 0 || parts.length < (t.partitions ?? 1) || parts.some((p) => p.leader < 0)
      })
      if (unready.length === 0) {
        for (const t of topics) await admin.fetchTopicOffsets(t.topic)
        return
      }
      waitingFor = `no leader yet for ${unready.map((t) => t.topic).join(', ')}`
    } catch (err) {
      const type = (err as { type?: string }).type
      if (type === undefined || !NOT_YET.has(type)) throw err
      waitingFor = `${type} for ${names.join(', ')}`
    }
    if (Date.now() >= deadline) throw new Error(`topics created but not ready after ${opts.timeoutMs ?? 60_000} ms: ${waitingFor}`)
    await sleep(pollMs)
  }
}
