import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AdaptiveLimit, type LimitChangeReason, type Permit } from '../../../src/llm/flow/adaptive-limit.ts'
import { ManualClock, flush } from './manual-clock.ts'
import { Backlog, QueueingServer, sampler } from './sim.ts'

async function take (limiter: AdaptiveLimit, n: number): Promise<Permit[]> {
  const out: Permit[] = []
  for (let i = 0; i < n; i++) out.push(await limiter.acquire())
  return out
}

test('grants up to the limit at once, then serves waiters FIFO; abort leaves the line; a second release is a no-op', async () => {
  const limiter = new AdaptiveLimit({ initial: 2, min: 2, max: 2 })
  const [a, b] = await take(limiter, 2)
  const order: string[] = []
  const ac = new AbortController()
  const w1 = limiter.acquire().then((p) => { order.push('w1'); return p })
  const gone = limiter.acquire(ac.signal)
  const w3 = limiter.acquire().then((p) => { order.push('w3'); return p })
  assert.equal(limiter.queued, 3)
  const reason = new Error('shutting down')
  ac.abort(reason)
  await assert.rejects(gone, (e) => e === reason)
  assert.equal(limiter.queued, 2)
  a!.release({ kind: 'ignore' })
  a!.release({ kind: 'ignore' })
  await flush()
  assert.deepEqual(order, ['w1'], 'released twice, counted once')
  assert.equal(limiter.inFlight, 2)
  b!.release({ kind: 'ignore' })
  await flush()
  assert.deepEqual(order, ['w1', 'w3'])
  for (const p of await Promise.all([w1, w3])) p.release({ kind: 'ignore' })
  assert.equal(limiter.inFlight, 0)
  await assert.rejects(limiter.acquire(AbortSignal.abort(reason)), (e) => e === reason)
})

test('drops shrink the limit by the backoff ratio, once per round trip', async () => {
  const changes: Array<[number, LimitChangeReason]> = []
  const limiter = new AdaptiveLimit({ initial: 100, backoffRatio: 0.9, onChange: (l, r) => changes.push([l, r]) })
  const before = await take(limiter, 100)
  for (const p of before.slice(0, 30)) p.release({ kind: 'dropped' })
  assert.equal(limiter.limit, 90, 'a burst of 429s from calls that started together: one backoff')
  const after = await take(limiter, 10) // 70 still in flight from before, room for 20
  after[0]!.release({ kind: 'dropped' })
  assert.equal(limiter.limit, 81, 'a drop from a call started after the backoff: another one')
  before[30]!.release({ kind: 'dropped' })
  assert.equal(limiter.limit, 81, 'a late drop from before the second backoff: already answered')
  assert.deepEqual(changes, [[90, 'drop'], [81, 'drop']])
})

test('successes at full use grow the limit; successes well below it and ignored failures do not', async () => {
  const limiter = new AdaptiveLimit({ initial: 4 })
  const full = await take(limiter, 4)
  full[0]!.release({ kind: 'success', latencyMs: 100 })
  assert.equal(limiter.limit, 5)
  full[1]!.release({ kind: 'ignore' })
  assert.equal(limiter.limit, 5)
  full[2]!.release({ kind: 'success', latencyMs: 100 })
  full[3]!.release({ kind: 'success', latencyMs: 100 })
  assert.equal(limiter.limit, 5, 'two of five in flight: the limit is not being tested')
  for (let i = 0; i < 20; i++) (await limiter.acquire()).release({ kind: 'success', latencyMs: 100 })
  assert.equal(limiter.limit, 5, 'one call at a time for ever says nothing about more')
})

/** The limit over [from, to) of virtual time, sampled every second. */
function during (samples: Array<{ at: number, value: number }>, from: number, to: number): number[] {
  return samples.filter((s) => s.at >= from && s.at < to).map((s) => s.value)
}

test('against a queueing server: settles near the knee instead of growing to max, follows the knee when it rises', async () => {
  const clock = new ManualClock()
  const knee = 50
  const server = new QueueingServer(clock, { knee, baseMs: 1000, seed: 11 })
  const limiter = new AdaptiveLimit({ max: 512, now: clock.now })
  const backlog = new Backlog(clock, limiter, server, 1000)
  const limits = sampler(clock, 1000, () => limiter.limit)
  await clock.advance(300_000)
  const first = during(limits, 200_000, 300_000)
  assert.ok(Math.min(...first) >= knee / 2 && Math.max(...first) <= knee * 2, `limit over 200-300 s within [${knee / 2}, ${knee * 2}]: ${Math.min(...first)}..${Math.max(...first)}`)
  const done = backlog.completions.filter((c) => c.at >= 200_000 && c.at < 300_000).length
  assert.ok(done / 100 >= 0.95 * knee, `throughput ${done / 100} req/s; the server's best is ${knee}`)

  server.knee = 2 * knee
  await clock.advance(300_000)
  backlog.stop()
  const second = during(limits, 500_000, 600_000)
  assert.ok(Math.min(...second) >= knee && Math.max(...second) <= 4 * knee, `after the knee rose to ${2 * knee}: ${Math.min(...second)}..${Math.max(...second)}`)
})

