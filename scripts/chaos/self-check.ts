/**
 * The verifier's own check (`npm run chaos -- --self-check`): once the run has drained, one
 * duplicate and one loss are planted by hand, and the verifier must find exactly those.
 *
 *   - a committed record of `<prefix>.concepts` is written to that topic again, outside any
 *     transaction: concept-extraction now has two outputs for one input (a duplicate);
 *   - search-retrieval's committed offset is moved past that copy while its workers are stopped:
 *     search-retrieval has consumed an input it wrote nothing for (a loss).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs

export async function plantDuplicateAndLoss (brokers: string[], prefix: string): Promise<string> {
  const kafka = new Kafka({ brokers, clientId: 'synthq-chaos-self-check', logLevel: logLevel.NOTHING })
  const topic = `${prefix}.concepts`
  const consumer = kafka.consumer({ groupId: `${prefix}-self-check-${Date.now()}`, readUncommitted: false })
  await consumer.connect()
  let picked: { partition: number, offset: string, key: Buffer | null, value: Buffer | null } | undefined
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve) => {
      void consumer.run({ eachMessage: async ({ partition, message }) => { if (!picked) { picked = { partition, offset: message.offset, key: message.key, value: message.value }; resolve() } } })
    })
  } finally {
    await consumer.disconnect()
  }
  const p = picked!
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  let copyOffset: number
  try {
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: p.key, value: p.value, partition: p.partition }] })
    copyOffset = Number(meta!.baseOffset)
  } finally {
    await producer.disconnect()
  }
  const admin = kafka.admin()
  await admin.connect()
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        // Only an empty group's offsets can be set: its workers have left it.
        await admin.setOffsets({ groupId: `${prefix}.search-retrieval`, topic, partitions: [{ partition: p.partition, offset: String(copyOffset + 1) }] })
        break
      } catch (err) {
        if (attempt >= 60) throw err
        await sleep(1_000)
      }
    }
  } finally {
    await admin.disconnect()
  }
  return `${topic}[${p.partition}]@${p.offset} written again at offset ${copyOffset}; ${prefix}.search-retrieval committed past it at ${copyOffset + 1}`
}
