/**
 * The keys of a Kafka topic, read once from the beginning to the end offsets as of the call
 * (committed records only), for `synthq ingest`'s dedup. Like read-topic.ts, but it keeps the keys and
 * drops the values as they arrive: a documents topic of millions of records would not fit in
 * memory as bytes, its keys do (tens of bytes each).
 *
 * Cost: the whole topic is fetched once per ingest run — values included, since Kafka cannot
 * send keys alone. `synthq ingest --no-dedup` skips it.
 */
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'

export async function readTopicKeys (kafka: Kafka, topic: string, onProgress?: (keys: number) => void, timeoutMs = 600_000): Promise<Set<string>> {
  const keys = new Set<string>()
  const admin = kafka.admin()
  await admin.connect()
  let ends: Array<{ partition: number, high: string, low: string }>
  try {
    ends = await admin.fetchTopicOffsets(topic)
  } finally {
    await admin.disconnect()
  }
  if (ends.every((e) => Number(e.high) <= Number(e.low))) return keys
  const groupId = `synthq-ingest-keys-${randomUUID()}`
  const position = new Map<number, number>()
  const caughtUp = (): boolean => ends.every((e) => Number(e.high) <= Number(e.low) || (position.get(e.partition) ?? 0) >= Number(e.high))
  const advance = (p: number, next: number): void => { if (next > (position.get(p) ?? 0)) position.set(p, next) }
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 500 })
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    // Batches of transaction markers only never reach eachBatch but still end a batch.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const p = e.payload as { partition: number, lastOffset: string }
      advance(p.partition, Number(p.lastOffset) + 1)
    })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const high = Number(ends.find((e) => e.partition === batch.partition)?.high ?? 0)
        for (const m of batch.messages) {
          if (Number(m.offset) >= high) break
          if (m.key) keys.add(m.key.toString('utf8'))
        }
        advance(batch.partition, Number(batch.lastOffset()) + 1)
        onProgress?.(keys.size)
      },
    })
    const started = Date.now()
    while (!caughtUp()) {
      if (Date.now() - started > timeoutMs) throw new Error(`reading the keys of ${topic} did not reach its end within ${timeoutMs / 1000} s`)
      await new Promise((r) => setTimeout(r, 50))
    }
  } finally {
    await consumer.disconnect()
    const cleanup = kafka.admin()
    await cleanup.connect().then(async () => await cleanup.deleteGroups([groupId])).catch(() => {}).finally(() => { void cleanup.disconnect() })
  }
  return keys
}
