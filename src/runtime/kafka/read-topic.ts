/**
 * Reads a topic from the beginning to its end offsets as of the call, committed records only
 * (read_committed), and returns key and value bytes in log order per partition. For the
 * stateful stages' checkpoints and for `synthq export`, which need a compacted topic's latest
 * values once rather than a live table.
 *
 * "Committed" means stable when read: a transaction whose commit has just returned becomes
 * visible only once the broker has written its markers, a moment later. Until then the
 * partition's last stable offset stays below its end, KafkaJS reports the empty read_committed
 * batch as reaching the high watermark, and this returns without that transaction. A caller
 * that must see its own commit polls (as the end-to-end test does); a stateful stage restoring
 * its state is safe without: fencing (InitProducerId) waits for the previous owner's markers.
 */
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'

export interface TopicRecord {
  partition: number
  offset: number
  key: string | null
  value: Buffer | null
}

export async function readTopicToEnd (kafka: Kafka, topic: string, timeoutMs = 120_000): Promise<TopicRecord[]> {
  const admin = kafka.admin()
  await admin.connect()
  const groupId = `synthq-read-${topic}-${randomUUID()}`
  let ends: Array<{ partition: number, high: string, low: string }>
  try {
    ends = await admin.fetchTopicOffsets(topic)
  } finally {
    await admin.disconnect()
  }
  const out: TopicRecord[] = []
  if (ends.every((e) => Number(e.high) <= Number(e.low))) return out
  const position = new Map<number, number>()
  const caughtUp = (): boolean => ends.every((e) => Number(e.high) <= Number(e.low) || (position.get(e.partition) ?? 0) >= Number(e.high))
  const consumer = kafka.consumer({ groupId, readUncommitted: false })
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const advance = (p: number, next: number): void => { if (next > (position.get(p) ?? 0)) position.set(p, next) }
    // Batches holding only transaction markers never reach eachBatch but do end a batch.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const p = e.payload as { partition: number, lastOffset: string }
      advance(p.partition, Number(p.lastOffset) + 1)
    })
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const high = Number(ends.find((e) => e.partition === batch.partition)?.high ?? 0)
        for (const m of batch.messages) {
          if (Number(m.offset) >= high) break
          out.push({ partition: batch.partition, offset: Number(m.offset), key: m.key?.toString('utf8') ?? null, value: m.value })
        }
        advance(batch.partition, Number(batch.lastOffset()) + 1)
      },
    })
    const started = Date.now()
    while (!caughtUp()) {
      if (Date.now() - started > timeoutMs) throw new Error(`reading ${topic} did not reach its end within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 50))
    }
  } finally {
    await consumer.disconnect()
    const cleanup = kafka.admin()
    await cleanup.connect().then(async () => await cleanup.deleteGroups([groupId])).catch(() => {}).finally(() => { void cleanup.disconnect() })
  }
  return out
}
