import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CircuitBreaker, type CircuitInfo, type CircuitState } from '../../../src/llm/flow/circuit-breaker.ts'
import { ManualClock, flush } from './manual-clock.ts'

function setup (opts: ConstructorParameters<typeof CircuitBreaker>[0] = {}): { clock: ManualClock, breaker: CircuitBreaker, events: Array<[CircuitState, CircuitInfo]> } {
  const clock = new ManualClock()
  const events: Array<[CircuitState, CircuitInfo]> = []
  const breaker = new CircuitBreaker({ now: clock.now, setTimer: clock.setTimer, onStateChange: (to, info) => events.push([to, info]), ...opts })
  return { clock, breaker, events }
}

/** A pass() whose settlement can be observed without awaiting it. */
function watch (p: Promise<void>): { settled: () => boolean, promise: Promise<void> } {
  let settled = false
  const promise = p.then(() => { settled = true }, (err: unknown) => { settled = true; throw err })
  return { settled: () => settled, promise }
}

/** How long a pass() waits, moving the clock a second at a time. */
async function timedPass (clock: ManualClock, breaker: CircuitBreaker): Promise<number> {
  const start = clock.now()
  const w = watch(breaker.pass())
  while (!w.settled()) await clock.advance(1000)
  await w.promise
  return clock.now() - start
}

test('opens after the threshold of consecutive failures; a success in between resets the count', async () => {
  const { breaker, events } = setup({ failureThreshold: 5 })
  for (let i = 0; i < 4; i++) breaker.failure('HTTP 503')
  breaker.success()
  for (let i = 0; i < 4; i++) breaker.failure('HTTP 503')
  assert.equal(breaker.state, 'closed')
  await breaker.pass()
  breaker.failure('HTTP 502')
  assert.equal(breaker.state, 'open')
  assert.deepEqual(events, [['open', { failures: 5, lastReason: 'HTTP 502', cooldownMs: 5000, waiting: 0 }]])
})

test('with many calls in flight, a burst of fast failures does not open it; an outage that fails the calls in flight does', () => {
  let pending = 243
  const { breaker } = setup({ failureThreshold: 5, pending: () => pending })
  // 256 sent at once: 13 instant 500s arrive before any of the others has answered.
  for (let i = 0; i < 13; i++) breaker.failure('HTTP 500')
  assert.equal(breaker.state, 'closed', '13 failures while 243 calls have yet to answer say nothing yet')
  breaker.success()
  assert.equal(breaker.failures, 0)
  // The endpoint goes down with 40 calls in flight: they fail one by one (each leaves the
  // pending count as it reports), and the run of failures outgrows those still pending.
  pending = 40
  const fail = (): void => { pending--; breaker.failure('connect ECONNREFUSED') }
  for (let i = 0; i < 19; i++) fail()
  assert.equal(breaker.state, 'closed', `19 failures, ${pending} still pending`)
  fail()
  assert.equal(breaker.state, 'open', `20 failures, ${pending} still pending`)
  assert.equal(breaker.failures, 20)
})

test('holds callers while open, lets exactly one probe through after the cooldown, and its success releases everyone', async () => {
  const { clock, breaker, events } = setup()
  for (let i = 0; i < 5; i++) breaker.failure('HTTP 503')
  const callers = [watch(breaker.pass()), watch(breaker.pass()), watch(breaker.pass())]
  await clock.advance(4999)
  assert.deepEqual(callers.map((c) => c.settled()), [false, false, false], 'held, not thrown at')
  assert.equal(breaker.waiting, 3)
  await clock.advance(1)
  assert.equal(breaker.state, 'half-open')
  assert.deepEqual(callers.map((c) => c.settled()), [true, false, false], 'the first in line probes')
  await clock.advance(60_000)
  assert.deepEqual(callers.map((c) => c.settled()), [true, false, false], 'nobody else while the probe is out')
  breaker.success()
  await flush()
  assert.deepEqual(callers.map((c) => c.settled()), [true, true, true])
  assert.equal(breaker.state, 'closed')
  assert.deepEqual(events.map(([to, info]) => [to, info.waiting]), [['open', 0], ['half-open', 2], ['closed', 2]])
  assert.equal(breaker.pausedMs, 65_000)
  assert.equal(clock.pending, 0)
})

