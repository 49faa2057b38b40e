/**
 * near-dup.ts: an edited copy of a kept real document is caught, unrelated ones pass, a record
 * is never its own duplicate, stored signatures restore the filter, and the FIFO bound holds.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.ts'
import { serializeSignature, signatureFromBytes, words } from '../../src/hygiene/minhash.ts'
import { NearDuplicateFilter } from '../../src/hygiene/near-dup.ts'
import { c4 } from './real-data.ts'

const docs = c4()
const long = docs.filter((d) => words(d).length >= 300)

/** The document with a few words replaced and its header line changed. */
function edited (doc: string): string {
  const ws = doc.split(' ')
  for (const i of [10, Math.floor(ws.length / 2), ws.length - 5]) ws[i] = 'CHANGED'
  return `Posted by admin | Share this\n${ws.join(' ')}`
}

test('check then add: an edited copy of a kept document is a near duplicate; unrelated documents are not', () => {
  const f = new NearDuplicateFilter()
  let unrelatedFlagged = 0
  for (const [i, d] of docs.slice(0, 300).entries()) {
    if (f.check(`c4-${i}`, d)) unrelatedFlagged++
    f.add(`c4-${i}`, d)
  }
  assert.equal(unrelatedFlagged, 0)
  assert.equal(f.size, 300)
  const i = docs.indexOf(long[5]!)
  assert.ok(i >= 0 && i < 300)
  const dup = f.check('copy', edited(docs[i]!))
  assert.equal(dup?.duplicateOf, `c4-${i}`)
  assert.ok(dup.similarity >= 0.8)
})

test('a redelivered record is not a duplicate of itself', () => {
  const f = new NearDuplicateFilter()
  f.add('doc-1', long[0]!)
  assert.equal(f.check('doc-1', long[0]!), undefined)
  assert.equal(f.check('doc-2', long[0]!)?.duplicateOf, 'doc-1')
})

test('signatures returned by add restore the filter after a restart (bytes or base64)', () => {
  const first = new NearDuplicateFilter()
  const stored = long.slice(0, 20).map((d, i) => ({ id: `d${i}`, sig: first.add(`d${i}`, d) }))
  assert.equal(stored[0]!.sig.length, 512)
  const restarted = new NearDuplicateFilter()
  for (const s of stored.slice(0, 10)) restarted.addSignature(s.id, s.sig)
  for (const s of stored.slice(10)) restarted.addSignature(s.id, serializeSignature(signatureFromBytes(s.sig)))
  assert.equal(restarted.size, 20)
  for (let i = 0; i < 20; i++) assert.equal(restarted.check(`new-${i}`, edited(long[i]!))?.duplicateOf, `d${i}`)
  assert.throws(() => restarted.addSignature('bad', Buffer.alloc(256)), ConfigError)
})

test('bounded: beyond maxEntries the oldest signatures are evicted first', () => {
  const f = new NearDuplicateFilter({ maxEntries: 50 })
  for (let i = 0; i < 60; i++) f.add(`d${i}`, long[i]!)
  assert.equal(f.size, 50)
  assert.equal(f.evicted, 10)
  assert.equal(f.check('x', long[0]!), undefined, 'evicted: no longer compared')
  assert.equal(f.check('x', long[10]!)?.duplicateOf, 'd10')
  // Re-adding makes an entry the newest.
  f.add('d10', long[10]!)
  f.add('d60', long[60]!)
  assert.equal(f.check('x', long[10]!)?.duplicateOf, 'd10')
  assert.equal(f.check('x', long[11]!), undefined)
  assert.throws(() => new NearDuplicateFilter({ maxEntries: 0 }), ConfigError)
})

test('threshold is an option', () => {
  const loose = new NearDuplicateFilter({ threshold: 0.3 })
  const strict = new NearDuplicateFilter({ threshold: 0.95 })
  const d = long[3]!
  const ws = d.split(' ')
  const half = `${ws.slice(0, Math.floor(ws.length * 0.6)).join(' ')} ${'unrelated filler words follow here '.repeat(20)}`
  loose.add('a', d)
  strict.add('a', d)
  assert.equal(loose.check('b', half)?.duplicateOf, 'a')
  assert.equal(strict.check('b', half), undefined)
  assert.equal(strict.check('c', edited(d)), undefined, 'three changed words and a header fall below 0.95')
})
