/**
 * synthq patches KafkaJS 2.2.4's read_committed filter (patches/kafkajs+2.2.4.patch): when
 * several aborted transactions from different producers begin before one message, KafkaJS took
 * only the first and delivered the others' aborted records — the crash test caught it as
 * duplicates. These cases fail on the unpatched filter.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'

const require = createRequire(import.meta.url)
const filter = require('kafkajs/src/consumer/filterAbortedMessages') as (a: { messages: unknown[], abortedTransactions: unknown[] }) => Array<{ offset: string }>

const msg = (offset: number, producerId: string, opts: { abortMarker?: boolean } = {}) => ({
  offset: String(offset),
  key: opts.abortMarker ? Buffer.from([0, 0, 0, 0]) : Buffer.from(`k${offset}`),
  isControlRecord: Boolean(opts.abortMarker),
  batchContext: { producerId, inTransaction: true },
})

test('aborted transactions of several producers that begin before one message are all filtered', () => {
  // Producers 1 and 2 both abort; their first records come before the first fetched message.
  const messages = [msg(10, '2'), msg(11, '1'), msg(12, '3'), msg(13, '1', { abortMarker: true }), msg(14, '2', { abortMarker: true })]
  const kept = filter({ messages, abortedTransactions: [{ producerId: '1', firstOffset: '8' }, { producerId: '2', firstOffset: '9' }] })
  assert.deepEqual(kept.filter((m) => !('isControlRecord' in m && m.isControlRecord)).map((m) => m.offset), ['12'])
})

test('the aborted transaction list is taken in first-offset order, whatever order the broker sends', () => {
  const messages = [msg(5, '7'), msg(6, '8'), msg(7, '7', { abortMarker: true }), msg(8, '8', { abortMarker: true }), msg(9, '9')]
  const kept = filter({ messages, abortedTransactions: [{ producerId: '8', firstOffset: '6' }, { producerId: '7', firstOffset: '5' }] })
  assert.deepEqual(kept.filter((m) => !('isControlRecord' in m && m.isControlRecord)).map((m) => m.offset), ['9'])
})
