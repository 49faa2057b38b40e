/**
 * Reading the dataset back from the sink's two compacted topics (src/sink/sample-store.ts), with
 * the records a real run leaves there: the sink alone (test/helpers/sink-topology.ts) on the
 * embedded runner over 600 scored instructions with low scores, duplicate ids and texts and
 * unreadable records, read back through an AvroSerde over the database's registry as `synthq
 * export` does. The checkpoint decides membership: rows are exactly the reservoir's members,
 * tombstoned and evicted ids never appear, members without a row are counted as missing;
 * datasetRows relabels rows with the state's latest topic labels and sorts them by id; a
 * checkpoint whose parts do not add up is no state at all.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createLogger } from '../../src/log.ts'
import { readSinkState, type SampleRowValue, type SinkState } from '../../src/processors/sink/topic-balanced-sink.ts'
import { EmbeddedLog, type LogRecord } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import type { CheckpointPart } from '../../src/runtime/stateful-engine.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { sinkReport } from '../../src/sink/report.ts'
import { datasetRows, readSinkContents, type RawKeyed, type SinkContents } from '../../src/sink/sample-store.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { comparable, referenceState, sinkInputs, sinkTopology, type SinkInput } from '../helpers/sink-topology.ts'

const PREFIX = 'synthq'
const SAMPLE = topicName('sample', PREFIX)
const STATE = topicName('sinkState', PREFIX)
const INPUTS: SinkInput[] = sinkInputs(600)

interface Run {
  log: EmbeddedLog
  serde: AvroSerde
  sample: RawKeyed[]
  state: RawKeyed[]
  reference: SinkState
}

let run: Run | undefined

/** Runs the sink over INPUTS on the embedded runner until everything is checkpointed; then opens the database as `synthq export` does. */
before(async () => {
  const path = join(testTmpDir('sample-store'), 'synthq.db')
  const runner = new EmbeddedRunner(sinkTopology(0), { path, logger: createLogger({ level: 'silent' }), pollMs: 10 })
  await runner.start()
  try {
    const topic = topicName('scoredInstructions', PREFIX)
    const encoded = []
    for (const r of INPUTS) encoded.push({ topic, key: r.key, value: r.raw ?? await runner.serde.encode(topic, r.value) })
    runner.log.append(encoded)
    const deadline = Date.now() + 15_000
    while (!runner.idle()) {
      assert.ok(Date.now() < deadline, `the sink catches up within 15 s (${JSON.stringify(runner.stats())})`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  } finally {
    await runner.stop()
  }
  const log = new EmbeddedLog(path)
  const serde = new AvroSerde(new EmbeddedRegistry(log.db, path), SchemaCatalog.load(), { prefix: PREFIX })
  const raw = (r: LogRecord): RawKeyed => ({ key: r.key, value: r.value })
  run = { log, serde, sample: [...log.scan(SAMPLE)].map(raw), state: [...log.scan(STATE)].map(raw), reference: await referenceState(INPUTS) }
})

after(() => { run?.log.close() })

const r = (): Run => run!
const memberIds = (s: SinkState): string[] => s.reservoir.topics.flatMap((t) => t.items.map(([id]) => id)).sort()
const topicOf = (s: SinkState): Map<string, number> => new Map(s.reservoir.topics.flatMap((t) => t.items.map(([id]) => [id, Number(t.topic)] as [string, number])))
const ids = (c: SinkContents): string[] => c.rows.map((row) => row.id).sort()
const read = async (sample: Iterable<RawKeyed>, state: Iterable<RawKeyed> = r().state, stage?: string): Promise<SinkContents> => await readSinkContents(r().serde, PREFIX, sample, state, stage)
const parts = async (state: readonly RawKeyed[]): Promise<CheckpointPart[]> => await Promise.all(state.filter((x) => x.value).map(async (x) => await r().serde.decode<CheckpointPart>(STATE, x.value!)))
const encodePart = async (p: CheckpointPart): Promise<Buffer> => await r().serde.encode(STATE, p)
const tombstoned = (): string[] => r().sample.filter((x) => x.value === null).map((x) => x.key!)

describe('readSinkContents over a real run', () => {
  it('the database holds what a run leaves: one checkpoint generation, live rows and tombstones in the sample', async () => {
    const { sample, state, reference } = r()
    assert.ok(state.length >= 1 && state.every((x) => x.key?.startsWith('sink/')))
    assert.ok(tombstoned().length > 0, 'evictions left tombstones')
    assert.equal(sample.filter((x) => x.value !== null).length, memberIds(reference).length)
    assert.ok(reference.counters.evicted > 0 && reference.counters.dropped.below_min_score > 0 && reference.counters.dropped.duplicate_id > 0 && reference.counters.dropped.duplicate_text > 0)
  })

  it('the state is the newest checkpoint, equal to one uninterrupted pass; rows are exactly its reservoir members; nothing missing', async () => {
    const c = await read(r().sample)
    assert.ok(c.state)
    const generations = (await parts(r().state)).map((p) => p.generation)
    assert.equal(c.generation, Math.max(...generations))
    assert.ok(c.generation! >= 1)
    assert.deepEqual(comparable(c.state), comparable(r().reference), 'the checkpoint read back is the reference state')
    assert.equal(c.state.counters.seen, INPUTS.filter((x) => x.value).length)
    assert.deepEqual(ids(c), memberIds(c.state), 'rows = reservoir members')
    assert.equal(new Set(ids(c)).size, c.rows.length, 'no id twice')
    assert.equal(c.rows.length, 150)
    assert.equal(c.rows.length, c.state.counters.admitted - c.state.counters.evicted)
    assert.equal(c.missing, 0)
    const dead = new Set(tombstoned())
    for (const row of c.rows) assert.ok(!dead.has(row.id), `tombstoned ${row.id} is not a row`)
  })

  it('each row is its scored instruction, placed in the topic the state lists it under', async () => {
    const c = await read(r().sample)
    const byId = new Map(INPUTS.flatMap((x) => (x.value ? [[x.value.id, x.value] as const] : [])))
    const topics = topicOf(c.state!)
    const firstById = new Map<string, string>()
    for (const x of INPUTS) if (x.value && !firstById.has(x.value.id)) firstById.set(x.value.id, x.value.instruction)
    for (const row of c.rows) {
      const src = byId.get(row.id)!
      assert.equal(row.instruction, firstById.get(row.id), `${row.id}: the first record of an id wins`)
      assert.ok(src.total >= 3)
      assert.equal(row.total, src.total)
      assert.equal(row.topic, topics.get(row.id))
      assert.equal(row.vectors, 'lexical')
      assert.equal(row.lineage.stage, 'sink')
      assert.ok(row.topic_label.length > 0)
    }
  })

  it('later records of a key win: a tombstone after a row removes it (missing), a row after a tombstone restores it', async () => {
    const c0 = await read(r().sample)
    const victim = c0.rows[0]!.id
    const row = r().sample.find((x) => x.key === victim)!
    const removed = await read([...r().sample, { key: victim, value: null }])
    assert.ok(!ids(removed).includes(victim))
    assert.equal(removed.missing, 1)
    const back = await read([{ key: victim, value: null }, ...r().sample.filter((x) => x.key !== victim), row])
    assert.deepEqual(ids(back), ids(c0))
    assert.equal(back.missing, 0)
  })

  it('a member whose row was not read is counted in missing, not invented', async () => {
    const c0 = await read(r().sample)
    const drop = new Set(c0.rows.slice(0, 3).map((row) => row.id))
    const c = await read(r().sample.filter((x) => !drop.has(x.key!)))
    assert.equal(c.missing, 3)
    assert.equal(c.rows.length, c0.rows.length - 3)
    assert.deepEqual(ids(c), ids(c0).filter((id) => !drop.has(id)))
    assert.deepEqual(memberIds(c.state!), ids(c0), 'the state still lists them')
    const none = await read([])
    assert.equal(none.missing, 150)
    assert.deepEqual(none.rows, [])
  })

  it('a live row the state does not list (evicted after the read) is left out; records without a key are ignored', async () => {
    const c0 = await read(r().sample)
    const evicted = tombstoned()[0]!
    const template = await r().serde.decode<SampleRowValue>(SAMPLE, r().sample.find((x) => x.value)!.value!)
    const stale = await r().serde.encode(SAMPLE, { ...template, id: evicted })
    const c = await read([...r().sample.filter((x) => x.key !== evicted), { key: evicted, value: stale }, { key: null, value: stale }])
    assert.deepEqual(ids(c), ids(c0))
    assert.equal(c.missing, 0)
  })
})

describe('datasetRows', () => {
  it('relabels rows with the state\'s latest labels, sorts by id, and carries the row\'s fields', async () => {
    const c = await read(r().sample)
    const rows = datasetRows(c)
    assert.equal(rows.length, c.rows.length)
    const sorted = [...rows.map((x) => x.id)].sort()
    assert.deepEqual(rows.map((x) => x.id), sorted, 'sorted by id (code units)')
    assert.notDeepEqual(c.rows.map((x) => x.id), sorted, 'the sample order is not already sorted (so sorting is tested)')
    const labels = new Map(sinkReport(c.state!).topics.map((t) => [t.topic, t.label]))
    const byId = new Map(c.rows.map((x) => [x.id, x]))
    let relabelled = 0
    for (const d of rows) {
      const src = byId.get(d.id)!
      assert.equal(d.topic_label, labels.get(src.topic as number), `${d.id}: the state's label for topic ${src.topic}`)
      if (src.topic_label !== d.topic_label) relabelled++
      assert.equal(d.topic, src.topic)
      assert.equal(d.instruction, src.instruction)
      assert.equal(d.scene, src.scene)
      assert.deepEqual(d.query_compositions, src.query_compositions)
      assert.deepEqual(d.criteria, src.criteria)
      assert.equal(d.total, src.total)
      assert.equal(d.document_id, src.document.id)
      assert.equal(d.document_url, src.document.url)
      assert.deepEqual(d.lineage, src.lineage)
      assert.equal(d.simulated, src.lineage.simulated)
    }
    assert.ok(relabelled > 0, 'labels moved on since some rows were admitted (so relabelling is tested on real rows)')
  })

  it('a stale label stamped on a row gives way to the state\'s; without a state the row keeps its own', async () => {
    const c = await read(r().sample)
    const first = c.rows[0]!
    const stale: SinkContents = { ...c, rows: [{ ...first, topic_label: 'stale_label' }, ...c.rows.slice(1)] }
    const want = new Map(sinkReport(c.state!).topics.map((t) => [t.topic, t.label])).get(first.topic)
    assert.ok(want && want !== 'stale_label')
    assert.equal(datasetRows(stale).find((d) => d.id === first.id)!.topic_label, want)
    const stateless: SinkContents = { rows: stale.rows, state: null, generation: null, missing: 0 }
    assert.equal(datasetRows(stateless).find((d) => d.id === first.id)!.topic_label, 'stale_label')
    assert.deepEqual(datasetRows({ rows: [], state: c.state, generation: c.generation, missing: 0 }), [])
  })
})

describe('the checkpoint record', () => {
  it('a part whose data was altered (one byte flipped) and no other generation: no state, every live sample row, nothing missing', async () => {
    const [p, ...rest] = await parts(r().state)
    assert.equal(rest.length, 0, 'the run checkpointed in one part')
    const data = Buffer.from(p!.data)
    data[Math.floor(data.length / 2)]! ^= 0x01
    const corrupt = [{ key: 'sink/0', value: await encodePart({ ...p!, data }) }]
    // An evicted id with a live row: with no state there is nothing to filter it out.
    const evicted = tombstoned()[0]!
    const template = await r().serde.decode<SampleRowValue>(SAMPLE, r().sample.find((x) => x.value)!.value!)
    const extra = { key: evicted, value: await r().serde.encode(SAMPLE, { ...template, id: evicted }) }
    const c = await read([...r().sample.filter((x) => x.key !== evicted), extra], corrupt)
    assert.equal(c.state, null)
    assert.equal(c.generation, null)
    assert.equal(c.missing, 0)
    assert.deepEqual(ids(c), [...memberIds(r().reference), evicted].sort(), 'the sample topic as it stands')
    // A corrupt checksum field is the same.
    const badSha = await read(r().sample, [{ key: 'sink/0', value: await encodePart({ ...p!, sha256: '0'.repeat(64) }) }])
    assert.equal(badSha.state, null)
    // No state records at all: the same.
    const none = await read(r().sample, [])
    assert.equal(none.state, null)
    assert.deepEqual(ids(none), memberIds(r().reference))
  })

  it('a checkpoint in several parts is joined; with a part missing there is no state', async () => {
    const [p] = await parts(r().state)
    const cuts = [0, Math.floor(p!.data.length / 3), Math.floor((2 * p!.data.length) / 3), p!.data.length]
    const split = await Promise.all([0, 1, 2].map(async (i) => ({ key: `sink/${i}`, value: await encodePart({ ...p!, generation: p!.generation + 1, part: i, parts: 3, data: p!.data.subarray(cuts[i]!, cuts[i + 1]!) }) })))
    // Written after the single-part generation (same key sink/0): the newest value per key counts.
    const c = await read(r().sample, [...r().state, split[2]!, split[0]!, split[1]!])
    assert.equal(c.generation, p!.generation + 1)
    assert.deepEqual(c.state, readSinkState(p!.data))
    assert.deepEqual(ids(c), memberIds(r().reference))
    const gap = await read(r().sample, [...r().state, split[0]!, split[2]!])
    assert.equal(gap.state, null, 'generation g+1 lacks part 1, and its part 0 replaced generation g\'s')
    const tomb = await read(r().sample, [...r().state, ...split, { key: 'sink/1', value: null }])
    assert.equal(tomb.state, null, 'a tombstoned part is a missing part')
  })

  it('only the stage\'s own parts are read (keys <stage>/<part>)', async () => {
    const [p] = await parts(r().state)
    const other = [{ key: 'other/0', value: await encodePart({ ...p!, stage: 'other' }) }]
    assert.equal((await read(r().sample, other)).state, null)
    const c = await read(r().sample, other, 'other')
    assert.deepEqual(c.state, readSinkState(p!.data))
    assert.equal((await read(r().sample, r().state, 'sin')).state, null, 'a prefix of the stage name is another stage')
  })
})
