/**
 * Consumer lag on Kafka: each stage's consumer group offsets against its input partitions' last
 * stable offsets — what kafka-consumer-groups.sh --describe prints, summed over partitions —
 * less what the offsets hold that is not a record.
 *
 * Offsets are not records: every transaction leaves a marker in each partition it wrote (an
 * idle exactly-once pipeline ends each partition with one or two of them, which no consumer
 * commits past), and aborted records occupy offsets too. A {@link RecordCensus} reads the input
 * topics read_committed and notes which offsets held no record, so lag and "done" count
 * records: an idle pipeline after N inputs shows lag 0 and done N. Records completed beyond a
 * committed offset (in the commit's metadata, see offset-tracker.ts) count as done. Without a
 * census — or beyond the window it reads — offsets are counted as records.
 */
import { randomUUID } from 'node:crypto'
import type { Admin, Consumer, Kafka } from 'kafkajs'
import { decodeCompleted } from '../offset-tracker.ts'
import type { LagFigures, StageInput } from '../transport.ts'

export interface PartitionEnds { partition: number, high: number, low: number }

/** Each input topic's partitions: first and last stable offsets (missing topics left out). */
export async function inputEnds (admin: Admin, topics: Iterable<string>): Promise<Map<string, PartitionEnds[]>> {
  const ends = new Map<string, PartitionEnds[]>()
  const existing = new Set(await admin.listTopics())
  for (const topic of new Set(topics)) {
    if (!existing.has(topic)) continue
    // Read committed (ListOffsets v2+): `high` is the last stable offset, what a read_committed reader reaches.
    ends.set(topic, (await admin.fetchTopicOffsets(topic)).map((e) => ({ partition: e.partition, high: Number(e.high), low: Number(e.low) })))
  }
  return ends
}

/**
 * Lag and committed records of each stage. With a `census` that has read the input topics,
 * offsets that hold no record (transaction markers, aborted records) are not counted.
 */
export async function kafkaLag<S extends StageInput> (admin: Admin, stages: readonly S[], census?: RecordCensus, o: { ends?: Map<string, PartitionEnds[]> } = {}): Promise<Array<S & LagFigures>> {
  const ends = o.ends ?? await inputEnds(admin, stages.map((s) => s.input))
  const groups = await admin.describeGroups(stages.map((s) => s.group))
  const members = new Map(groups.groups.map((g) => [g.groupId, g.state === 'Dead' ? 0 : g.members.length]))
  const out: Array<S & LagFigures> = []
  const lowest = new Map<string, number>()
  for (const s of stages) {
    const partitions = ends.get(s.input)
    if (!partitions) { out.push({ ...s, lag: 0, committed: 0, consumers: members.get(s.group) ?? 0, exact: true }); continue }
    const [committed] = await admin.fetchOffsets({ groupId: s.group, topics: [s.input] })
    const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, { offset: Number(p.offset), metadata: p.metadata }]))
    let lag = 0
    let done = 0
    let exact = census !== undefined
    for (const e of partitions) {
      const c = at.get(e.partition)?.offset ?? -1
      const position = c < 0 ? e.low : Math.max(c, e.low) // -1: nothing committed yet → from the start
      // Records already completed beyond the committed offset: done, not waiting.
      const beyond = c < 0 ? 0 : decodeCompleted(c, at.get(e.partition)?.metadata).filter((x) => x >= position && x < e.high).length
      const ahead = census ? census.nonRecords(s.input, e.partition, position, e.high) : 0
      lag += Math.max(0, e.high - position - ahead - beyond)
      done += c < 0 ? 0 : c - (census ? census.nonRecords(s.input, e.partition, 0, c) : 0) + beyond
      if (census && !census.covers(s.input, e.partition, position, e.high)) exact = false
    }
    out.push({ ...s, lag, committed: done, consumers: members.get(s.group) ?? 0, partitions: partitions.length, exact })
    for (const e of partitions) {
      const c = at.get(e.partition)?.offset ?? -1
      const key = `${s.input}\u0000${e.partition}`
      lowest.set(key, Math.min(lowest.get(key) ?? Infinity, c < 0 ? e.low : c))
    }
  }
  // Below every stage's committed offset, the census need only keep a count.
  for (const [key, offset] of lowest) {
    const [topic, partition] = key.split('\u0000')
    census?.fold(topic!, Number(partition), offset)
  }
  return out
}

interface PartitionCensus {
  /** Where reading began: offsets below are not known (counted as records). */
  start: number
  /** The next offset to read: every offset below it (from `start`) is known. */
  position: number
  /** Non-record offsets below `folded.upTo`, counted but no longer kept one by one. */
  folded: { upTo: number, count: number }
  /** Non-record offset runs [from, to) at or above `folded.upTo`, in order. */
  runs: Array<[number, number]>
}

/** How many offsets of each partition a census reads back from the end when it starts. */
export const CENSUS_WINDOW = 2_000

/**
 * Which offsets of some topics hold no record. A consumer in a throwaway group
 * (`synthq-census-<uuid>`, deleted on close) that commits nothing reads the topics
 * read_committed — each partition from at most `window` offsets before its end, then following
 * new records — and notes the offsets it steps over: transaction markers and aborted records.
 * Offsets it has not read count as records.
 */
