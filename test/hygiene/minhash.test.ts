/**
 * minhash.ts: exact modular arithmetic, deterministic signatures, estimates close to exact
 * Jaccard on real text, near duplicates of real documents found, unrelated real documents not
 * paired, and the LSH index's bookkeeping (replace, remove, growth, serialisation).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.ts'
import {
  EMPTY, MinHasher, MinHashLsh, deserializeSignature, estimateJaccard, lshParams, lshProbability, mulMod31,
  serializeSignature, signatureFromBytes, signatureToBytes, words,
} from '../../src/hygiene/minhash.ts'
import { c4 } from './real-data.ts'

/** Exact Jaccard of word k-shingle sets, on the shingle strings themselves (independent of the hashing). */
function shingleSet (ws: readonly string[], k = 5): Set<string> {
  const s = new Set<string>()
  if (ws.length <= k) s.add(ws.join(' '))
  else for (let i = 0; i + k <= ws.length; i++) s.add(ws.slice(i, i + k).join(' '))
  return s
}
function jaccard (a: Set<string>, b: Set<string>): number {
  let inter = 0
  for (const x of a) if (b.has(x)) inter++
  return inter / (a.size + b.size - inter)
}

/** Deterministic pseudo-random numbers for the tests (mulberry32). */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('mulMod31 equals BigInt (a·x) mod (2^31 − 1), edge values included', () => {
  const P = 2147483647n
  const rnd = prng(7)
  const values = [0, 1, 2, 65535, 65536, 65537, 2147483645, 2147483646]
  for (let i = 0; i < 50_000; i++) values.push(Math.floor(rnd() * 2147483647))
  for (let i = 0; i + 1 < values.length; i++) {
    const a = values[i]!
    const x = values[i + 1]!
    assert.equal(BigInt(mulMod31(a, x)), (BigInt(a) * BigInt(x)) % P, `${a} · ${x}`)
  }
})

test('words: lowercased, punctuation dropped, one word per Han / kana character', () => {
  assert.deepEqual(words('Hello, WORLD! It\'s 2024.'), ['hello', 'world', 'it', 's', '2024'])
  assert.deepEqual(words('我们去公园 and ひらがな'), ['我', '们', '去', '公', '园', 'and', 'ひ', 'ら', 'が', 'な'])
  assert.deepEqual(words('Café  résumé'), words('CAFE\u0301 re\u0301sume\u0301'))
})

test('signatures are deterministic, seed-dependent, and named by their parameters', () => {
  const text = c4()[0]!
  const a = new MinHasher()
  const b = new MinHasher()
  assert.deepEqual(a.signature(text), b.signature(text))
  assert.equal(a.signature(text).length, 128)
  assert.ok(a.signature(text).every((v) => v < 2147483647))
  assert.notDeepEqual(new MinHasher({ seed: 1 }).signature(text), a.signature(text))
  assert.equal(a.id, 'minhash-v1/w5/p128/s24301')
  assert.equal(new MinHasher({ shingleSize: 3, numPerm: 64, seed: 9 }).id, 'minhash-v1/w3/p64/s9')
  // Normalisation-insensitive: case, whitespace and composition do not change the signature.
  assert.deepEqual(a.signature('The  Café\r\nopened TODAY in the old town square'), a.signature('the cafe\u0301 opened today in the old town square'))
  // A text without words.
  assert.ok(a.signature('  ... !!! ').every((v) => v === EMPTY))
  assert.equal(estimateJaccard(a.signature(''), a.signature('')), 0)
  assert.throws(() => new MinHasher({ numPerm: 0 }), ConfigError)
  assert.throws(() => new MinHasher({ shingleSize: 1.5 }), ConfigError)
})

test('estimateJaccard is close to exact Jaccard on real text over the whole range (mean abs error < 0.05)', (t) => {
  const h = new MinHasher()
  const long = c4().map(words).filter((w) => w.length >= 800).slice(0, 40)
  assert.ok(long.length >= 20)
  let err = 0
  let worst = 0
  let n = 0
  const buckets = new Set<number>()
  for (const w of long) {
    const a = w.slice(0, 400)
    for (const shift of [0, 10, 30, 60, 100, 150, 200, 260, 330, 400]) {
      const b = w.slice(shift, shift + 400)
      const exact = jaccard(shingleSet(a), shingleSet(b))
      const est = estimateJaccard(h.signatureOfWords(a), h.signatureOfWords(b))
      err += Math.abs(est - exact)
      worst = Math.max(worst, Math.abs(est - exact))
      buckets.add(Math.floor(exact * 5))
      n++
    }
  }
  t.diagnostic(`${n} pairs, mean abs error ${(err / n).toFixed(4)}, worst ${worst.toFixed(3)}`)
  assert.ok(buckets.size >= 5, 'pairs span the whole range of similarities')
  assert.ok(err / n < 0.05)
})

test('near duplicates of real C4 documents (a few words changed) are found; every reported pair is really similar', (t) => {
  const docs = c4()
  const h = new MinHasher()
  const lsh = new MinHashLsh({ threshold: 0.8 })
  const candidates = docs.map((d, i) => ({ i, w: words(d) })).filter((d) => d.w.length >= 300).slice(0, 30)
  for (const { i, w } of candidates) lsh.add(`doc-${i}`, h.signatureOfWords(w))
  const rnd = prng(42)
  let found = 0
  for (const { i, w } of candidates) {
    const changed = w.slice()
    for (let k = 0; k < 3; k++) changed[Math.floor(rnd() * changed.length)] = 'zzzchanged'
    const exact = jaccard(shingleSet(w), shingleSet(changed))
    const hits = lsh.query(h.signatureOfWords(changed))
    assert.ok(exact >= 0.9, `doc ${i}: 3 changed words leave Jaccard ${exact}`)
    if (hits[0]?.id === `doc-${i}`) found++
    for (const m of hits) assert.ok(m.similarity >= 0.8)
  }
  t.diagnostic(`${found} of ${candidates.length} edited documents found`)
  assert.equal(found, candidates.length)
})

