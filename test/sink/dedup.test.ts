/**
 * The sink's duplicate filter: a Bloom filter with no false negatives, a measured false-positive
 * rate near the configured one at capacity (and rising past it, as the estimate says), a
 * snapshot that restores to the identical filter, restore refusing what is not its snapshot,
 * options checked; and textKey, the key two instructions share when they are "the same text".
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, RecordInvalidError } from '../../src/errors.ts'
import { BloomFilter, textKey, type BloomSnapshot } from '../../src/sink/dedup/index.ts'

const N = 100_000
const item = (i: number): string => `id\u0000ins-${i}`
const probe = (i: number): string => `text\u0000never added ${i}`

describe('BloomFilter', () => {
  it('has no false negatives over 100k items, and add() reports an item already present', () => {
    const f = new BloomFilter({ capacity: N, falsePositiveRate: 0.001 })
    for (let i = 0; i < N; i++) f.add(item(i))
    assert.equal(f.added, N)
    for (let i = 0; i < N; i++) if (!f.has(item(i))) assert.fail(`false negative for item ${i}`)
    for (let i = 0; i < 1000; i++) assert.equal(f.add(item(i)), true, `re-added item ${i} must report present`)
  })

  for (const p of [0.01, 0.001]) {
    it(`measured false-positive rate at capacity is within 2× of the configured ${p} (100k probes)`, (t) => {
      const f = new BloomFilter({ capacity: N, falsePositiveRate: p })
      for (let i = 0; i < N; i++) f.add(item(i))
      let fp = 0
      const probes = 200_000
      for (let i = 0; i < probes; i++) if (f.has(probe(i))) fp++
      const rate = fp / probes
      t.diagnostic(`p=${p}: ${f.bitCount} bits, ${f.hashes} hashes, measured ${rate.toExponential(3)}, estimated ${f.estimatedFalsePositiveRate().toExponential(3)}`)
      assert.ok(rate <= 2 * p, `measured ${rate} > 2 × ${p}`)
      assert.ok(rate >= p / 2, `measured ${rate} < ${p} / 2: suspiciously low (probes not independent of items?)`)
      const est = f.estimatedFalsePositiveRate()
      assert.ok(est > p / 1.5 && est < p * 1.5, `estimate ${est} at capacity far from ${p}`)
    })
  }

  it('the estimated false-positive rate rises past capacity (and the measured one with it)', () => {
    const cap = 10_000
    const p = 0.01
    const f = new BloomFilter({ capacity: cap, falsePositiveRate: p })
    assert.equal(f.estimatedFalsePositiveRate(), 0)
    const measure = (): number => {
      let fp = 0
      for (let i = 0; i < 50_000; i++) if (f.has(probe(i))) fp++
      return fp / 50_000
    }
    let prev = 0
    const estimates: number[] = []
    for (let i = 0; i < 4 * cap; i++) {
      f.add(item(i))
      if ((i + 1) % (cap / 2) === 0) {
        const e = f.estimatedFalsePositiveRate()
        assert.ok(e > prev, `estimate did not rise at ${i + 1} items: ${e} ≤ ${prev}`)
        prev = e
        estimates.push(e)
      }
    }
    const atCapacity = estimates[1]!
    assert.ok(Math.abs(atCapacity - p) / p < 0.5, `estimate at capacity ${atCapacity}`)
    assert.ok(prev > 10 * p, `at 4× capacity the estimate ${prev} should be far above ${p}`)
    const measured = measure()
    assert.ok(measured > 5 * p, `measured ${measured} at 4× capacity`)
    assert.ok(Math.abs(measured - prev) / prev < 0.25, `measured ${measured} vs estimated ${prev}`)
  })

  it('snapshot → JSON → restore gives an identical filter: same answers, same snapshot', () => {
    const f = new BloomFilter({ capacity: 20_000, falsePositiveRate: 0.01 })
    for (let i = 0; i < 15_000; i++) f.add(item(i))
    const snap = f.snapshot()
    assert.equal(snap.format, 'synthq.bloom/1')
    const g = BloomFilter.restore(JSON.parse(JSON.stringify(snap)) as BloomSnapshot)
    assert.deepEqual(g.snapshot(), snap)
    assert.equal(g.added, f.added)
    assert.equal(g.bitCount, f.bitCount)
    assert.equal(g.hashes, f.hashes)
    assert.equal(g.estimatedFalsePositiveRate(), f.estimatedFalsePositiveRate())
    for (let i = 0; i < 15_000; i++) assert.equal(g.has(item(i)), true)
    for (let i = 0; i < 30_000; i++) if (g.has(probe(i)) !== f.has(probe(i))) assert.fail(`answers differ for probe ${i}`)
    // Independent after restore: adding to one does not change the other.
    for (let i = 15_000; i < 16_000; i++) g.add(item(i))
    assert.deepEqual(f.snapshot(), snap)
    assert.notDeepEqual(g.snapshot(), snap)
    // Restored and original continue identically.
    for (let i = 15_000; i < 16_000; i++) f.add(item(i))
    assert.deepEqual(g.snapshot(), f.snapshot())
  })

  it('restore rejects a wrong snapshot with a RecordInvalidError', () => {
    const snap = new BloomFilter({ capacity: 1000, falsePositiveRate: 0.01 }).snapshot()
    const bad: Array<[string, unknown]> = [
      ['another format', { ...snap, format: 'synthq.bloom/0' }],
      ['no format', { ...snap, format: undefined }],
      ['not a snapshot at all', { hello: 'world' }],
      ['null', null],
      ['bits of another size', { ...snap, bits: Buffer.alloc(snap.bits.length).toString('base64') + 'AAAA' }],
      ['bits truncated', { ...snap, bits: Buffer.from(snap.bits, 'base64').subarray(1).toString('base64') }],
      ['another hash count', { ...snap, hashes: snap.hashes + 1 }],
      ['sized for another capacity', { ...snap, capacity: 5000 }],
    ]
    for (const [what, s] of bad) {
      assert.throws(() => BloomFilter.restore(s as BloomSnapshot), RecordInvalidError, what)
    }
  })

  it('bad options are ConfigErrors', () => {
    const bad: Array<[string, { capacity: number, falsePositiveRate: number }]> = [
      ['capacity 0', { capacity: 0, falsePositiveRate: 0.01 }],
      ['negative capacity', { capacity: -5, falsePositiveRate: 0.01 }],
      ['fractional capacity', { capacity: 10.5, falsePositiveRate: 0.01 }],
      ['NaN capacity', { capacity: NaN, falsePositiveRate: 0.01 }],
      ['infinite capacity', { capacity: Infinity, falsePositiveRate: 0.01 }],
      ['rate 0', { capacity: 100, falsePositiveRate: 0 }],
      ['rate 0.5', { capacity: 100, falsePositiveRate: 0.5 }],
      ['rate 1', { capacity: 100, falsePositiveRate: 1 }],
      ['negative rate', { capacity: 100, falsePositiveRate: -0.1 }],
      ['NaN rate', { capacity: 100, falsePositiveRate: NaN }],
    ]
    for (const [what, o] of bad) assert.throws(() => new BloomFilter(o), ConfigError, what)
    const ok = new BloomFilter({ capacity: 1, falsePositiveRate: 0.4 })
    assert.ok(ok.bitCount >= 64 && ok.bitCount % 8 === 0 && ok.hashes >= 1)
  })

  it('is sized by the textbook formulas (m = −n·ln p / ln²2, k = m/n·ln 2)', () => {
    const f = new BloomFilter({ capacity: 1_000_000, falsePositiveRate: 1e-6 })
    const m = -1_000_000 * Math.log(1e-6) / (Math.LN2 ** 2)
    assert.ok(Math.abs(f.bitCount - m) <= 8, `${f.bitCount} bits vs ${m}`)
    assert.equal(f.hashes, 20)
    assert.equal(f.bytes, f.bitCount / 8)
  })
})

describe('textKey', () => {
  it('collapses case, punctuation, whitespace and Unicode forms', () => {
    const same: Array<[string, string]> = [
      ['Explain TCP slow start.', 'explain  tcp slow-start'],
      ['Explain TCP slow start.', '  EXPLAIN\tTCP\nslow   start!!! '],
      ['Explain TCP slow start.', 'Explain “TCP” slow—start?'],
      ['Explain TCP slow start.', 'Explain\u00a0TCP\u2003slow start'], // no-break and em spaces
      ['Explain TCP slow start.', 'Explain ＴＣＰ slow start'], // full-width letters (NFKC)
      ['Explain TCP slow start.', 'Explain TCP slow\u200b start'], // zero-width space
      ['What is a café?', 'what is a cafe\u0301'], // NFC vs NFD
      ['Define the ﬁrst law', 'define the first law'], // ligature (NFKC)
      ['Compute 2+2 = 4', 'compute 2 2 4'], // symbols
    ]
    for (const [a, b] of same) assert.equal(textKey(a), textKey(b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
    assert.equal(textKey('Explain TCP slow start.'), 'explain tcp slow start')
  })

  it('keeps different texts apart', () => {
    const texts = [
      'Explain TCP slow start.',
      'Explain TCP fast retransmit.',
      'Explain TCP slow start in QUIC.',
      'Explain UDP slow start.',
      'Explain TCP slowstart.',
      'What is a cafe?',
      'What is a café?',
      'Compute 2+2',
      'Compute 22',
      'Compute 2 3',
      '',
    ]
    const keys = new Map<string, string>()
    for (const t of texts) {
      const k = textKey(t)
      assert.ok(!keys.has(k), `${JSON.stringify(t)} and ${JSON.stringify(keys.get(k))} share the key ${JSON.stringify(k)}`)
      keys.set(k, t)
    }
  })

  it('is idempotent', () => {
    for (const t of ['Explain TCP slow start.', '  Ｍixed — “quotes” & ﬁ ligatures\u200b ', 'cafe\u0301 ÉCOLE']) {
      assert.equal(textKey(textKey(t)), textKey(t))
    }
  })
})
