/**
 * hash.ts: it is MurmurHash3 x86_32 (checked against a byte-level implementation that
 * reproduces the published test vectors), applied to the id's UTF-16LE bytes; its uniforms are
 * uniform across ids and across seeds (chi-square), their two halves independent, and seeds are
 * validated.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../../src/errors.ts'
import { deriveSeeds, hash32, uniformOf } from '../../../src/sink/reservoir/hash.ts'
import { chiSquareTest, fmtChi } from './stats.ts'

/** MurmurHash3 x86_32 over bytes, written from the algorithm's description. */
function murmur3Bytes (bytes: Uint8Array, seed: number): number {
  const mix = (k: number): number => Math.imul(((Math.imul(k, 0xcc9e2d51) << 15) | (Math.imul(k, 0xcc9e2d51) >>> 17)), 0x1b873593)
  let h = seed >>> 0
  const blocks = bytes.length >> 2
  for (let i = 0; i < blocks; i++) {
    const k = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)
    h ^= mix(k)
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  const tail = blocks * 4
  const rem = bytes.length & 3
  let k = 0
  if (rem === 3) k ^= bytes[tail + 2]! << 16
  if (rem >= 2) k ^= bytes[tail + 1]! << 8
  if (rem >= 1) { k ^= bytes[tail]!; h ^= mix(k) }
  h ^= bytes.length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

test('the byte-level reference reproduces the published MurmurHash3 x86_32 vectors', () => {
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
  assert.equal(murmur3Bytes(utf8(''), 0), 0)
  assert.equal(murmur3Bytes(utf8(''), 1), 0x514e28b7)
  assert.equal(murmur3Bytes(utf8(''), 0xffffffff), 0x81f16f39)
  assert.equal(murmur3Bytes(utf8('test'), 0), 0xba6bd213)
  assert.equal(murmur3Bytes(utf8('Hello, world!'), 0x9747b28c), 0x24884cba)
  assert.equal(murmur3Bytes(utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c), 0x2fa826cd)
})

test('hash32 is MurmurHash3 x86_32 of the UTF-16LE bytes; uniformOf combines two seeded hashes', () => {
  const seeds = deriveSeeds(123)
  for (const s of ['', 'a', 'ab', 'abc', 'abcd', 'inst-000123', 'héllo wörld ☃ 😀', 'x'.repeat(101)]) {
    const bytes = new Uint8Array(Buffer.from(s, 'utf16le'))
    assert.equal(hash32(0x9747b28c, s), murmur3Bytes(bytes, 0x9747b28c), s)
    const x = (hash32(seeds.a, s) >>> 12) * 2 ** 32 + hash32(seeds.b, s)
    assert.equal(uniformOf(seeds, s), (x + 0.5) / 2 ** 52, s)
  }
})

test('deterministic, strictly inside (0, 1), seed-dependent', () => {
  const a = deriveSeeds(1)
  const b = deriveSeeds(2)
  assert.equal(uniformOf(a, 'id-1'), uniformOf(deriveSeeds(1), 'id-1'))
  assert.notEqual(uniformOf(a, 'id-1'), uniformOf(b, 'id-1'))
  // Seeds above 2^32 use their high half too.
  assert.notEqual(uniformOf(deriveSeeds(5), 'x'), uniformOf(deriveSeeds(5 + 2 ** 32), 'x'))
  for (let i = 0; i < 10_000; i++) {
    const u = uniformOf(a, `i${i}`)
    assert.ok(u > 0 && u < 1)
  }
})

test('uniform across ids (one seed) and across seeds (one id): chi-square over 100 bins', (t) => {
  const bins = 100
  const n = 200_000
  const overIds = new Array<number>(bins).fill(0)
  const seeds = deriveSeeds(2024)
  for (let i = 0; i < n; i++) overIds[Math.floor(uniformOf(seeds, `inst-${i}`) * bins)]!++
  const overSeeds = new Array<number>(bins).fill(0)
  for (let s = 0; s < n; s++) overSeeds[Math.floor(uniformOf(deriveSeeds(s), 'inst-42') * bins)]!++
  const expected = new Array<number>(bins).fill(n / bins)
  const a = chiSquareTest(overIds, expected)
  const b = chiSquareTest(overSeeds, expected)
  t.diagnostic(`over ids: ${fmtChi(a)}; over seeds: ${fmtChi(b)}`)
  assert.ok(a.pass && b.pass)
})

test('the high bits (first hash) and low bits (second hash) of u are independent: 16 × 16 table', (t) => {
  const n = 256_000
  const cells = new Array<number>(256).fill(0)
  const seeds = deriveSeeds(9)
  for (let i = 0; i < n; i++) {
    const x = uniformOf(seeds, `doc/${i}`) * 2 ** 52 - 0.5
    const hi = Math.floor(x / 2 ** 48) // top 4 bits of the first hash's 20
    const lo = x % 16 // low 4 bits of the second hash
    cells[hi * 16 + lo]!++
  }
  const r = chiSquareTest(cells, new Array<number>(256).fill(n / 256))
  t.diagnostic(fmtChi(r))
  assert.ok(r.pass)
})

test('seeds must be non-negative safe integers', () => {
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, Infinity]) assert.throws(() => deriveSeeds(bad), ConfigError)
  assert.doesNotThrow(() => deriveSeeds(2 ** 53 - 1))
})
