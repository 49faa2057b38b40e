import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, DecodeError, RecordInvalidError, SchemaIncompatibleError, SynthqError } from '../../src/errors.ts'

test('every error class carries its stable code, name, retriable flag and cause', () => {
  const cause = new Error('root')
  const table: Array<[SynthqError, string, string, boolean]> = [
    [new ConfigError('bad setting', { cause }), 'ConfigError', 'SYNTHQ_CONFIG', false],
    [new DecodeError('poison', { cause }), 'DecodeError', 'SYNTHQ_DECODE', false],
    [new RecordInvalidError('invalid', ['a.b'], { cause }), 'RecordInvalidError', 'SYNTHQ_RECORD_INVALID', false],
    [new SchemaIncompatibleError('incompatible', { cause }), 'SchemaIncompatibleError', 'SYNTHQ_SCHEMA_INCOMPATIBLE', false],
    [new SynthqError('SYNTHQ_REGISTRY_UNAVAILABLE', 'down', { cause, retriable: true, context: { url: 'http://r' } }), 'SynthqError', 'SYNTHQ_REGISTRY_UNAVAILABLE', true],
  ]
  for (const [err, name, code, retriable] of table) {
    assert.ok(err instanceof SynthqError && err instanceof Error)
    assert.equal(err.name, name)
    assert.equal(err.code, code)
    assert.equal(err.retriable, retriable)
    assert.equal(err.cause, cause)
    assert.match(String(err), new RegExp(`^${name}: `))
  }
  assert.deepEqual(new RecordInvalidError('x', ['a', 'b.c']).paths, ['a', 'b.c'])
})
