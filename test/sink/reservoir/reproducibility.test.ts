/**
 * Reproducibility and checkpointing: the same seed and input give the same results offer by
 * offer; a different arrival order gives the same sample under every policy (keys depend only on
 * seed and item); snapshot → JSON → restore in the middle of a stream, then continuing, equals
 * the uninterrupted run offer by offer; snapshots round-trip exactly; duplicates are no-ops;
 * a re-offered evicted id is rejected again; restore refuses what it cannot honour.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../../src/errors.ts'
import { TopicBalancedReservoir, type ReservoirSnapshot, type TopicId } from '../../../src/sink/reservoir/reservoir.ts'
import type { Policy } from '../../../src/sink/reservoir/keys.ts'
import { prng, shuffle } from './stats.ts'

interface Payload { offset: number, partition: number }
interface Item { id: string, topic: TopicId, score: number, payload: Payload }

/** 20 topics (numbers and strings), skewed sizes, some opening late. */
function items (n: number, seed: number): Item[] {
  const rnd = prng(seed)
  const out: Item[] = []
  for (let i = 0; i < n; i++) {
    const open = Math.max(2, Math.ceil((20 * (i + 1)) / (n * 0.7)))
    const t = Math.floor(rnd() ** 2 * Math.min(20, open))
    out.push({ id: `rec-${seed}-${i}`, topic: t % 3 === 0 ? `topic-${t}` : t, score: Math.floor(rnd() * 8), payload: { offset: i, partition: t % 4 } })
  }
  return out
}

const POLICIES: Policy[] = ['uniform', 'weighted', 'top']
const make = (policy: Policy, k = 500, seed = 42): TopicBalancedReservoir<Payload> => new TopicBalancedReservoir<Payload>({ k, policy, seed })

test('same seed, same input → the same result for every offer and the same sample', () => {
  const input = items(20_000, 1)
  for (const policy of POLICIES) {
    const a = make(policy)
    const b = make(policy)
    for (const it of input) assert.deepEqual(a.offer(it), b.offer(it))
    assert.deepEqual(a.sample(), b.sample())
    assert.deepEqual(a.snapshot(), b.snapshot())
  }
})

test('another arrival order → the same sample, for uniform, weighted and top', () => {
  const input = items(20_000, 2)
  for (const policy of POLICIES) {
    const a = make(policy)
    for (const it of input) a.offer(it)
    for (const order of [[...input].reverse(), shuffle([...input], prng(3))]) {
      const b = make(policy)
      for (const it of order) b.offer(it)
      assert.deepEqual(b.sample(), a.sample(), policy)
      assert.deepEqual(b.quotas(), a.quotas())
    }
  }
})

test('another seed → another sample (uniform)', () => {
  const input = items(5000, 3)
  const a = make('uniform', 500, 1)
  const b = make('uniform', 500, 2)
  for (const it of input) { a.offer(it); b.offer(it) }
  const ida = new Set(a.sample().map((x) => x.id))
  const overlap = b.sample().filter((x) => ida.has(x.id)).length
  assert.ok(overlap < 400, `overlap ${overlap}`)
})

test('snapshot → JSON → restore mid-stream, then continue = the uninterrupted run, offer by offer', (t) => {
  const input = items(30_000, 4)
  for (const policy of POLICIES) {
    for (const cut of [100, 7_777, 20_000]) {
      const whole = make(policy)
      const first = make(policy)
      for (const it of input.slice(0, cut)) { whole.offer(it); first.offer(it) }
      const json = JSON.stringify(first.snapshot())
      const resumed = TopicBalancedReservoir.restore<Payload>(JSON.parse(json) as ReservoirSnapshot<Payload>)
      if (policy === 'top' && cut === 20_000) t.diagnostic(`snapshot of ${first.size} items: ${json.length} bytes JSON (${(json.length / first.size).toFixed(1)} bytes/item)`)
      for (const it of input.slice(cut)) assert.deepEqual(resumed.offer(it), whole.offer(it))
      assert.deepEqual(resumed.snapshot(), whole.snapshot())
      assert.deepEqual(resumed.sample(), whole.sample())
      assert.deepEqual(resumed.stats(), whole.stats())
    }
  }
})

test('snapshots round-trip exactly, with a custom weight function passed again', () => {
  const weight = (s: number): number => 2 ** s
  const r = new TopicBalancedReservoir<Payload>({ k: 300, policy: 'weighted', seed: 9, weight })
  for (const it of items(5000, 5)) r.offer(it)
  r.offer({ id: 'rec-5-0', topic: 0, score: 7, payload: { offset: 0, partition: 0 } }) // a duplicate, counted
  const snap = JSON.parse(JSON.stringify(r.snapshot())) as ReservoirSnapshot<Payload>
  assert.equal(snap.weight, 'custom')
  const back = TopicBalancedReservoir.restore(snap, { weight })
  assert.deepEqual(back.snapshot(), snap)
  assert.deepEqual(back.stats(), r.stats())
  assert.throws(() => TopicBalancedReservoir.restore(snap), ConfigError)
  const plain = make('uniform', 10)
  assert.throws(() => TopicBalancedReservoir.restore(plain.snapshot(), { weight }), ConfigError)
})

