/**
 * The Vendi score and its eigenvalue routine: the score's defining cases (n identical vectors →
 * 1, n orthogonal → n, k orthogonal groups → k), a closed form for two vectors, agreement within
 * 1e-6 with a brute-force reference (cyclic Jacobi on the full n×n K/n, written here as an
 * independent algorithm) on random matrices through both Gram routes, bounded seeded subsets,
 * and what it says about real text. Plus topic entropy and the score histogram.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { embed } from '../../../src/llm/sim/embeddings.ts'
import { RecordInvalidError } from '../../../src/errors.ts'
import { scoreHistogram, topicEntropy } from '../../../src/sink/diversity/distribution.ts'
import { symmetricEigenvalues } from '../../../src/sink/diversity/eigen.ts'
import { sampleIndices, vendiFromEigenvalues, vendiScore } from '../../../src/sink/diversity/vendi.ts'
import { seededRandom } from '../../../src/sink/clusters/vectors.ts'
import { loadCorpus } from '../clusters/corpus.ts'

/** Cyclic Jacobi eigenvalue iteration (Jacobi 1846; Golub & Van Loan §8.5): rotations until off-diagonal ≈ 0. */
function jacobiEigenvalues (a: Float64Array, m: number): number[] {
  const A = Float64Array.from(a)
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += A[p * m + q]! ** 2
    if (off < 1e-30) break
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = A[p * m + q]!
        if (Math.abs(apq) < 1e-300) continue
        const theta = (A[q * m + q]! - A[p * m + p]!) / (2 * apq)
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1))
        const c = 1 / Math.sqrt(t * t + 1)
        const s = t * c
        for (let k = 0; k < m; k++) {
          const akp = A[k * m + p]!
          const akq = A[k * m + q]!
          A[k * m + p] = c * akp - s * akq
          A[k * m + q] = s * akp + c * akq
        }
        for (let k = 0; k < m; k++) {
          const apk = A[p * m + k]!
          const aqk = A[q * m + k]!
          A[p * m + k] = c * apk - s * aqk
          A[q * m + k] = s * apk + c * aqk
        }
      }
    }
  }
  return Array.from({ length: m }, (_, i) => A[i * m + i]!).sort((x, y) => x - y)
}

/** Brute force: normalise rows, K/n (n×n), Jacobi, entropy. */
function referenceVendi (X: Float64Array[]): number {
  const n = X.length
  const U = X.map((x) => { const l = Math.hypot(...x); return x.map((v) => v / l) })
  const K = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) K[i * n + j] = U[i]!.reduce((s, v, t) => s + v * U[j]![t]!, 0) / n
  const eig = jacobiEigenvalues(K, n)
  let h = 0
  for (const l of eig) if (l > 1e-15) h -= l * Math.log(l)
  return Math.exp(h)
}

function randomMatrix (rows: number, cols: number, rand: () => number): Float64Array[] {
  return Array.from({ length: rows }, () => Float64Array.from({ length: cols }, () => rand() * 2 - 1))
}

function basis (i: number, d: number): Float64Array {
  const v = new Float64Array(d)
  v[i] = 1
  return v
}

describe('Vendi score: defining cases', () => {
  it('n identical vectors score 1, through both Gram routes', () => {
    const v = Float64Array.from([0.3, -1, 2, 0.5])
    const few = vendiScore(Array.from({ length: 3 }, () => v)) // n < d: the n×n route
    const many = vendiScore(Array.from({ length: 50 }, () => v)) // n > d: the d×d route
    assert.equal(few.via, 'items')
    assert.equal(many.via, 'features')
    assert.ok(Math.abs(few.score - 1) < 1e-9, String(few.score))
    assert.ok(Math.abs(many.score - 1) < 1e-9, String(many.score))
  })

  it('n orthogonal vectors score n', () => {
    for (const n of [1, 2, 7, 40]) {
      const r = vendiScore(Array.from({ length: n }, (_, i) => basis(i, 64)))
      assert.ok(Math.abs(r.score - n) < 1e-9, `n=${n}: ${r.score}`)
    }
  })

  it('k equal groups of identical, mutually orthogonal vectors score k; mixtures fall between 1 and n', () => {
    const groups = Array.from({ length: 30 }, (_, i) => basis(i % 3, 8))
    assert.ok(Math.abs(vendiScore(groups).score - 3) < 1e-9)
    const rand = seededRandom(2)
    const mixed = Array.from({ length: 20 }, (_, i) => i < 10 ? basis(0, 16) : randomMatrix(1, 16, rand)[0]!)
    const s = vendiScore(mixed).score
    assert.ok(s > 1.5 && s < 20, String(s))
  })

  it('two vectors with cosine c: eigenvalues (1 ± c)/2', () => {
    const c = 0.6
    const r = vendiScore([Float64Array.from([1, 0]), Float64Array.from([c, Math.sqrt(1 - c * c)])])
    const l1 = (1 + c) / 2
    const l2 = (1 - c) / 2
    assert.ok(Math.abs(r.score - Math.exp(-l1 * Math.log(l1) - l2 * Math.log(l2))) < 1e-12)
  })

  it('scale does not matter (cosine kernel); no vectors score 0', () => {
    const rand = seededRandom(3)
    const X = randomMatrix(12, 5, rand)
    assert.ok(Math.abs(vendiScore(X).score - vendiScore(X.map((x) => x.map((v) => v * 9))).score) < 1e-9)
    assert.equal(vendiScore([]).score, 0)
  })
})

