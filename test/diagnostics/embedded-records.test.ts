/**
 * `synthq:stage:record` on the embedded runner: one event per input record of each stage, with
 * the outcome the runner counted — processed, filtered (no outputs), dead-lettered — and the
 * attempts a transient failure took.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { subscribe, type StageRecordMessage } from '../../src/diagnostics/channels.ts'
import { emit, type Processor } from '../../src/processors/processor.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { embeddedHarness, type Harness } from '../helpers/runners.ts'
import { doc, instruct, newProbe, situate } from '../helpers/test-topology.ts'

/** The conformance topology's first stage, plus mode `drop`: a record the processor filters out. */
function situateOrDrop (): Processor<{ metadata: Record<string, string> }> {
  const inner = situate(newProbe()) as unknown as Processor<{ metadata: Record<string, string> }>
  return { name: 'situate-or-drop', process: (record, ctx) => record.value.metadata.mode === 'drop' ? emit() : inner.process(record, ctx) }
}

const topology = new TopologyBuilder('diagnostics')
  .table('demonstrations')
  .stage({ name: 'situate', input: 'documents', outputs: ['situations'], processor: situateOrDrop })
  .stage({ name: 'instruct', input: 'situations', outputs: ['synthesizedInstructions'], tables: ['demonstrations'], processor: instruct })
  .build()

const seen: StageRecordMessage[] = []
let unsubscribe: () => void
let h: Harness

before(async () => {
  unsubscribe = subscribe('synthq:stage:record', (m) => { seen.push(m) })
  h = embeddedHarness()
  await h.start(topology)
  const docs = [
    ...Array.from({ length: 6 }, (_, i) => ({ key: `ok-${i}`, value: doc(`ok-${i}`) })),
    { key: 'retry', value: doc('retry', 'transient:2') },
    { key: 'drop-0', value: doc('drop-0', 'drop') },
    { key: 'drop-1', value: doc('drop-1', 'drop') },
    { key: 'bad-0', value: doc('bad-0', 'reject') },
    { key: 'bad-1', value: doc('bad-1', 'permanent') },
  ]
  await h.produce('documents', docs)
  // Settled: every record of both stages committed, so every event has been published.
  await h.settled()
})

after(async () => {
  unsubscribe()
  await h.stop()
})

const of = (stage: string): StageRecordMessage[] => seen.filter((m) => m.stage === stage)
const outcomes = (ms: StageRecordMessage[]): Record<string, number> => {
  const n: Record<string, number> = {}
  for (const m of ms) n[m.outcome] = (n[m.outcome] ?? 0) + 1
  return n
}

test('one event per input record, with the outcome the runner counted', () => {
  assert.deepEqual(outcomes(of('situate')), { processed: 7, filtered: 2, deadLettered: 2 })
  assert.deepEqual(outcomes(of('instruct')), { processed: 7 }, 'instruct reads the 7 situations written')
  const offsets = of('situate').map((m) => Number(m.offset)).sort((a, b) => a - b)
  assert.deepEqual(offsets, Array.from({ length: 11 }, (_, i) => i), 'each input offset once')
  const stats = JSON.parse(h.describe()) as Record<string, { processed: number, deadLettered: number }>
  assert.equal(stats.situate!.processed, 9, 'the runner counts filtered records as processed')
  assert.equal(stats.situate!.deadLettered, 2)
})

test('messages name the stage, topology, runner and input, with attempts, outputs and a duration', () => {
  const runIds = new Set(seen.map((m) => m.runId))
  assert.equal(runIds.size, 1, 'one runner, one run id')
  for (const m of seen) {
    assert.equal(m.topology, 'diagnostics')
    assert.equal(m.runner, 'embedded')
    assert.equal(m.partition, 0)
    assert.equal(m.topic, m.stage === 'situate' ? 'synthq.documents' : 'synthq.situations')
    assert.ok(m.durationMs >= 0 && Number.isFinite(m.durationMs))
    assert.equal(m.batchSize, undefined)
    assert.equal(m.outputs, m.outcome === 'processed' || m.outcome === 'deadLettered' ? 1 : 0, `${m.outcome} outputs`)
  }
  const attempts = Object.fromEntries(of('situate').filter((m) => m.outcome === 'processed').map((m) => [m.offset, m.attempts]))
  assert.equal(attempts['6'], 3, 'transient:2 succeeded at the third attempt')
  assert.equal(Object.values(attempts).filter((a) => a === 1).length, 6)
})