test('all pairs of 300 real C4 documents: no false positive at threshold 0.8', (t) => {
  const docs = c4().slice(0, 300)
  const h = new MinHasher()
  const ws = docs.map(words)
  const sigs = ws.map((w) => h.signatureOfWords(w))
  const lsh = new MinHashLsh({ threshold: 0.8 })
  sigs.forEach((s, i) => lsh.add(String(i), s))
  const sets = ws.map((w) => shingleSet(w))
  let reported = 0
  let falsePositives = 0
  for (let i = 0; i < sigs.length; i++) {
    for (const m of lsh.query(sigs[i]!, { exclude: String(i) })) {
      if (Number(m.id) < i) continue
      reported++
      if (jaccard(sets[i]!, sets[Number(m.id)]!) < 0.8) falsePositives++
    }
  }
  let truePairs = 0
  let maxOther = 0
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      const s = jaccard(sets[i]!, sets[j]!)
      if (s >= 0.8) truePairs++
      else maxOther = Math.max(maxOther, s)
    }
  }
  t.diagnostic(`44,850 pairs: ${reported} reported, ${falsePositives} false positives; ${truePairs} pairs with exact Jaccard ≥ 0.8; highest other pair ${maxOther.toFixed(3)}`)
  assert.equal(falsePositives, 0)
  assert.equal(reported, truePairs)
})

test('lshParams and the S-curve: 0.8 → 16 bands × 8 rows for 128 permutations', () => {
  assert.deepEqual(lshParams(128, 0.8), { bands: 16, rows: 8 })
  assert.deepEqual(lshParams(128, 0.7), { bands: 21, rows: 6 })
  assert.deepEqual(lshParams(128, 0.6), { bands: 32, rows: 4 })
  assert.ok(Math.abs(lshProbability(0.8, 16, 8) - 0.947) < 0.001)
  assert.ok(lshProbability(0.5, 16, 8) < 0.07)
  assert.ok(lshProbability(0.9, 16, 8) > 0.9998)
  const lsh = new MinHashLsh()
  assert.deepEqual([lsh.bands, lsh.rows, lsh.threshold], [16, 8, 0.8])
  assert.throws(() => new MinHashLsh({ bands: 20, rows: 8 }), ConfigError)
  assert.throws(() => lshParams(128, 1), ConfigError)
})

test('MinHashLsh: add replaces, remove forgets, size/has follow, growth past the initial capacity keeps every entry findable', () => {
  const h = new MinHasher({ numPerm: 64 })
  const lsh = new MinHashLsh({ numPerm: 64, threshold: 0.8 })
  const docs = c4().slice(0, 40)
  lsh.add('a', h.signature(docs[0]!))
  lsh.add('a', h.signature(docs[1]!))
  assert.equal(lsh.size, 1)
  assert.deepEqual(lsh.query(h.signature(docs[0]!)), [])
  assert.deepEqual(lsh.query(h.signature(docs[1]!)).map((m) => m.id), ['a'])
  assert.equal(lsh.remove('a'), true)
  assert.equal(lsh.remove('a'), false)
  assert.equal(lsh.has('a'), false)
  assert.deepEqual(lsh.query(h.signature(docs[1]!)), [])
  // 5,000 entries: several array growths and table rehashes.
  const rnd = prng(3)
  const sigs: Uint32Array[] = []
  for (let i = 0; i < 5000; i++) {
    const sig = new Uint32Array(64)
    for (let j = 0; j < 64; j++) sig[j] = Math.floor(rnd() * 2147483647)
    sigs.push(sig)
    lsh.add(`r${i}`, sig)
  }
  for (let i = 0; i < 5000; i += 250) lsh.remove(`r${i}`)
  assert.equal(lsh.size, 5000 - 20)
  for (let i = 0; i < 5000; i++) {
    const ids = lsh.query(sigs[i]!).map((m) => m.id)
    assert.deepEqual(ids, i % 250 === 0 ? [] : [`r${i}`])
  }
  assert.deepEqual(lsh.query(sigs[7]!, { exclude: 'r7' }), [])
  assert.throws(() => lsh.add('x', new Uint32Array(128)), ConfigError)
})

test('signature serialisation: base64 and bytes round-trip, sizes, validation', () => {
  const sig = new MinHasher().signature(c4()[3]!)
  const text = serializeSignature(sig)
  assert.equal(text.length, 684)
  assert.deepEqual(deserializeSignature(text), sig)
  assert.deepEqual(deserializeSignature(text, 128), sig)
  const bytes = signatureToBytes(sig)
  assert.equal(bytes.length, 512)
  assert.equal(bytes.readUInt32LE(4), sig[1])
  assert.deepEqual(signatureFromBytes(bytes), sig)
  // A view into a larger buffer at an odd offset.
  const padded = Buffer.concat([Buffer.from([1, 2, 3]), bytes])
  assert.deepEqual(signatureFromBytes(padded.subarray(3)), sig)
  assert.throws(() => deserializeSignature(text, 64), ConfigError)
  assert.throws(() => signatureFromBytes(Buffer.alloc(7)), ConfigError)
  assert.throws(() => estimateJaccard(sig, new Uint32Array(64)), ConfigError)
})