test('a failed probe re-opens for twice as long, up to the maximum; a later success restores the first cooldown', async () => {
  const { clock, breaker, events } = setup({ cooldownMs: 5000, maxCooldownMs: 30_000 })
  for (let i = 0; i < 5; i++) breaker.failure('connection refused')
  const waits: number[] = []
  for (let round = 0; round < 5; round++) {
    waits.push(await timedPass(clock, breaker))
    breaker.failure(`HTTP 500 #${round}`)
  }
  assert.deepEqual(waits, [5000, 10_000, 20_000, 30_000, 30_000])
  assert.deepEqual(events.filter(([to]) => to === 'open').map(([, i]) => [i.cooldownMs, i.failures]), [[5000, 5], [10_000, 6], [20_000, 7], [30_000, 8], [30_000, 9], [30_000, 10]])
  assert.equal(events.at(-1)![1].lastReason, 'HTTP 500 #4')
  assert.equal(await timedPass(clock, breaker), 30_000)
  breaker.success()
  for (let i = 0; i < 5; i++) breaker.failure('HTTP 503')
  assert.equal(events.at(-1)![1].cooldownMs, 5000)
})

test('results from calls that passed before it opened are ignored while open', async () => {
  const { clock, breaker } = setup()
  for (let i = 0; i < 5; i++) breaker.failure('HTTP 503')
  breaker.success()
  assert.equal(breaker.state, 'open')
  breaker.failure('late timeout')
  assert.equal(await timedPass(clock, breaker), 5000, 'the late failure did not extend the cooldown')
  assert.equal(breaker.state, 'half-open')
})

test('abort while held: rejects with the reason, and no timer stays behind', async () => {
  const { clock, breaker } = setup()
  for (let i = 0; i < 5; i++) breaker.failure('HTTP 503')
  const ac = new AbortController()
  const held = breaker.pass(ac.signal)
  assert.equal(clock.pending, 1)
  const reason = new Error('stage stopping')
  ac.abort(reason)
  await assert.rejects(held, (e) => e === reason)
  assert.equal(breaker.waiting, 0)
  assert.equal(clock.pending, 0)
  await assert.rejects(breaker.pass(AbortSignal.abort(reason)), (e) => e === reason)
})

test('a probe that ends without a verdict (ignore) lets the next caller probe; so does one that never reports', async () => {
  const { clock, breaker } = setup({ probeTimeoutMs: 60_000 })
  for (let i = 0; i < 5; i++) breaker.failure('HTTP 503')
  await clock.advance(5000)
  await breaker.pass() // the cooldown is over: this caller probes at once
  const second = watch(breaker.pass())
  await flush()
  assert.equal(second.settled(), false)
  breaker.ignore() // the probe got a 429: the endpoint is up but says nothing about health yet
  await flush()
  assert.equal(second.settled(), true)
  const third = watch(breaker.pass())
  await clock.advance(59_999)
  assert.equal(third.settled(), false)
  await clock.advance(1)
  assert.equal(third.settled(), true, 'the second probe never reported')
  assert.equal(breaker.state, 'half-open')
})

test('optional failure ratio: opens when enough of the last calls failed, though never 5 in a row', () => {
  const { breaker } = setup({ window: { size: 10, minCalls: 10, failureRatio: 0.5 } })
  for (let i = 0; i < 4; i++) {
    breaker.failure('HTTP 503')
    breaker.success()
  }
  breaker.failure('HTTP 503')
  assert.equal(breaker.state, 'closed', '5 failures in 9 calls: not enough calls yet')
  breaker.success()
  assert.equal(breaker.state, 'closed', '5 of 10, but a success does not open it')
  breaker.failure('HTTP 503')
  assert.equal(breaker.state, 'open', '5 failures in the last 10 calls')
})
