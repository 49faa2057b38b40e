/**
 * The top policy keeps exactly the highest scores of each topic — the same set as a full sort
 * by (score, seeded tie key, id) cut at the topic's quota — whatever the arrival order; every
 * kept score is at least every dropped score of its topic; ties at the cut are resolved by the
 * seed: the same seed always picks the same ids, another seed picks other ids with the same
 * scores.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { deriveSeeds, uniformOf } from '../../../src/sink/reservoir/hash.ts'
import { TopicBalancedReservoir, type TopicId } from '../../../src/sink/reservoir/reservoir.ts'
import { prng, shuffle } from './stats.ts'

interface Item { id: string, topic: TopicId, score: number, payload: number }

function items (seed: number): Item[] {
  const rnd = prng(seed)
  const sizes = [3, 40, 150, 600, 2000]
  const out: Item[] = []
  sizes.forEach((size, t) => {
    for (let i = 0; i < size; i++) {
      // Paper-like totals: mostly 5–7, a tail below.
      const x = rnd()
      const score = x < 0.45 ? 7 : x < 0.84 ? 6 : x < 0.97 ? 5 : Math.floor(rnd() * 5)
      out.push({ id: `t${t}-i${i}`, topic: t, score, payload: out.length })
    }
  })
  return shuffle(out, rnd)
}

function run (input: readonly Item[], seed: number, k: number): TopicBalancedReservoir<number> {
  const r = new TopicBalancedReservoir<number>({ k, policy: 'top', seed })
  for (const it of input) r.offer(it)
  return r
}

test('top: per topic, exactly the first `quota` items of a full sort by score, then seeded tie key', () => {
  const input = items(1)
  for (const seed of [1, 2, 3]) {
    const r = run(input, seed, 400)
    const seeds = deriveSeeds(seed)
    const byTopic = new Map<TopicId, Item[]>()
    for (const it of input) byTopic.set(it.topic, [...(byTopic.get(it.topic) ?? []), it])
    const sample = r.sample()
    for (const [topic, quota] of r.quotas()) {
      const sorted = [...byTopic.get(topic)!].sort((a, b) =>
        (b.score - a.score) || (uniformOf(seeds, b.id) - uniformOf(seeds, a.id)) || (a.id < b.id ? 1 : -1))
      const expected = sorted.slice(0, quota).map((x) => x.id)
      assert.deepEqual(sample.filter((x) => x.topic === topic).map((x) => x.id), expected, `topic ${topic}, seed ${seed}`)
      const keptMin = Math.min(...sorted.slice(0, quota).map((x) => x.score))
      const droppedMax = Math.max(-Infinity, ...sorted.slice(quota).map((x) => x.score))
      assert.ok(keptMin >= droppedMax)
    }
    for (const x of sample) assert.equal(x.key, x.score)
  }
})

test('top: arrival order does not matter; ties at the cut are decided by the seed', (t) => {
  const input = items(2)
  const a = run(input, 11, 300).sample()
  const b = run([...input].reverse(), 11, 300).sample()
  const c = run(shuffle([...input], prng(5)), 11, 300).sample()
  assert.deepEqual(b, a)
  assert.deepEqual(c, a)
  const other = run(input, 12, 300).sample()
  // The seed also ranks topics for the remainder's extra units, so a quota can differ by one:
  // compare each topic's scores (best first) over the shorter of the two.
  let differing = 0
  for (const topic of new Set(a.map((x) => x.topic))) {
    const sa = a.filter((x) => x.topic === topic)
    const sb = other.filter((x) => x.topic === topic)
    assert.ok(Math.abs(sa.length - sb.length) <= 1)
    const n = Math.min(sa.length, sb.length)
    assert.deepEqual(sb.slice(0, n).map((x) => x.score), sa.slice(0, n).map((x) => x.score), `topic ${String(topic)}`)
    const ids = new Set(sa.map((x) => x.id))
    differing += sb.filter((x) => !ids.has(x.id)).length
  }
  t.diagnostic(`seed 11 vs 12: ${differing} of ${a.length} kept ids differ (among tied scores)`)
  assert.ok(differing > 0)
})