describe('Vendi score against a brute-force reference', () => {
  it('matches Jacobi on the full K/n within 1e-6 for random matrices, n < d and n > d', () => {
    const rand = seededRandom(4)
    for (const [n, d] of [[5, 3], [8, 20], [30, 6], [25, 25], [40, 12], [12, 40], [60, 2]] as const) {
      for (let trial = 0; trial < 3; trial++) {
        const X = randomMatrix(n, d, rand)
        const got = vendiScore(X)
        const want = referenceVendi(X)
        assert.ok(Math.abs(got.score - want) < 1e-6, `n=${n} d=${d}: ${got.score} vs ${want}`)
      }
    }
  })

  it('clustered data (near-duplicate eigenvalues, a low-rank kernel) matches too', () => {
    const rand = seededRandom(5)
    const centres = randomMatrix(4, 30, rand)
    const X = Array.from({ length: 48 }, (_, i) => centres[i % 4]!.map((v) => v + 1e-3 * (rand() - 0.5)))
    assert.ok(Math.abs(vendiScore(X).score - referenceVendi(X)) < 1e-6)
  })

  it('symmetricEigenvalues equals Jacobi on random symmetric (indefinite) matrices within 1e-9', () => {
    const rand = seededRandom(6)
    for (const m of [1, 2, 3, 10, 33]) {
      const A = new Float64Array(m * m)
      for (let i = 0; i < m; i++) for (let j = i; j < m; j++) { const v = rand() * 2 - 1; A[i * m + j] = v; A[j * m + i] = v }
      const got = symmetricEigenvalues(A, m)
      const want = jacobiEigenvalues(A, m)
      for (let i = 0; i < m; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-9, `m=${m} λ${i}: ${got[i]} vs ${want[i]}`)
    }
  })

  it('symmetricEigenvalues: known spectra (repeated eigenvalues; the second-difference matrix, 2 − 2cos(kπ/(m+1)))', () => {
    const D = new Float64Array(16)
    for (const [i, v] of [3, 1, 3, 1].entries()) D[i * 4 + i] = v
    assert.deepEqual(Array.from(symmetricEigenvalues(D, 4)), [1, 1, 3, 3])
    const m = 12
    const T = new Float64Array(m * m)
    for (let i = 0; i < m; i++) {
      T[i * m + i] = 2
      if (i + 1 < m) { T[i * m + i + 1] = -1; T[(i + 1) * m + i] = -1 }
    }
    const got = symmetricEigenvalues(T, m)
    for (let k = 1; k <= m; k++) assert.ok(Math.abs(got[k - 1]! - (2 - 2 * Math.cos((k * Math.PI) / (m + 1)))) < 1e-12)
  })

  it('vendiFromEigenvalues clamps round-off negatives and renormalises', () => {
    assert.ok(Math.abs(vendiFromEigenvalues([0.5, 0.5, -1e-17]) - 2) < 1e-12)
    assert.equal(vendiFromEigenvalues([0, 0]), 0)
  })
})

