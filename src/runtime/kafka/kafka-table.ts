/**
 * Reads a compacted topic fully into a {@link MemoryTable} and keeps it up to date. Every
 * runner process reads the whole topic (like Kafka Streams' GlobalKTable), through a consumer
 * group of its own that never commits, so restarts always rebuild from the log.
 */
import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import { SynthqError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import type { AvroSerde } from '../../serde/avro-serde.ts'
import { withDeadline } from '../scheduler.ts'
import { MemoryTable } from '../tables.ts'
import { bridgeConsumer } from './kafka-diagnostics.ts'

export class KafkaTable {
  readonly table = new MemoryTable()
  readonly topic: string
  readonly #kafka: Kafka
  readonly #serde: AvroSerde
  readonly #logger: Logger
  #consumer: Consumer | undefined
  #stopping = false
  /** Records whose bytes could not be decoded (not a registry outage: those are waited for). */
  undecodable = 0
  /** Per partition: the offset after the last record seen (control records included). */
  readonly #position = new Map<number, number>()

  constructor (kafka: Kafka, serde: AvroSerde, topic: string, logger: Logger) {
    this.#kafka = kafka
    this.#serde = serde
    this.topic = topic
    this.#logger = logger.child({ table: topic })
  }

  /** Starts reading; resolves once the table holds everything written before the call. */
  async start (timeoutMs = 60_000): Promise<void> {
    const admin = this.#kafka.admin()
    await admin.connect()
    const ends = await admin.fetchTopicOffsets(this.topic).finally(() => admin.disconnect())
    const groupId = `synthq-table-${this.topic}-${randomUUID()}`
    const consumer = this.#kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 500 })
    this.#consumer = consumer
    bridgeConsumer(consumer, { table: this.topic, group: groupId })
    await consumer.connect()
    await consumer.subscribe({ topic: this.topic, fromBeginning: true })
    const caughtUp = (): boolean => ends.every((e) => Number(e.high) <= Number(e.low) || (this.#position.get(e.partition) ?? 0) >= Number(e.high))
    const { END_BATCH_PROCESS } = consumer.events
    // Batches of only transaction markers never reach eachBatch, but do emit this event.
    consumer.on(END_BATCH_PROCESS, (e) => {
      const p = e.payload as { partition: number, lastOffset: string }
      this.#advance(p.partition, Number(p.lastOffset) + 1)
    })
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat }) => {
        for (const m of batch.messages) {
          const key = m.key?.toString('utf8')
          if (key === undefined) continue
          for (let attempt = 0; ; attempt++) {
            try {
              this.table.apply(key, m.value === null ? null : await this.#serde.decode(this.topic, m.value))
              break
            } catch (err) {
              // The registry being away is no reason to miss a row: wait for it, however long
              // (readers of the table simply see it a little later).
              if (err instanceof SynthqError && err.retriable && !this.#stopping) {
                const wait = Math.min(10_000, 200 * 2 ** Math.min(attempt, 6))
                this.#logger.warn({ key, partition: batch.partition, offset: m.offset, err: err.message, retryInMs: wait }, 'table record cannot be decoded yet; trying again')
                await new Promise((r) => setTimeout(r, wait))
                await heartbeat().catch(() => {})
                continue
              }
              // Bytes no reader can decode: counted, and named in the log.
              this.undecodable++
              this.#logger.error({ key, partition: batch.partition, offset: m.offset, err: (err as Error).message }, 'table record skipped: it cannot be decoded')
              break
            }
          }
        }
        this.#advance(batch.partition, Number(batch.lastOffset()) + 1)
      },
    })
    const started = Date.now()
    while (!caughtUp()) {
      if (Date.now() - started > timeoutMs) throw new Error(`table ${this.topic} did not catch up within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  #advance (partition: number, position: number): void {
    if (position > (this.#position.get(partition) ?? 0)) this.#position.set(partition, position)
  }

  async stop (timeoutMs = 30_000): Promise<void> {
    this.#stopping = true
    // Leaving the group needs a broker; a table's group never commits, so giving up is harmless.
    if (this.#consumer && !await withDeadline(this.#consumer.disconnect(), timeoutMs)) this.#logger.warn('leaving the table\'s consumer group did not finish in time')
  }
}
