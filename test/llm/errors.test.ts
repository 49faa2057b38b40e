import assert from 'node:assert/strict'
import { test } from 'node:test'
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai'
import { Secret } from '../../src/config/secret.ts'
import { classifyFailure, retryAfterMs, scrub } from '../../src/llm/errors.ts'
import { parseResetDuration } from '../../src/llm/endpoint-gate.ts'

const http = (status: number, headers: Record<string, string> = {}, message = 'boom'): APIError =>
  APIError.generate(status, { message }, message, new Headers(headers))

test('statuses sort into transient, rejected and misconfigured', () => {
  const table: Array<[unknown, string, boolean]> = [
    [http(408), 'transient', false],
    [http(409), 'transient', false],
    [http(429), 'transient', true],
    [http(500), 'transient', false],
    [http(502), 'transient', false],
    [http(503), 'transient', true],
    [http(400), 'rejected', false],
    [http(422), 'rejected', false],
    [http(401), 'misconfigured', false],
    [http(403), 'misconfigured', false],
    [http(404), 'misconfigured', false],
    [new APIConnectionTimeoutError(), 'transient', true],
    [new APIConnectionError({ message: 'Connection error.', cause: Object.assign(new Error('other side closed'), { code: 'ECONNRESET' }) }), 'transient', false],
    [new APIUserAbortError(), 'aborted', false],
    [new TypeError('bug'), 'rejected', false],
  ]
  for (const [err, kind, overload] of table) {
    const f = classifyFailure(err)
    assert.equal(f.kind, kind, `${(err as Error).constructor.name} ${(err as APIError).status ?? ''}`)
    assert.equal(f.overload, overload, `${(err as Error).constructor.name} ${(err as APIError).status ?? ''} overload`)
  }
  assert.match(classifyFailure(table[12]![0]).reason, /ECONNRESET/)
})

test('Retry-After: milliseconds header first, then seconds, then an HTTP date', () => {
  assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' })), 250)
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' })), 2000)
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '0.5' })), 500)
  const now = Date.parse('2026-11-25T12:00:00Z')
  assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Wed, 25 Nov 2026 12:00:03 GMT' }), now), 3000)
  assert.equal(retryAfterMs(new Headers({ 'retry-after': 'soon' })), undefined)
  assert.equal(retryAfterMs(new Headers()), undefined)
  assert.equal(classifyFailure(http(429, { 'retry-after': '3' })).retryAfterMs, 3000)
})

test('x-ratelimit-reset durations in OpenAI\'s format', () => {
  assert.equal(parseResetDuration('1s'), 1000)
  assert.equal(parseResetDuration('6m0s'), 360_000)
  assert.equal(parseResetDuration('120ms'), 120)
  assert.equal(parseResetDuration('1h2m3.5s'), 3_723_500)
  assert.equal(parseResetDuration('7'), 7000)
  assert.equal(parseResetDuration('never'), undefined)
  assert.equal(parseResetDuration(null), undefined)
})

test('the key never survives into a classified message', () => {
  const key = new Secret('sk-live-0123456789abcdef')
  const f = classifyFailure(http(401, {}, 'Incorrect API key provided: sk-live-0123456789abcdef. Header was Bearer sk-live-0123456789abcdef'), key)
  assert.ok(!f.detail.includes('sk-live-0123456789abcdef'), f.detail)
  assert.match(f.detail, /\[redacted\]/)
  assert.equal(scrub('Authorization: Bearer abc.def-ghi'), 'Authorization: Bearer [redacted]')
})
