/**
 * Memory O(K): after 1,000,000 offers over 100 topics with K = 1,000, the reservoir holds at
 * most K items — in its id index and in its heaps — at every checkpoint of the stream.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TopicBalancedReservoir } from '../../../src/sink/reservoir/reservoir.ts'
import { prng } from './stats.ts'

test('1,000,000 offers with K = 1,000 over 100 topics: never more than K items held', (t) => {
  const K = 1000
  const rnd = prng(1)
  const r = new TopicBalancedReservoir<number>({ k: K, policy: 'weighted', seed: 1 })
  const h0 = process.memoryUsage().heapUsed
  const t0 = performance.now()
  for (let i = 0; i < 1_000_000; i++) {
    r.offer({ id: `m${i}`, topic: Math.floor(rnd() ** 3 * 100), score: i % 8, payload: i })
    if (i % 100_000 === 99_999) {
      const s = r.stats()
      assert.equal(s.size, K)
      assert.equal(s.perTopic.reduce((a, p) => a + p.kept, 0), K)
    }
  }
  const ms = performance.now() - t0
  const s = r.stats()
  t.diagnostic(`1M offers in ${ms.toFixed(0)} ms; held ${s.size} items; ${s.topics} topics; heap growth ${((process.memoryUsage().heapUsed - h0) / 1048576).toFixed(1)} MiB (no GC forced)`)
  assert.equal(s.seen, 1_000_000)
  assert.ok(s.size <= K)
  assert.equal(r.sample().length, s.size)
})
