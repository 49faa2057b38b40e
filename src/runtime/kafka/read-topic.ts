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
import type { Kafka } from 'kafkajs'
import type { TopicRecord } from '../transport.ts'
import { TopicTail } from './topic-tail.ts'

export type { TopicRecord }

/** A topic that does not exist yet reads as empty. */
export async function readTopicToEnd (kafka: Kafka, topic: string, timeoutMs = 120_000): Promise<TopicRecord[]> {
  const out: TopicRecord[] = []
  const tail: TopicTail = new TopicTail(kafka, topic, (r) => {
    if (r.offset < tail.endOf(r.partition)) out.push({ partition: r.partition, offset: r.offset, key: r.key, value: r.value })
  }, { purpose: 'read' })
  try {
    await tail.start()
    await tail.waitCaughtUp(timeoutMs)
  } finally {
    await tail.close()
  }
  return out
}
