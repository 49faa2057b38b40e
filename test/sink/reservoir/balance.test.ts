/**
 * Topic balance by water-filling: with skewed topic sizes, topics smaller than the water level
 * keep everything and every other topic gets the level or one more (max/min ≤ (ℓ + 1)/ℓ),
 * whatever the arrival order; quotas are re-balanced as topics appear and grow. After every
 * single offer of random streams the incrementally maintained quotas equal a brute-force
 * water-filling and a from-scratch rebalance, sum to min(K, seen), move at most one item, and
 * never grow back for a topic that has evicted. Budget changes, and K below the topic count.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TopicBalancedReservoir, type TopicId } from '../../../src/sink/reservoir/reservoir.ts'
import { waterFill } from '../../../src/sink/reservoir/water-fill.ts'
import { prng, shuffle } from './stats.ts'

interface Item { id: string, topic: TopicId, score: number, payload: number }

function stream (sizes: ReadonlyArray<[TopicId, number]>): Item[] {
  const out: Item[] = []
  let n = 0
  for (const [topic, size] of sizes) for (let i = 0; i < size; i++) out.push({ id: `${String(topic)}/${i}`, topic, score: (n * 7) % 8, payload: n++ })
  return out
}

/** Brute force: the largest ℓ with Σ min(n, ℓ) ≤ K, and the remainder. */
function bruteLevel (counts: readonly number[], k: number): { level: number, remainder: number } {
  const total = counts.reduce((a, b) => a + b, 0)
  if (total <= k) return { level: Infinity, remainder: 0 }
  const s = (l: number): number => counts.reduce((a, c) => a + Math.min(c, l), 0)
  let l = 0
  while (s(l + 1) <= k) l++
  return { level: l, remainder: k - s(l) }
}

test('waterFill equals brute force on random size vectors', () => {
  const rnd = prng(3)
  for (let trial = 0; trial < 3000; trial++) {
    const counts = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => Math.floor(rnd() ** 3 * 300))
    const k = Math.floor(rnd() * 600)
    assert.deepEqual(waterFill(counts, k), bruteLevel(counts, k), `${counts} k=${k}`)
  }
})

function runBalance (sizes: ReadonlyArray<[TopicId, number]>, k: number, order: 'interleaved' | 'ascending' | 'descending'): TopicBalancedReservoir<number> {
  let items = stream(sizes)
  if (order === 'interleaved') items = shuffle(items, prng(99))
  if (order === 'descending') items = [...sizes].reverse().flatMap(([t]) => items.filter((it) => it.topic === t))
  const r = new TopicBalancedReservoir<number>({ k, policy: 'uniform', seed: 7 })
  for (const it of items) r.offer(it)
  return r
}

test('sizes 5, 50, 500, 5000 with K = 400: 5 and 50 kept whole, the two large topics split 345 as 172/173', (t) => {
  const sizes: Array<[TopicId, number]> = [['t5', 5], ['t50', 50], ['t500', 500], ['t5000', 5000]]
  const samples = []
  for (const order of ['interleaved', 'ascending', 'descending'] as const) {
    const r = runBalance(sizes, 400, order)
    const s = r.stats()
    const kept = new Map(s.perTopic.map((p) => [p.topic, p.kept]))
    t.diagnostic(`${order}: kept ${[...kept].map(([k, v]) => `${String(k)}=${v}`).join(' ')}, level ${s.level}, balance ratio ${s.balanceRatio?.toFixed(4)}`)
    assert.equal(s.size, 400)
    assert.equal(kept.get('t5'), 5)
    assert.equal(kept.get('t50'), 50)
    assert.deepEqual([kept.get('t500'), kept.get('t5000')].sort(), [172, 173])
    assert.equal(s.level, 172)
    assert.ok(s.balanceRatio !== null && s.balanceRatio <= 173 / 172 + 1e-12)
    assert.deepEqual(r.quotas(), new Map(s.perTopic.map((p) => [p.topic, p.kept])))
    samples.push(r.sample())
  }
  assert.deepEqual(samples[1], samples[0], 'ascending ≠ interleaved')
  assert.deepEqual(samples[2], samples[0], 'descending ≠ interleaved')
})

