import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeCompleted, encodeCompleted, KAFKA_METADATA_LIMIT, PartitionProgress } from '../../src/runtime/offset-tracker.ts'

test('completed offsets round-trip through the compact metadata encoding', () => {
  const cases: Array<[number, number[]]> = [[0, []], [10, [11]], [100, [101, 102, 103, 110, 111, 200]], [5_000_000_000, [5_000_000_001, 5_000_000_007]]]
  for (const [base, offsets] of cases) assert.deepEqual(decodeCompleted(base, encodeCompleted(base, offsets)), offsets)
  assert.equal(encodeCompleted(100, [101, 102, 103, 110]), 'sq1:1.3,a.1')
  assert.deepEqual(decodeCompleted(0, null), [])
  assert.deepEqual(decodeCompleted(0, 'written-by-another-tool'), [])
})

test('a commit never moves past unfinished work, and carries what finished beyond it', () => {
  const p = new PartitionProgress(10)
  for (const o of [10, 11, 12, 13, 14]) assert.equal(p.admit(o), 'process')
  p.complete(10); p.complete(12); p.complete(14)
  const plan = p.plan()!
  assert.equal(plan.offset, 11, 'stops at 11, which is still running')
  assert.deepEqual(plan.include.sort(), [10, 12, 14])
  assert.deepEqual(decodeCompleted(plan.offset, plan.metadata), [12, 14])
  p.committedPlan(plan)
  assert.equal(p.plan(), undefined, 'nothing new to commit')
  p.complete(11)
  const next = p.plan()!
  assert.equal(next.offset, 13)
  assert.deepEqual(next.include, [11])
  assert.deepEqual(decodeCompleted(next.offset, next.metadata), [14], 'still listed: 13 is unfinished')
  p.committedPlan(next)
  p.complete(13)
  const last = p.plan()!
  assert.equal(last.offset, 15)
  assert.equal(last.metadata, '')
})

test('a new owner skips what the metadata says was done, and does what was not', () => {
  const p = new PartitionProgress(11, decodeCompleted(11, encodeCompleted(11, [12, 14])))
  assert.equal(p.admit(9), 'skip', 'below the committed offset')
  assert.deepEqual([11, 12, 13, 14, 15].map((o) => p.admit(o)), ['process', 'skip', 'process', 'skip', 'process'])
  p.complete(11); p.complete(13)
  const plan = p.plan()!
  assert.equal(plan.offset, 15)
  assert.deepEqual(plan.include, [11, 13], 'outputs of 12 and 14 were committed by the earlier owner')
  assert.equal(p.admit(13), 'skip', 'a re-fetched record is not run twice')
})

test('offset gaps (transaction markers) do not stall the prefix', () => {
  const p = new PartitionProgress(0)
  for (const o of [0, 1, 3, 4, 7]) p.admit(o) // 2, 5, 6 are markers the consumer never sees
  for (const o of [0, 1, 3, 4, 7]) p.complete(o)
  assert.equal(p.plan()!.offset, 8)
})

test('metadata is kept under the broker limit: what does not fit waits for a later commit', () => {
  const p = new PartitionProgress(0)
  // Every other record unfinished: the worst case for run-length encoding.
  for (let o = 0; o < 4000; o++) p.admit(o)
  for (let o = 1; o < 4000; o += 2) p.complete(o)
  const plan = p.plan()!
  assert.equal(plan.offset, 0)
  assert.ok(plan.metadata.length <= KAFKA_METADATA_LIMIT, `${plan.metadata.length} bytes`)
  const listed = decodeCompleted(0, plan.metadata)
  assert.deepEqual(plan.include.sort((a, b) => a - b), listed, 'only records listed in the metadata have their outputs committed')
  assert.ok(listed.length > 100 && listed.length < 2000)
  assert.ok(p.metadataBytes() > KAFKA_METADATA_LIMIT, 'intake control sees the full size')
})
