import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DecodeError } from '../../src/errors.ts'
import { frame, unframe } from '../../src/serde/wire-format.ts'

test('frame writes magic byte 0 and the schema id big-endian before the body', () => {
  const out = frame(0x01020304, Buffer.from([0xaa, 0xbb]))
  assert.deepEqual([...out], [0, 1, 2, 3, 4, 0xaa, 0xbb])
})

test('unframe returns the schema id and the body', () => {
  const { schemaId, body } = unframe(Buffer.from([0, 0, 0, 1, 44, 9, 8]))
  assert.equal(schemaId, 300)
  assert.deepEqual([...body], [9, 8])
})

test('unframe rejects values that are not Confluent wire format, saying why', () => {
  const cases: Array<[Buffer | null, RegExp]> = [
    [null, /empty value/],
    [Buffer.alloc(0), /empty value/],
    [Buffer.from([0, 0, 1]), /too short/],
    [Buffer.from('{"json":true}'), /0x7b, not the Confluent magic byte/],
  ]
  for (const [input, message] of cases) {
    assert.throws(() => unframe(input), (err: unknown) => err instanceof DecodeError && message.test(err.message) && err.code === 'SYNTHQ_DECODE')
  }
})
