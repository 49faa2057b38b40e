import assert from 'node:assert/strict'
import { test } from 'node:test'
import { performance } from 'node:perf_hooks'
import { inTurn, TURN_MS } from '../../src/runtime/turns.ts'

/** Synchronous work of about `ms`, like normalising and tokenizing a document. */
function busy (ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) { /* spin */ }
}

test('in a fresh turn, work runs at once and its result comes back as is; an error is thrown as is', async () => {
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(inTurn(() => 42), 42)
  assert.throws(() => inTurn(() => { throw new RangeError('bad record') }), RangeError)
})

test('queued work keeps its order, and its errors reject', async () => {
  busy(TURN_MS + 2)
  const order: number[] = []
  const results = await Promise.allSettled([1, 2, 3].map(async (i) => await inTurn(() => { order.push(i); if (i === 2) throw new Error('record 2'); return i })))
  assert.deepEqual(order, [1, 2, 3])
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
})

test('a backlog of CPU-bound records lets a timer and a socket-like callback run between them, and every record still runs once', async () => {
  const records = 200
  let done = 0
  let doneWhenTimerRan = -1
  let doneWhenImmediateRan = -1
  // What an LLM request waiting to be sent looks like to the event loop: a callback on a later turn.
  setTimeout(() => { doneWhenTimerRan = done }, 0)
  setImmediate(() => { doneWhenImmediateRan = done })
  const work = Array.from({ length: records }, async () => {
    await Promise.resolve() // records start as promise continuations, all in one turn
    await inTurn(() => { busy(1); done++ })
  })
  await Promise.all(work)
  assert.equal(done, records)
  assert.ok(doneWhenTimerRan >= 0 && doneWhenTimerRan < records, `the timer ran after ${doneWhenTimerRan} of ${records} records`)
  assert.ok(doneWhenImmediateRan >= 0 && doneWhenImmediateRan < records, `the immediate ran after ${doneWhenImmediateRan} of ${records} records`)
  // About TURN_MS of work per turn: far fewer than all of them before the first callback.
  assert.ok(doneWhenImmediateRan <= 4 * TURN_MS, `${doneWhenImmediateRan} records (1 ms each) before the first other callback`)
})
