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
