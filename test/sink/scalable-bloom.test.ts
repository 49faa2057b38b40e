import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RecordInvalidError } from '../../src/errors.ts'
import { ScalableBloomFilter } from '../../src/sink/dedup/index.ts'

test('a scalable filter grows past its first capacity and keeps the false-positive rate under its bound', () => {
  const f = new ScalableBloomFilter({ capacity: 10_000, falsePositiveRate: 0.01 })
  const n = 70_000 // 7× the first slice: slices of 10k, 20k, 40k
  let seenBefore = 0 // new items the filter took for seen: its false positives while filling
  for (let i = 0; i < n; i++) if (f.add(`in-${i}`)) seenBefore++
  assert.ok(seenBefore / n <= 0.01, `${seenBefore} of ${n} new items answered "seen"`)
  assert.equal(f.slices, 3)
  assert.equal(f.added, n - seenBefore)
  for (let i = 0; i < n; i++) assert.ok(f.has(`in-${i}`), 'no false negatives')
  let fp = 0
  const probes = 200_000
  for (let i = 0; i < probes; i++) if (f.has(`out-${i}`)) fp++
  assert.ok(fp / probes <= 0.01, `measured false-positive rate ${fp / probes} ≤ 0.01`)
  assert.ok(f.estimatedFalsePositiveRate() <= 0.01, `estimated ${f.estimatedFalsePositiveRate()}`)
  assert.equal(f.add('in-5'), true, 'an item present adds nothing')
  assert.equal(f.added, n - seenBefore)
})

test('the same items through a fixed filter of the first capacity: far more false positives (why it grows)', async () => {
  const { BloomFilter } = await import('../../src/sink/dedup/index.ts')
  const fixed = new BloomFilter({ capacity: 10_000, falsePositiveRate: 0.01 })
  for (let i = 0; i < 70_000; i++) fixed.add(`in-${i}`)
  let fp = 0
  for (let i = 0; i < 20_000; i++) if (fixed.has(`out-${i}`)) fp++
  assert.ok(fp / 20_000 > 0.2, `a full fixed filter answers "seen" for ${(100 * fp / 20_000).toFixed(1)} % of new items`)
})

test('snapshot and restore give the same filter; a wrong snapshot is refused', () => {
  const f = new ScalableBloomFilter({ capacity: 1_000, falsePositiveRate: 0.001 })
  for (let i = 0; i < 3_500; i++) f.add(`x${i}`)
  const g = ScalableBloomFilter.restore(JSON.parse(JSON.stringify(f.snapshot())))
  assert.deepEqual(g.snapshot(), f.snapshot())
  for (let i = 0; i < 5_000; i++) assert.equal(g.has(`x${i}`), f.has(`x${i}`))
  assert.throws(() => ScalableBloomFilter.restore({ format: 'nope' } as never), RecordInvalidError)
})