test('restore refuses inconsistent snapshots', () => {
  const r = make('top', 50)
  for (const it of items(2000, 6)) r.offer(it)
  const snap = r.snapshot()
  assert.throws(() => TopicBalancedReservoir.restore({ ...snap, k: 10 }), /exceed their topics' quotas/)
  const dupTopic = { ...snap, topics: [...snap.topics, snap.topics[0]!] }
  assert.throws(() => TopicBalancedReservoir.restore(dupTopic), /appears twice/)
  const lowSeen = { ...snap, topics: snap.topics.map((s, i) => (i === 0 ? { ...s, seen: 0 } : s)) }
  assert.throws(() => TopicBalancedReservoir.restore(lowSeen), /has seen 0/)
  assert.throws(() => TopicBalancedReservoir.restore({ ...snap, version: 2 } as unknown as ReservoirSnapshot<Payload>), ConfigError)
})

test('an id already in the sample is a no-op; an evicted id offered again is rejected again (its topic counts it once more)', () => {
  const r = make('uniform', 20)
  const input = items(2000, 7).map((it) => ({ ...it, topic: 'one' }))
  const evicted: string[] = []
  for (const it of input) evicted.push(...r.offer(it).evicted.map((e) => e.id))
  const before = r.stats()
  const sample = r.sample()

  const kept = sample[0]!
  const dup = r.offer({ id: kept.id, topic: 'one', score: 0, payload: { offset: -1, partition: 0 } })
  assert.deepEqual(dup, { admitted: false, duplicate: true, evicted: [] })
  assert.equal(r.stats().seen, before.seen)
  assert.equal(r.stats().duplicates, 1)

  const byId = new Map(input.map((it) => [it.id, it]))
  for (const id of evicted.slice(0, 50)) {
    const res = r.offer(byId.get(id)!)
    assert.deepEqual(res, { admitted: false, duplicate: false, evicted: [] })
  }
  assert.deepEqual(r.sample(), sample)
  assert.equal(r.stats().seen, before.seen + 50)
})

test('a kept id re-offered under another topic: a no-op, or a rejection counted in that topic — never held twice', () => {
  const r = make('top', 40)
  for (let i = 0; i < 400; i++) r.offer({ id: `i${i}`, topic: i % 2 === 0 ? 'A' : 'B', score: i % 8, payload: { offset: i, partition: 0 } })
  const keptA = r.sample().find((x) => x.topic === 'A')!
  const seenB = r.stats().perTopic.find((p) => p.topic === 'B')!.seen
  // Would outrank B's lowest: the id lookup runs and finds it.
  assert.deepEqual(r.offer({ id: keptA.id, topic: 'B', score: 7, payload: keptA.payload }), { admitted: false, duplicate: true, evicted: [] })
  // Ranks below B's lowest: rejected there without a lookup, and counted as seen in B.
  assert.deepEqual(r.offer({ id: keptA.id, topic: 'B', score: 0, payload: keptA.payload }), { admitted: false, duplicate: false, evicted: [] })
  assert.equal(r.stats().perTopic.find((p) => p.topic === 'B')!.seen, seenB + 1)
  // A new, small topic has room: the lookup runs.
  assert.equal(r.offer({ id: keptA.id, topic: 'C', score: 0, payload: keptA.payload }).duplicate, true)
  const ids = r.sample().map((x) => x.id)
  assert.equal(new Set(ids).size, ids.length)
  assert.equal(ids.filter((id) => id === keptA.id).length, 1)
})

test('bad input is refused before anything changes', () => {
  const r = make('top', 5)
  assert.throws(() => r.offer({ id: 1 as unknown as string, topic: 1, score: 3, payload: { offset: 0, partition: 0 } }), TypeError)
  assert.throws(() => r.offer({ id: 'a', topic: Number.NaN, score: 3, payload: { offset: 0, partition: 0 } }), TypeError)
  assert.throws(() => r.offer({ id: 'a', topic: 1, score: Infinity, payload: { offset: 0, partition: 0 } }), /finite/)
  assert.equal(r.stats().offered, 0)
  assert.equal(r.stats().topics, 0)
  assert.throws(() => new TopicBalancedReservoir({ k: -1, policy: 'top', seed: 1 }), ConfigError)
  assert.throws(() => new TopicBalancedReservoir({ k: 5, policy: 'best' as Policy, seed: 1 }), ConfigError)
  assert.throws(() => new TopicBalancedReservoir({ k: 5, policy: 'top', seed: -3 }), ConfigError)
})
