/**
 * Reading a topic's raw records on Kafka for `synthq tap` and `synthq dlq` without disturbing
 * the pipeline. KafkaJS has no assign(), so the reader joins a throwaway consumer group of its
 * own (`synthq-tap-<topic>-<pid>-<random>`), seeks each partition to its start, never commits,
 * and deletes the group when it ends (also after Ctrl-C). The pipeline's groups
 * (`<prefix>.<stage>`) are never touched. Records are read committed (read_committed), as the
 * pipeline's stages read.
 */
import { randomBytes } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { ConfigError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { offsetFor, type OnRecord, type ReadOptions } from '../transport.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface PartitionRange {
  partition: number
  /** First offset to read. */
  start: number
  /** Read up to (excluding) this offset; Infinity when following. */
  end: number
}

/** The name of a throwaway tap group: says tap, the topic, this process and a random part. */
export function tapGroupId (topic: string): string {
  return `synthq-tap-${topic}-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** Per-partition ranges for a start position on Kafka (admin calls only). */
export async function kafkaRanges (kafka: Kafka, o: ReadOptions): Promise<PartitionRange[]> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const topics = await admin.listTopics()
    if (!topics.includes(o.topic)) throw new ConfigError(`topic ${o.topic} does not exist on this Kafka cluster (synthq topics create makes the pipeline's topics)`)
    const offsets = await admin.fetchTopicOffsets(o.topic)
    const byTime = o.start.kind === 'time' ? new Map((await admin.fetchTopicOffsetsByTimestamp(o.topic, o.start.at)).map((x) => [x.partition, Number(x.offset)])) : undefined
    const start = o.start
    if (start.kind === 'offset') {
      for (const p of start.partitions.keys()) if (!offsets.some((x) => x.partition === p)) throw new ConfigError(`--offset ${p}:N: ${o.topic} has partitions 0–${offsets.length - 1}`)
    }
    const ranges: PartitionRange[] = []
    for (const x of offsets.sort((a, b) => a.partition - b.partition)) {
      const low = Number(x.low)
      const high = Number(x.high)
      let s: number | undefined
      switch (start.kind) {
        case 'beginning': s = low; break
        case 'latest': s = high; break
        case 'offset': { const n = offsetFor(start, x.partition); s = n === undefined ? undefined : Math.min(Math.max(n, low), high); break }
        case 'time': s = byTime!.get(x.partition) ?? high; break
      }
      // A partition --offset does not name is listed as not to be read.
      ranges.push({ partition: x.partition, start: s ?? Infinity, end: o.follow ? Infinity : high })
    }
    return ranges
  } finally {
    await admin.disconnect()
  }
}

/** Deletes a throwaway group once it is empty (retrying while the broker still sees it). */
export async function deleteGroup (kafka: Kafka, groupId: string, logger: Logger): Promise<boolean> {
  const admin = kafka.admin()
  try {
    await admin.connect()
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await admin.deleteGroups([groupId])
        return true
      } catch (err) {
        const e = err as { groups?: Array<{ error?: { type?: string } }>, type?: string }
        const type = e.groups?.[0]?.error?.type ?? e.type
        // Never joined (nothing to delete) is success; not yet empty is worth a retry.
        if (type === 'GROUP_ID_NOT_FOUND') return true
        if (attempt === 9) throw err
        await sleep(300)
      }
    }
    return false
  } catch (err) {
    logger.warn({ groupId, err: (err as Error).message }, 'could not delete the tap\'s throwaway consumer group')
    return false
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

/**
 * Reads `o.topic` from Kafka over `ranges` (see kafkaRanges). Resolves when every range is read
 * (not following), when `onRecord` says stop, or when `o.signal` aborts; the throwaway group is
 * deleted before it resolves.
 */
export async function readKafka (kafka: Kafka, o: ReadOptions, ranges: readonly PartitionRange[], onRecord: OnRecord, logger: Logger): Promise<void> {
  const todo = ranges.filter((r) => r.start < r.end)
  o.onStart?.(todo.map((r) => ({ partition: r.partition, offset: r.start })))
  if (todo.length === 0 || o.signal?.aborted) return
  const next = new Map(todo.map((r) => [r.partition, r.start]))
  const ends = new Map(todo.map((r) => [r.partition, r.end]))
  const done = (): boolean => [...next].every(([p, n]) => n >= ends.get(p)!)
  const groupId = tapGroupId(o.topic)
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 500, retry: { retries: 5 } })
  let stopped = false
  let failure: unknown
  let wake: () => void = () => {}
  const woken = (): Promise<void> => new Promise((resolve) => { wake = resolve })
  let pending = woken()
  const stop = (): void => { stopped = true; wake() }
  o.signal?.addEventListener('abort', stop, { once: true })
  try {
    await consumer.connect()
    await consumer.subscribe({ topic: o.topic, fromBeginning: true })
    // A batch of transaction markers only never reaches eachBatch but does end a batch.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const p = e.payload as { partition: number, lastOffset: string, offsetLagLow?: string }
      const n = next.get(p.partition)
      const after = Math.min(Number(p.lastOffset) + 1, ends.get(p.partition) ?? 0)
      if (n !== undefined && after > n) next.set(p.partition, after)
      if (!o.follow && done()) stop()
    })
    consumer.on(consumer.events.CRASH, (e) => { failure = (e.payload as { error: Error }).error; stop() })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
        const p = batch.partition
        for (const m of batch.messages) {
          if (stopped || !isRunning() || isStale()) return
          const offset = Number(m.offset)
          const n = next.get(p)
          if (n === undefined || offset < n) continue // before the start, or read already (before the seek took effect)
          if (offset >= ends.get(p)!) { next.set(p, ends.get(p)!); break }
          next.set(p, offset + 1)
          const headers: Record<string, string> = {}
          for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String).join(',') : String(v)
          const verdict = await onRecord({ topic: o.topic, partition: p, offset, timestamp: Number(m.timestamp), key: m.key?.toString('utf8') ?? null, value: m.value, headers })
          resolveOffset(m.offset)
          if (verdict === 'stop') { stop(); return }
        }
        if (!o.follow && done()) stop()
      },
    })
    for (const r of todo) consumer.seek({ topic: o.topic, partition: r.partition, offset: String(r.start) })
    // Partitions this read does not want are paused: their records are not fetched.
    const idle = ranges.filter((r) => !next.has(r.partition)).map((r) => r.partition)
    if (idle.length) consumer.pause([{ topic: o.topic, partitions: idle }])
    while (!stopped) {
      await pending
      pending = woken()
    }
  } finally {
    o.signal?.removeEventListener('abort', stop)
    // A consumer stuck joining its group must not hold the command forever.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([consumer.disconnect(), new Promise((resolve) => { timer = setTimeout(resolve, 15_000) })])
    clearTimeout(timer)
    await deleteGroup(kafka, groupId, logger)
  }
  if (failure) throw failure
}
