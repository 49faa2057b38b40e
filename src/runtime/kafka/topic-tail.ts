/**
 * Reads a Kafka topic without touching the pipeline: a consumer in a throwaway group
 * (`synthq-<purpose>-<topic>-<uuid>`, deleted on close) that commits nothing, reads committed
 * records only, and hands each record to a callback — from the beginning, or from the last
 * `fromEnd` records of each partition — and knows when it has reached where the partitions
 * ended when it started. `synthq status` and the dashboard keep one open to follow a topic;
 * readTopicToEnd (read-topic.ts) reads one to its end and closes it.
 */
import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import type { TailRecord } from '../transport.ts'

export type { TailRecord }

export class TopicTail {
  readonly topic: string
  readonly #kafka: Kafka
  readonly #onRecord: (r: TailRecord) => void
  readonly #fromEnd: number | undefined
  readonly #groupId: string
  #consumer: Consumer | undefined
  readonly #position = new Map<number, number>()
  #target = new Map<number, number>()

  constructor (kafka: Kafka, topic: string, onRecord: (r: TailRecord) => void, o: { fromEnd?: number, purpose?: string } = {}) {
    this.#kafka = kafka
    this.topic = topic
    this.#onRecord = onRecord
    this.#fromEnd = o.fromEnd
    this.#groupId = `synthq-${o.purpose ?? 'status'}-${topic}-${randomUUID()}`
  }

  async start (): Promise<void> {
    const admin = this.#kafka.admin()
    await admin.connect()
    let ends: Array<{ partition: number, high: string, low: string }>
    try {
      if (!(await admin.listTopics()).includes(this.topic)) return // nothing written yet
      ends = await admin.fetchTopicOffsets(this.topic)
    } finally {
      await admin.disconnect()
    }
    // Empty partitions (nothing written, or all of it deleted by retention) have nothing to wait for.
    this.#target = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]))
    const consumer = this.#consumer = this.#kafka.consumer({ groupId: this.#groupId, readUncommitted: false, maxWaitTimeInMs: 500 })
    await consumer.connect()
    await consumer.subscribe({ topic: this.topic, fromBeginning: true })
    const advance = (p: number, next: number): void => { if (next > (this.#position.get(p) ?? 0)) this.#position.set(p, next) }
    // Batches of transaction markers only never reach eachBatch, but they do end a batch.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const p = e.payload as { partition: number, lastOffset: string }
      advance(p.partition, Number(p.lastOffset) + 1)
    })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          this.#onRecord({ partition: batch.partition, offset: Number(m.offset), key: m.key?.toString('utf8') ?? null, value: m.value, timestamp: Number(m.timestamp) })
        }
        advance(batch.partition, Number(batch.lastOffset()) + 1)
      },
    })
    if (this.#fromEnd !== undefined) {
      for (const e of ends) {
        const from = Math.max(Number(e.low), Number(e.high) - this.#fromEnd)
        this.#position.set(e.partition, from)
        consumer.seek({ topic: this.topic, partition: e.partition, offset: String(from) })
      }
    }
  }

  /** Where `partition` ended when the tail started (records from there on arrived later). */
  endOf (partition: number): number {
    return this.#target.get(partition) ?? 0
  }

  /** Every partition read up to where it ended when the tail started. */
  caughtUp (): boolean {
    for (const [p, high] of this.#target) if ((this.#position.get(p) ?? 0) < high) return false
    return true
  }

  async waitCaughtUp (timeoutMs = 120_000): Promise<void> {
    const t0 = Date.now()
    while (!this.caughtUp()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`reading ${this.topic} did not reach its end within ${timeoutMs / 1000} s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  async close (): Promise<void> {
    if (!this.#consumer) return
    await this.#consumer.disconnect().catch(() => {})
    const admin = this.#kafka.admin()
    await admin.connect().then(async () => await admin.deleteGroups([this.#groupId])).catch(() => {}).finally(() => { void admin.disconnect() })
  }
}
