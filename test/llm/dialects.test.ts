/**
 * Structured-output dialects as plain functions: what each request carries, and which dialect
 * follows a refusal (src/llm/dialects.ts). The recorded servers' answers are in
 * dialects-recorded.test.ts and compat.test.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { dialectRequest, fallbackAfter } from '../../src/llm/dialects.ts'

const SCHEMA = { type: 'object', additionalProperties: false, required: ['analysis'], properties: { analysis: { type: 'string', maxLength: 240 } } }
const sentSchema = (d: 'json_schema' | 'json_schema_strict'): unknown => ((dialectRequest(d, SCHEMA, 'n', true).body.response_format as { json_schema: { schema: unknown } }).json_schema.schema)

test('json_schema sends the whole schema (vLLM, SGLang and llama.cpp enforce its bounds); json_schema_strict leaves out what strict mode refuses', () => {
  assert.deepEqual(sentSchema('json_schema'), SCHEMA)
  assert.deepEqual(sentSchema('json_schema_strict'), { type: 'object', additionalProperties: false, required: ['analysis'], properties: { analysis: { type: 'string' } } })
})

test('after json_schema: json_schema_strict only when the refusal names a keyword strict mode does not permit', () => {
  assert.equal(fallbackAfter('json_schema', "Invalid schema for response_format 'scoring_v2': 'maxLength' is not permitted."), 'json_schema_strict')
  assert.equal(fallbackAfter('json_schema', "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}"), 'json_object_schema')
  assert.equal(fallbackAfter('json_schema', 'response_format json_schema is not supported'), 'json_object_schema', '"format" inside "response_format" is not a keyword')
  assert.equal(fallbackAfter('json_schema_strict', "'maxLength' is not permitted"), 'json_object_schema')
  assert.equal(fallbackAfter('json_object'), 'prompt')
  assert.equal(fallbackAfter('prompt'), undefined)
})

test('json_object_schema lowers string bounds above what llama-cpp-python can compile into a grammar; a property named maxLength is left alone', () => {
  const schema = { type: 'object', properties: { judge_reason: { type: 'string', minLength: 1, maxLength: 1200 }, short: { type: 'string', maxLength: 240 }, maxLength: { type: 'integer' } }, required: ['judge_reason'] }
  const sent = (dialectRequest('json_object_schema', schema, 'judge', false).body.response_format as { schema: typeof schema }).schema
  assert.equal(sent.properties.judge_reason.maxLength, 1000)
  assert.equal(sent.properties.judge_reason.minLength, 1)
  assert.equal(sent.properties.short.maxLength, 240)
  assert.deepEqual(sent.properties.maxLength, { type: 'integer' })
  assert.equal(schema.properties.judge_reason.maxLength, 1200, 'the stage\'s own schema (what the answer is checked against) is unchanged')
  const other = (dialectRequest('json_schema', schema, 'judge', false).body.response_format as { json_schema: { schema: typeof schema } }).json_schema.schema
  assert.equal(other.properties.judge_reason.maxLength, 1200, 'servers that enforce bounds themselves get the whole schema')
})