export class RecordCensus {
  readonly #kafka: Kafka
  readonly #window: number
  readonly #groupId = `synthq-census-${randomUUID()}`
  readonly #parts = new Map<string, PartitionCensus>()
  #topics = new Set<string>()
  #consumer: Consumer | undefined

  constructor (kafka: Kafka, o: { window?: number } = {}) {
    this.#kafka = kafka
    this.#window = o.window ?? CENSUS_WINDOW
  }

  /** The topics being read. */
  get topics (): ReadonlySet<string> {
    return this.#topics
  }

  /** Starts reading the topics of `ends` (they must exist). */
  async start (ends: ReadonlyMap<string, readonly PartitionEnds[]>): Promise<void> {
    this.#topics = new Set(ends.keys())
    if (this.#topics.size === 0) return
    for (const [topic, parts] of ends) {
      for (const e of parts) {
        const start = Math.max(e.low, e.high - this.#window)
        this.#parts.set(`${topic}\u0000${e.partition}`, { start, position: start, folded: { upTo: start, count: 0 }, runs: [] })
      }
    }
    const consumer = this.#consumer = this.#kafka.consumer({ groupId: this.#groupId, readUncommitted: false, maxWaitTimeInMs: 500 })
    await consumer.connect()
    await consumer.subscribe({ topics: [...this.#topics], fromBeginning: true })
    // A batch of markers or aborted records only never reaches eachBatch, but it does end a
    // batch: every offset up to its last was read. (An empty batch has no first offset: its
    // "last offset" is only the high watermark, possibly beyond an open transaction.)
    consumer.on(consumer.events.END_BATCH_PROCESS, (ev) => {
      const b = ev.payload as { topic: string, partition: number, firstOffset: string | null, lastOffset: string }
      if (b.firstOffset !== null) this.#skipTo(b.topic, b.partition, Number(b.lastOffset) + 1)
    })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const o = Number(m.offset)
          this.#skipTo(batch.topic, batch.partition, o)
          const p = this.#parts.get(`${batch.topic}\u0000${batch.partition}`)
          if (p && o >= p.position) p.position = o + 1
        }
      },
    })
    for (const [topic, parts] of ends) {
      for (const e of parts) consumer.seek({ topic, partition: e.partition, offset: String(this.#parts.get(`${topic}\u0000${e.partition}`)!.start) })
    }
  }

  /** Offsets from the partition's position up to `to` were read and held no record. */
  #skipTo (topic: string, partition: number, to: number): void {
    const p = this.#parts.get(`${topic}\u0000${partition}`)
    if (!p || to <= p.position) return
    const last = p.runs[p.runs.length - 1]
    if (last && last[1] === p.position) last[1] = to
    else p.runs.push([p.position, to])
    p.position = to
  }

  /** Whether every offset of [from, to) of the partition has been read. */
  covers (topic: string, partition: number, from: number, to: number): boolean {
    const p = this.#parts.get(`${topic}\u0000${partition}`)
    return p !== undefined && (from >= to || (from >= p.start && to <= p.position))
  }

  /** Waits (at most `timeoutMs`) until every partition of `ends` is read up to its end. */
  async reach (ends: ReadonlyMap<string, readonly PartitionEnds[]>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    const behind = (): boolean => {
      for (const [topic, parts] of ends) {
        for (const e of parts) {
          const p = this.#parts.get(`${topic}\u0000${e.partition}`)
          if (p && p.position < e.high) return true // (a partition added since the start is not read)
        }
      }
      return false
    }
    while (behind()) {
      if (Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    return true
  }

  /** Offsets of [from, to) of the partition read as holding no record. */
  nonRecords (topic: string, partition: number, from: number, to: number): number {
    const p = this.#parts.get(`${topic}\u0000${partition}`)
    if (!p || to <= from) return 0
    let n = from <= p.start && to >= p.folded.upTo ? p.folded.count : 0
    for (const [a, b] of p.runs) {
      if (b <= from) continue
      if (a >= to) break
      n += Math.min(b, to) - Math.max(a, from)
    }
    return n
  }

  /** Forgets the runs below `offset` one by one, keeping their count (below every committed offset of the partition). */
  fold (topic: string, partition: number, offset: number): void {
    const p = this.#parts.get(`${topic}\u0000${partition}`)
    if (!p || offset <= p.folded.upTo) return
    const upTo = Math.min(offset, p.position)
    while (p.runs.length && p.runs[0]![1] <= upTo) {
      const [a, b] = p.runs.shift()!
      p.folded.count += b - a
    }
    p.folded.upTo = p.runs.length && p.runs[0]![0] < upTo ? p.runs[0]![0] : upTo
  }

  async close (): Promise<void> {
    const consumer = this.#consumer
    this.#consumer = undefined
    if (!consumer) return
    await consumer.disconnect().catch(() => {})
    const admin = this.#kafka.admin()
    await admin.connect().then(async () => await admin.deleteGroups([this.#groupId])).catch(() => {}).finally(() => { void admin.disconnect() })
  }
}
