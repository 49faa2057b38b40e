/**
 * Reading a topic's raw records for `synthq tap` and `synthq dlq` without disturbing the
 * pipeline.
 *
 * Embedded: the SQLite log is opened read-only and queried directly; no consumer position is
 * read or written. `follow` polls for records other processes append.
 *
 * Kafka: KafkaJS has no assign(), so the reader joins a throwaway consumer group of its own
 * (`synthq-tap-<topic>-<pid>-<random>`), seeks each partition to its start, never commits, and
 * deletes the group when it ends (also after Ctrl-C). The pipeline's groups (`<prefix>.<stage>`)
 * are never touched. Records are read committed (read_committed), as the pipeline's stages read.
 */
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { Kafka } from 'kafkajs'
import { ConfigError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { offsetFor, type StartPosition } from './select.ts'

export interface TapRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: string | null
  value: Buffer | null
  headers: Record<string, string>
}

export interface ReadOptions {
  topic: string
  start: StartPosition
  /** Keep reading new records until `signal` aborts; else stop at the end as of the start. */
  follow: boolean
  signal?: AbortSignal
  /** Embedded follow: how often to look for new records (default 200 ms). */
  pollMs?: number
  /** Called once the start offsets are fixed (records written from then on will be read). */
  onStart?: (starts: ReadonlyArray<{ partition: number, offset: number }>) => void
}

/** Called for each record in offset order per partition; returning 'stop' ends the read. */
export type OnRecord = (r: TapRecord) => Promise<void | 'stop'> | void | 'stop'

const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal?.aborted) return resolve()
  const t = setTimeout(() => { signal?.removeEventListener('abort', done); resolve() }, ms)
  const done = (): void => { clearTimeout(t); resolve() }
  signal?.addEventListener('abort', done, { once: true })
})

/** The embedded database opened read-only (it must exist). */
export function openEmbeddedReadOnly (path: string): Database.Database {
  if (path !== ':memory:' && !existsSync(path)) throw new ConfigError(`no embedded database at ${path} (run npm start or synthq run first, or pass --db)`)
  const db = new Database(path, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 10000')
  const tables = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name))
  const missing = ['records', 'topics', 'schemas', 'subject_versions'].filter((t) => !tables.has(t))
  if (missing.length) {
    db.close()
    throw new ConfigError(`${path} is not a synthq embedded database with topics (no ${missing.join(', ')} table): run npm start or synthq run first, or pass --db`)
  }
  return db
}

/** The replays `synthq dlq replay` recorded in the embedded database (it has no record headers). */
function replayLookup (db: Database.Database): (topic: string, offset: number) => string | undefined {
  const exists = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'dlq_replays'").get()!.n > 0
  if (!exists) return () => undefined
  const stmt = db.prepare<[string, number], { dead_letter_id: string }>('SELECT dead_letter_id FROM dlq_replays WHERE topic = ? AND offset = ?')
  return (topic, offset) => stmt.get(topic, offset)?.dead_letter_id
}

/** Reads `o.topic` from the embedded database `db` (one partition, 0). */
export async function readEmbedded (db: Database.Database, o: ReadOptions, onRecord: OnRecord): Promise<void> {
  const head = db.prepare<[string], { next_offset: number }>('SELECT next_offset FROM topics WHERE topic = ?')
  const read = db.prepare<[string, number, number], { offset: number, key: string | null, value: Buffer | null, timestamp: number }>('SELECT offset, key, value, timestamp FROM records WHERE topic = ? AND offset >= ? ORDER BY offset LIMIT ?')
  const replayOf = replayLookup(db)
  const headNow = (): number => head.get(o.topic)?.next_offset ?? 0
  let from: number
  switch (o.start.kind) {
    case 'beginning': from = 0; break
    case 'latest': from = headNow(); break
    case 'offset': {
      for (const p of o.start.partitions.keys()) if (p !== 0) throw new ConfigError(`--offset ${p}:N: the embedded log has one partition, 0`)
      from = offsetFor(o.start, 0) ?? 0
      break
    }
    case 'time': {
      const row = db.prepare<[string, number], { offset: number | null }>('SELECT MIN(offset) AS offset FROM records WHERE topic = ? AND timestamp >= ?').get(o.topic, o.start.at)
      from = row?.offset ?? headNow()
      break
    }
  }
  const end = o.follow ? Infinity : headNow()
  o.onStart?.([{ partition: 0, offset: from }])
  while (!o.signal?.aborted) {
    const rows = from < end ? read.all(o.topic, from, Math.min(500, end - from)) : []
    for (const r of rows) {
      if (r.offset >= end) return
      from = r.offset + 1
      const replay = replayOf(o.topic, r.offset)
      if (await onRecord({ topic: o.topic, partition: 0, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: replay ? { 'synthq-replay-of': replay } : {} }) === 'stop') return
      if (o.signal?.aborted) return
    }
    if (rows.length === 0) {
      if (!o.follow) return
      // Compacted topics have gaps: skip to the head when nothing is left below it.
      await sleep(o.pollMs ?? 200, o.signal)
    }
  }
}

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