test('sizes 5, 500, 5000, 50000 with K = 400: 5 kept whole, the others (400 − 5)/3 ± 1 = 131/132/132', (t) => {
  const r = runBalance([[1, 5], [2, 500], [3, 5000], [4, 50_000]], 400, 'interleaved')
  const s = r.stats()
  const kept = s.perTopic.map((p) => p.kept)
  t.diagnostic(`kept ${kept.join(' ')}, balance ratio ${s.balanceRatio?.toFixed(4)} (max/min among the three saturated topics)`)
  assert.equal(kept[0], 5)
  assert.deepEqual(kept.slice(1).sort(), [131, 132, 132])
  assert.ok(s.balanceRatio !== null && s.balanceRatio <= 1.01)
  assert.equal(s.minQuota, 5)
  assert.equal(s.maxQuota, 132)
})

test('200 topics with Zipf sizes (≈ 58,800 items), K = 20,000: small topics whole, the rest within one item', (t) => {
  const sizes: Array<[TopicId, number]> = Array.from({ length: 200 }, (_, i) => [i, Math.max(1, Math.floor(10_000 / (i + 1)))])
  const r = runBalance(sizes, 20_000, 'interleaved')
  const s = r.stats()
  const saturated = s.perTopic.filter((p) => p.seen > s.level!)
  t.diagnostic(`level ${s.level}, ${saturated.length} saturated topics, ${s.topics - saturated.length} kept whole; quotas ${s.minQuota}–${s.maxQuota}; balance ratio ${s.balanceRatio?.toFixed(4)}`)
  assert.equal(s.size, 20_000)
  assert.ok(saturated.length > 10 && saturated.length < 190)
  for (const p of s.perTopic) assert.equal(p.kept, p.seen > s.level! ? p.quota : p.seen)
  assert.ok(saturated.every((p) => p.kept === s.level || p.kept === s.level! + 1))
  assert.ok(s.balanceRatio !== null && s.balanceRatio <= (s.level! + 1) / s.level!)
})

test('re-balanced as topics appear: A alone takes K; B halves it; a small C takes its 10 from both', () => {
  const r = new TopicBalancedReservoir<number>({ k: 100, policy: 'top', seed: 1 })
  for (const it of stream([['A', 1000]])) r.offer(it)
  assert.deepEqual(r.quotas(), new Map([['A', 100]]))
  for (const it of stream([['B', 1000]])) r.offer(it)
  assert.deepEqual(r.quotas(), new Map([['A', 50], ['B', 50]]))
  for (const it of stream([['C', 10]])) r.offer(it)
  assert.deepEqual(r.quotas(), new Map([['A', 45], ['B', 45], ['C', 10]]))
  assert.equal(r.size, 100)
})

test('after every offer of random streams: quotas = brute-force water-filling = from-scratch rebalance; kept = quota; ≤ 1 eviction; no quota grows back', () => {
  const rnd = prng(17)
  let checked = 0
  for (let trial = 0; trial < 24; trial++) {
    const topics = 1 + Math.floor(rnd() * 25)
    const k = trial % 6 === 0 ? Math.floor(rnd() * topics) : Math.floor(rnd() * 150)
    const policy = (['uniform', 'weighted', 'top'] as const)[trial % 3]!
    const r = new TopicBalancedReservoir<number>({ k, policy, seed: trial })
    const seen = new Map<TopicId, number>()
    const hasEvicted = new Set<TopicId>()
    let prevQuotas = new Map<TopicId, number>()
    // Skewed topic choice; topics open progressively, so late topics appear while others are capped.
    for (let i = 0; i < 1500; i++) {
      const open = Math.max(1, Math.min(topics, Math.ceil((topics * (i + 1)) / 1000)))
      const topic = Math.floor(rnd() ** 2 * open)
      const res = r.offer({ id: `x${i}`, topic, score: Math.floor(rnd() * 8), payload: i })
      seen.set(topic, (seen.get(topic) ?? 0) + 1)
      assert.ok(res.evicted.length <= 1)
      for (const e of res.evicted) { hasEvicted.add(e.topic); assert.ok(!r.has(e.id)) }
      if (!res.admitted && seen.get(topic)! > 0) hasEvicted.add(topic)
      assert.equal(res.admitted, r.has(`x${i}`))

      const q = r.quotas()
      const counts = [...q.keys()].map((t) => seen.get(t)!)
      const { level, remainder } = bruteLevel(counts, k)
      let plusOne = 0
      let sum = 0
      const s = r.stats()
      for (const p of s.perTopic) {
        assert.equal(p.seen, seen.get(p.topic))
        assert.equal(p.kept, p.quota, 'no holes without setBudget')
        sum += p.quota
        if (p.seen <= level) assert.equal(p.quota, p.seen)
        else {
          assert.ok(p.quota === level || p.quota === level + 1)
          if (p.quota === level + 1) plusOne++
        }
        if (hasEvicted.has(p.topic) && prevQuotas.has(p.topic)) assert.ok(p.quota <= prevQuotas.get(p.topic)!, 'quota grew back')
      }
      assert.equal(plusOne, remainder)
      assert.equal(sum, Math.min(k, i + 1))
      assert.equal(s.size, sum)
      if (i % 7 === 0) assert.deepEqual(TopicBalancedReservoir.restore(r.snapshot()).quotas(), q)
      prevQuotas = q
      checked++
    }
  }
  assert.equal(checked, 24 * 1500)
})

