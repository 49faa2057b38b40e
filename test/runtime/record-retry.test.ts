/**
 * runUntilDone: the retry of a record whose failure is not its own, shared by the embedded and
 * the Kafka stage (src/runtime/retry.ts). No server needed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLogger } from '../../src/log.ts'
import { infraRetryWaitMs, runUntilDone, type RecordRetryOptions } from '../../src/runtime/retry.ts'

/** A logger that keeps what is logged at error level. */
function recording (): { logger: RecordRetryOptions['logger'], errors: Array<Record<string, unknown>> } {
  const errors: Array<Record<string, unknown>> = []
  const logger = createLogger({ level: 'silent', name: 'record-retry-test' })
  logger.error = ((fields: Record<string, unknown>) => { errors.push(fields) }) as typeof logger.error
  return { logger, errors }
}

const options = (over: Partial<RecordRetryOptions>, logger: RecordRetryOptions['logger']): RecordRetryOptions => ({
  mayStart: () => true, mayKeep: () => true, aborted: () => false, halts: () => false, logger, record: { offset: 7 }, ...over,
})

test('the wait doubles from 200 ms and stays at 30 s', () => {
  assert.deepEqual([0, 1, 2, 7, 8, 20].map(infraRetryWaitMs), [200, 400, 800, 25_600, 30_000, 30_000])
})

test('a failure not the record\'s own is tried again, logged with the record, counted, until it passes', async () => {
  const { logger, errors } = recording()
  let calls = 0
  let retries = 0
  const outcome = await runUntilDone(async () => { if (++calls < 2) throw new Error('registry down'); return 'done' }, options({ onRetry: () => { retries++ } }, logger))
  assert.equal(outcome, 'done')
  assert.equal(calls, 2)
  assert.equal(retries, 1)
  assert.deepEqual(errors, [{ offset: 7, err: 'registry down', retryInMs: 200 }])
})

test('a halting failure, an abort, a stop or a passed limit ends it without an outcome', async () => {
  const { logger } = recording()
  const boom = async (): Promise<string> => { throw new Error('boom') }
  assert.equal(await runUntilDone(boom, options({ halts: () => true }, logger)), undefined)
  assert.equal(await runUntilDone(boom, options({ aborted: () => true }, logger)), undefined)
  assert.equal(await runUntilDone(async () => 'x', options({ mayStart: () => false }, logger)), undefined)
  assert.equal(await runUntilDone(async () => 'x', options({ mayKeep: () => false }, logger)), undefined, 'abandoned while it ran')
  let gaveUp: number | undefined
  assert.equal(await runUntilDone(boom, options({ limitMs: -1, onGiveUp: (_err, limit) => { gaveUp = limit } }, logger)), undefined)
  assert.equal(gaveUp, -1)
})