test('answers of varied length: latency normalised by output tokens is not mistaken for queueing', async () => {
  const clock = new ManualClock()
  const knee = 60
  const server = new QueueingServer(clock, { knee, tokens: { min: 10, max: 1000, ttftMs: 150, perTokenMs: 8 }, seed: 5 })
  const limiter = new AdaptiveLimit({ now: clock.now })
  const backlog = new Backlog(clock, limiter, server, 1000)
  const limits = sampler(clock, 1000, () => limiter.limit)
  await clock.advance(600_000)
  backlog.stop()
  const late = during(limits, 300_000, 600_000)
  assert.ok(Math.min(...late) >= knee / 2 && Math.max(...late) <= knee * 2, `${Math.min(...late)}..${Math.max(...late)}`)
})

test('a server slowed by something else (another tenant) is re-probed, not answered by throttling to nothing', async () => {
  const clock = new ManualClock()
  const knee = 50
  const server = new QueueingServer(clock, { knee, baseMs: 1000, seed: 3 })
  const limiter = new AdaptiveLimit({ now: clock.now })
  const backlog = new Backlog(clock, limiter, server, 1000)
  const limits = sampler(clock, 1000, () => limiter.limit)
  await clock.advance(300_000)
  server.slowdown = 3
  await clock.advance(300_000)
  backlog.stop()
  const slowed = during(limits, 300_000, 600_000)
  assert.ok(Math.min(...slowed) >= knee / 4, `lowest limit while slowed: ${Math.min(...slowed)}`)
  const late = during(limits, 450_000, 600_000)
  assert.ok(Math.min(...late) >= knee / 2 && Math.max(...late) <= knee * 2, `${Math.min(...late)}..${Math.max(...late)}`)
})

test('a server that answers 429 above a concurrency cap: the limit saws just under the cap', async () => {
  const clock = new ManualClock()
  const cap = 40
  const server = new QueueingServer(clock, { knee: 10_000, baseMs: 1000, seed: 9 })
  const limiter = new AdaptiveLimit({ now: clock.now })
  let ok = 0
  let dropped = 0
  let stopped = false
  for (let i = 0; i < 500; i++) {
    void (async () => {
      while (!stopped) {
        const p = await limiter.acquire()
        if (server.inFlight >= cap) {
          await new Promise<void>((resolve) => clock.setTimer(resolve, 50))
          dropped++
          p.release({ kind: 'dropped' })
          continue
        }
        const r = await server.call()
        ok++
        p.release({ kind: 'success', latencyMs: r.latencyMs })
      }
    })()
  }
  const limits = sampler(clock, 1000, () => limiter.limit)
  await clock.advance(200_000)
  stopped = true
  const late = during(limits, 100_000, 200_000)
  assert.ok(Math.min(...late) >= cap * 0.7 && Math.max(...late) <= cap * 1.3, `${Math.min(...late)}..${Math.max(...late)}`)
  assert.ok(dropped / (ok + dropped) < 0.05, `${dropped} of ${ok + dropped} calls dropped`)
})

test('a burst of fast 429s from calls granted after the last backoff still backs off once per round trip', async () => {
  const clock = new ManualClock()
  const changes: LimitChangeReason[] = []
  const limiter = new AdaptiveLimit({ initial: 100, backoffRatio: 0.9, now: clock.now, onChange: (_l, r) => changes.push(r) })
  // Establish a round trip of ~200 ms.
  for (let i = 0; i < 20; i++) {
    const p = await limiter.acquire()
    await clock.advance(10)
    p.release({ kind: 'success', latencyMs: 200 })
  }
  // 429s answered in 1 ms each, every call granted after the previous drop.
  for (let i = 0; i < 30; i++) {
    const p = await limiter.acquire()
    await clock.advance(1)
    p.release({ kind: 'dropped' })
  }
  assert.equal(changes.filter((c) => c === 'drop').length, 1, '30 drops within one round trip: one backoff')
  assert.equal(limiter.limit, 90)
  await clock.advance(250)
  const p = await limiter.acquire()
  p.release({ kind: 'dropped' })
  assert.equal(changes.filter((c) => c === 'drop').length, 2, 'a drop a round trip later backs off again')
})
