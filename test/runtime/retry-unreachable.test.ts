/**
 * The start-up retry shared by the Kafka runner and the LLM quota roster, without servers:
 * attempts fail with outage-like errors (retriable SynthqErrors, as a refused connection or a
 * registry timeout produce) or with errors waiting cannot fix.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { SynthqError } from '../../src/errors.ts'
import { createLogger, type Logger } from '../../src/log.ts'
import { retryWhileUnreachable } from '../../src/runtime/kafka/retry-unreachable.ts'

const outage = (n: number): SynthqError => new SynthqError('SYNTHQ_REGISTRY_UNAVAILABLE', `registry down (${n})`, { retriable: true })
const MESSAGE = 'cannot be reached; trying again'

function capture (): { logger: Logger, lines: string[] } {
  const lines: string[] = []
  const logger = createLogger({ level: 'warn' }, new Writable({ write (c: Buffer, _e, cb) { lines.push(c.toString()); cb() } }))
  return { logger, lines }
}

test('an outage is tried again, cleaned up after each failed attempt, until it succeeds', { timeout: 30_000 }, async () => {
  const { logger, lines } = capture()
  let attempts = 0
  let cleanUps = 0
  const value = await retryWhileUnreachable(async () => {
    attempts++
    if (attempts < 3) throw outage(attempts)
    return 'started'
  }, { limitMs: 60_000, cleanUp: async () => { cleanUps++ }, logger, message: MESSAGE })
  assert.equal(value, 'started')
  assert.equal(attempts, 3)
  assert.equal(cleanUps, 2, 'each failed attempt is undone before the next')
  const warnings = lines.map((l) => JSON.parse(l) as { msg: string, attempt: number, retryInMs: number, err: string })
  assert.deepEqual(warnings.map((w) => [w.msg, w.attempt, w.retryInMs]), [[MESSAGE, 1, 1_000], [MESSAGE, 2, 2_000]], 'backoff 1 s, then 2 s')
  assert.match(warnings[0]!.err, /registry down \(1\)/)
})

test('what waiting cannot fix fails at once, after its clean-up', async () => {
  const { logger, lines } = capture()
  let cleanUps = 0
  const bad = new SynthqError('SYNTHQ_CONFIG', 'bad credentials')
  await assert.rejects(retryWhileUnreachable(async () => { throw bad }, { limitMs: 60_000, cleanUp: async () => { cleanUps++ }, logger, message: MESSAGE }), (err) => err === bad)
  assert.equal(cleanUps, 1)
  assert.equal(lines.length, 0)
})

test('a wait that would end past the limit is not begun: the outage is the error', async () => {
  const { logger, lines } = capture()
  let attempts = 0
  await assert.rejects(retryWhileUnreachable(async () => { throw outage(++attempts) }, { limitMs: 500, cleanUp: async () => {}, logger, message: MESSAGE }), /registry down \(1\)/)
  assert.equal(attempts, 1)
  assert.equal(lines.length, 0)
})

test('an abort during the wait ends it at once with the outage, not the abort', { timeout: 30_000 }, async () => {
  const { logger, lines } = capture()
  const stop = new AbortController()
  let attempts = 0
  const started = retryWhileUnreachable(async () => { throw outage(++attempts) }, { limitMs: 10 * 60_000, signal: stop.signal, cleanUp: async () => {}, logger, message: MESSAGE })
  started.catch(() => {})
  // The first wait is 1 s, the next 2 s: abort after the first warning is logged.
  while (lines.length === 0) await new Promise((resolve) => setImmediate(resolve))
  stop.abort(new Error('stop requested'))
  await assert.rejects(started, /registry down \(1\)/)
  assert.equal(attempts, 1, 'no attempt after the abort')
})

test('a clean-up that fails does not hide the outage or stop the retries', { timeout: 30_000 }, async () => {
  const { logger } = capture()
  let attempts = 0
  const value = await retryWhileUnreachable(async () => {
    if (++attempts < 2) throw outage(attempts)
    return attempts
  }, { limitMs: 60_000, cleanUp: async () => { throw new Error('disconnect failed') }, logger, message: MESSAGE })
  assert.equal(value, 2)
})
