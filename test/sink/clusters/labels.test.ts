/**
 * Topic labels: the c-TF-IDF weights on a hand-computed example, the Space-Saving sketch's
 * guarantees (every word above N/m tracked; count − error ≤ true ≤ count), the word filter, and
 * labels of real topics: topics made of math questions are named by math words, while topics of
 * web pages mostly are not (so the check can fail).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { embed } from '../../../src/llm/sim/embeddings.ts'
import { ConfigError, RecordInvalidError } from '../../../src/errors.ts'
import { TopicLabeler } from '../../../src/sink/clusters/labels.ts'
import { OnlineTopicModel } from '../../../src/sink/clusters/online-clustering.ts'
import { SpaceSaving } from '../../../src/sink/clusters/space-saving.ts'
import { seededRandom } from '../../../src/sink/clusters/vectors.ts'
import { contentWords } from '../../../src/sink/clusters/words.ts'
import { assignStream, loadCorpus } from './corpus.ts'

describe('c-TF-IDF', () => {
  it('weights words as tf(t, w) × log(1 + A / f(w)), tf counting documents that contain the word', () => {
    const l = new TopicLabeler()
    l.add(0, 'apple banana apple')
    l.add(0, 'apple cherry')
    l.add(1, 'banana durian')
    // Topic 0: apple in 2 docs, banana 1, cherry 1 (4 words); topic 1: banana 1, durian 1 (2).
    // A = 6 / 2 = 3; f: apple 2, banana 2, cherry 1, durian 1.
    const w0 = l.topWords(0, 3)
    assert.deepEqual(w0.map((w) => w.word), ['apple', 'cherry', 'banana'])
    assert.ok(Math.abs(w0[0]!.score - 0.5 * Math.log(2.5)) < 1e-12)
    assert.ok(Math.abs(w0[1]!.score - 0.25 * Math.log(4)) < 1e-12)
    assert.ok(Math.abs(w0[2]!.score - 0.25 * Math.log(2.5)) < 1e-12)
    assert.equal(l.label(0, 2), 'apple_cherry')
    assert.equal(l.label(1, 2), 'durian_banana')
    assert.deepEqual(l.labels(1), new Map([[0, 'apple'], [1, 'durian']]))
    assert.equal(l.documents(0), 2)
  })

  it('a word common to every topic ranks below one particular to the topic, even if more frequent in it', () => {
    const l = new TopicLabeler()
    for (let i = 0; i < 20; i++) {
      l.add(0, i < 15 ? 'tides water' : 'water')
      for (const [t, w] of [[1, 'volcano'], [2, 'glacier'], [3, 'desert'], [4, 'forest']] as const) l.add(t, `${w} water`)
    }
    // By count, water (20) beats tides (15) in topic 0; by c-TF-IDF tides wins:
    // A = (35 + 4·40) / 5 = 39, f(water) = 100, f(tides) = 15.
    const [first, second] = l.topWords(0, 2)
    assert.equal(first!.word, 'tides')
    assert.ok(Math.abs(first!.score - (15 / 35) * Math.log(1 + 39 / 15)) < 1e-12)
    assert.ok(Math.abs(second!.score - (20 / 35) * Math.log(1 + 39 / 100)) < 1e-12)
    assert.equal(l.label(1, 1), 'volcano')
  })

  it('drops stop words, short words, numbers and LaTeX commands; falls back to topic_<id>', () => {
    assert.deepEqual(contentWords('How do I prove that $\\frac{a}{b} \\leq \\sqrt{2}$ in 2024 for an integral?'), ['prove', 'integral'])
    const l = new TopicLabeler()
    l.add(7, 'the and of to 123 ok')
    assert.equal(l.label(7), 'topic_7')
    assert.equal(l.label(8), 'topic_8')
  })

  it('snapshot/restore gives the same labels and keeps counting the same way', () => {
    const docs = loadCorpus().slice(0, 200)
    const a = new TopicLabeler({ capacity: 50 })
    docs.slice(0, 100).forEach((d, i) => a.add(i % 5, d.text))
    const b = TopicLabeler.restore(JSON.parse(JSON.stringify(a.snapshot())))
    assert.deepEqual(b.labels(), a.labels())
    docs.slice(100).forEach((d, i) => { a.add(i % 5, d.text); b.add(i % 5, d.text) })
    assert.deepEqual(b.snapshot(), a.snapshot())
    assert.throws(() => TopicLabeler.restore({ format: 'x' } as never), RecordInvalidError)
    assert.throws(() => new TopicLabeler({ capacity: 0 }), ConfigError)
  })
})

describe('Space-Saving', () => {
  it('tracks every word above N/m and bounds each count: count − error ≤ true ≤ count', () => {
    const rand = seededRandom(31)
    const m = 50
    const s = new SpaceSaving(m)
    const truth = new Map<string, number>()
    // Zipf-like stream over 2,000 words: P(rank r) ∝ 1/r.
    const weights = Array.from({ length: 2000 }, (_, r) => 1 / (r + 1))
    const total = weights.reduce((a, b) => a + b, 0)
    const N = 20_000
    for (let i = 0; i < N; i++) {
      let u = rand() * total
      let r = 0
      while (r < weights.length - 1 && (u -= weights[r]!) > 0) r++
      const w = `w${r}`
      truth.set(w, (truth.get(w) ?? 0) + 1)
      s.add(w)
    }
    assert.ok(s.size <= m)
    for (const [w, c] of truth) {
      if (c > N / m) assert.ok(s.count(w) > 0, `${w} (${c} > N/m) is tracked`)
      if (s.count(w) > 0) assert.ok(s.guaranteed(w) <= c && c <= s.count(w), `${w}: ${s.guaranteed(w)} ≤ ${c} ≤ ${s.count(w)}`)
    }
    // The sketch's counts sum to N (each arrival adds exactly one).
    assert.equal(s.entries().reduce((a, [, c]) => a + c, 0), N)
  })

  it('a labeler stays within capacity words per topic however much text it sees', () => {
    const l = new TopicLabeler({ capacity: 100 })
    for (const d of loadCorpus()) l.add(0, d.text)
    const [[, docs, words, entries]] = l.snapshot().topics as [[number, number, number, unknown[]]]
    assert.equal(docs, 900)
    assert.ok(words > 10_000)
    assert.ok(entries.length <= 100)
  })
})

describe('labels of real topics', () => {
  const MATH = new Set(('prove proof proofs function functions theorem group groups ring rings field fields integral integrals ' +
    'matrix matrices number numbers prime primes series converges convergence set sets space spaces polynomial polynomials ' +
    'equation equations limit limits derivative algebra algebraic finite infinite real integer integers definition lemma sum ' +
    'topology vector vectors map maps probability geometry').split(' '))
  const docs = loadCorpus()
  const model = new OnlineTopicModel()
  const assigned = assignStream(model, docs.map((d) => ({ id: d.id, vector: embed(d.text) })))
  const labeler = new TopicLabeler()
  const comp = new Map<number, { math: number, web: number, physics: number }>()
  for (const d of docs) {
    const topic = assigned.get(d.id)!.topic
    labeler.add(topic, d.text)
    const c = comp.get(topic) ?? { math: 0, web: 0, physics: 0 }
    c[d.corpus]++
    comp.set(topic, c)
  }
  const hasMath = (label: string): boolean => label.split('_').some((w) => MATH.has(w))

  it('every topic that is mostly math questions is labelled with a math word', (t) => {
    let checked = 0
    for (const [topic, c] of comp) {
      const n = c.math + c.web + c.physics
      if (n < 10 || c.math < 0.6 * n) continue
      const label = labeler.label(topic)
      t.diagnostic(`topic ${topic} (${c.math}/${n} math): ${label}`)
      assert.ok(hasMath(label), `math topic ${topic} labelled ${label}`)
      checked++
    }
    assert.ok(checked >= 1, 'at least one math topic')
  })

  it('topics that are mostly web pages mostly are not (the check can fail)', (t) => {
    const web = [...comp].filter(([, c]) => c.web >= 10 && c.web >= 0.8 * (c.math + c.web + c.physics))
    const withMath = web.filter(([topic]) => hasMath(labeler.label(topic)))
    t.diagnostic(`web topics with a math word in their label: ${withMath.length}/${web.length}`)
    assert.ok(web.length >= 3)
    assert.ok(withMath.length <= web.length / 2)
  })

  it('labels are lower-case content words joined by "_"', () => {
    for (const [topic, label] of labeler.labels()) {
      assert.match(label, /^[\p{L}\p{N}]+(_[\p{L}\p{N}]+){0,3}$/u, `topic ${topic}`)
      for (const w of label.split('_')) assert.deepEqual(contentWords(w), [w])
    }
  })
})