describe('Vendi score: bounded subsets and real text', () => {
  it('uses at most maxSamples vectors, a seeded uniform subset, and says so', () => {
    const rand = seededRandom(7)
    const X = randomMatrix(300, 10, rand)
    const a = vendiScore(X, { maxSamples: 100, seed: 1 })
    assert.equal(a.n, 100)
    assert.equal(a.total, 300)
    assert.equal(a.sampled, true)
    assert.equal(vendiScore(X, { maxSamples: 100, seed: 1 }).score, a.score)
    assert.notEqual(vendiScore(X, { maxSamples: 100, seed: 2 }).score, a.score)
    const idx = sampleIndices(300, 100, 1)
    assert.equal(new Set(idx).size, 100)
    assert.ok(idx.every((i, k) => i >= 0 && i < 300 && (k === 0 || i > idx[k - 1]!)))
    assert.equal(vendiScore(X).sampled, false)
  })

  it('sampleIndices is uniform: every index equally likely over many seeds (chi-square)', () => {
    const total = 20
    const hits = new Array<number>(total).fill(0)
    const runs = 4000
    for (let s = 0; s < runs; s++) for (const i of sampleIndices(total, 5, s)) hits[i]!++
    const e = (runs * 5) / total
    const chi = hits.reduce((acc, o) => acc + (o - e) ** 2 / e, 0)
    assert.ok(chi < 43.8, `chi-square ${chi} (19 dof, α = 0.001: 43.8)`)
  })

  it('on real text: 100 math questions are less diverse than 100 mixed documents', (t) => {
    const docs = loadCorpus()
    const math = docs.filter((d) => d.corpus === 'math').slice(0, 100).map((d) => embed(d.text))
    const mixed = docs.slice(0, 100).map((d) => embed(d.text))
    const dup = Array.from({ length: 100 }, (_, i) => embed(docs[i % 10]!.text))
    const vm = vendiScore(math).score
    const vx = vendiScore(mixed).score
    const vd = vendiScore(dup).score
    t.diagnostic(`Vendi (simulated embeddings, n = 100): math ${vm.toFixed(1)}, mixed ${vx.toFixed(1)}, 10 documents ×10 ${vd.toFixed(2)}`)
    assert.ok(vm < vx)
    assert.ok(vd < 10 + 1e-6 && vd < vm, 'ten distinct documents are at most ten')
  })

  it('rejects vectors of mixed length and zero vectors', () => {
    assert.throws(() => vendiScore([new Float64Array([1, 0]), new Float64Array([1, 0, 0])]), RecordInvalidError)
    assert.throws(() => vendiScore([new Float64Array([0, 0])]), RecordInvalidError)
  })
})

describe('topic entropy', () => {
  it('uniform counts: normalised 1, effective number = topic count', () => {
    const e = topicEntropy([5, 5, 5, 5])
    assert.ok(Math.abs(e.nats - Math.log(4)) < 1e-12)
    assert.ok(Math.abs(e.normalized - 1) < 1e-12)
    assert.ok(Math.abs(e.effective - 4) < 1e-12)
    assert.equal(e.total, 20)
  })

  it('one topic or none: 0; empty topics are ignored; Maps are read by value', () => {
    assert.deepEqual(topicEntropy([9]), { topics: 1, total: 9, nats: 0, normalized: 0, effective: 1 })
    assert.deepEqual(topicEntropy([]), { topics: 0, total: 0, nats: 0, normalized: 0, effective: 0 })
    const e = topicEntropy(new Map([['a', 3], ['b', 1], ['c', 0]]))
    assert.equal(e.topics, 2)
    assert.ok(Math.abs(e.nats - -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25))) < 1e-12)
    assert.throws(() => topicEntropy([1, -1]), RecordInvalidError)
  })

  it('a collapse shows: 200 topics with one holding 99 % has under 2 effective topics', () => {
    const counts = [19_900, ...new Array<number>(199).fill(1)]
    const e = topicEntropy(counts)
    assert.ok(e.effective < 2 && e.normalized < 0.15, JSON.stringify(e))
  })
})

describe('score histogram', () => {
  it('one bin per score 0–7 with shares and the mean', () => {
    const h = scoreHistogram([7, 7, 6, 5, 3])
    assert.equal(h.total, 5)
    assert.equal(h.bins.length, 8)
    assert.deepEqual(h.bins[7], { score: 7, count: 2, share: 0.4 })
    assert.deepEqual(h.bins[0], { score: 0, count: 0, share: 0 })
    assert.ok(Math.abs(h.mean - 5.6) < 1e-12)
  })

  it('widens to scores outside the range; rejects non-integers; empty is all zero', () => {
    assert.deepEqual(scoreHistogram([9], { min: 0, max: 7 }).bins.map((b) => b.score), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.throws(() => scoreHistogram([2.5]), RecordInvalidError)
    const e = scoreHistogram([])
    assert.equal(e.total, 0)
    assert.ok(e.bins.every((b) => b.count === 0 && b.share === 0))
  })
})