test('K below the number of topics: K topics (a seeded choice) keep one item; K = 0 keeps nothing', () => {
  const items = shuffle(stream(Array.from({ length: 10 }, (_, i): [TopicId, number] => [`t${i}`, 5])), prng(5))
  const r = new TopicBalancedReservoir<number>({ k: 3, policy: 'uniform', seed: 4 })
  for (const it of items) r.offer(it)
  const s = r.stats()
  assert.equal(s.size, 3)
  assert.equal(s.level, 0)
  assert.deepEqual(s.perTopic.map((p) => p.kept).sort(), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
  assert.equal(s.balanceRatio, null)
  const again = new TopicBalancedReservoir<number>({ k: 3, policy: 'uniform', seed: 4 })
  for (const it of [...items].reverse()) again.offer(it)
  assert.deepEqual(again.sample(), r.sample())

  const zero = new TopicBalancedReservoir<number>({ k: 0, policy: 'top', seed: 4 })
  for (const it of items) assert.equal(zero.offer(it).admitted, false)
  assert.equal(zero.size, 0)
  assert.equal(zero.stats().rejected, 50)
})

test('setBudget: shrinking equals a run with the smaller K throughout; growing leaves room that later items fill', () => {
  const items = shuffle(stream([['a', 40], ['b', 400], ['c', 4000]]), prng(8))
  const [first, rest] = [items.slice(0, 2000), items.slice(2000)]
  for (const policy of ['uniform', 'weighted', 'top'] as const) {
    const big = new TopicBalancedReservoir<number>({ k: 300, policy, seed: 5 })
    const small = new TopicBalancedReservoir<number>({ k: 120, policy, seed: 5 })
    for (const it of first) { big.offer(it); small.offer(it) }
    const evicted = big.setBudget(120)
    assert.equal(evicted.length, 180)
    assert.deepEqual(big.sample(), small.sample())
    for (const it of rest) assert.deepEqual(big.offer(it), small.offer(it))
    assert.deepEqual(big.sample(), small.sample())
  }

  const r = new TopicBalancedReservoir<number>({ k: 30, policy: 'top', seed: 5 })
  for (const it of first) r.offer(it)
  assert.deepEqual(r.setBudget(60), [])
  const s = r.stats()
  assert.equal(s.size, 30)
  assert.equal(s.perTopic.reduce((a, p) => a + p.quota, 0), 60)
  assert.deepEqual(s.perTopic.map((p) => p.kept), [10, 10, 10])
  assert.ok(s.perTopic.every((p) => p.quota > p.kept))
  // Room is filled by whatever comes next, whatever its key.
  const next = rest.find((it) => it.topic === 'b')!
  assert.equal(r.offer(next).admitted, true)
  assert.equal(r.stats().perTopic[1]!.kept, 11)
})

test('balance ratio is null before anything is capped; quotas equal seen counts', () => {
  const r = new TopicBalancedReservoir<number>({ k: 100, policy: 'uniform', seed: 1 })
  for (const it of stream([['x', 10], ['y', 20]])) r.offer(it)
  const s = r.stats()
  assert.equal(s.level, null)
  assert.equal(s.balanceRatio, null)
  assert.deepEqual(r.quotas(), new Map([['x', 10], ['y', 20]]))
})
