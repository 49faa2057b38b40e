import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Scheduler } from '../../src/runtime/scheduler.ts'

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

function gate (): { promise: Promise<void>, open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((r) => { open = r })
  return { promise, open }
}

test('runs at most `limit` tasks at once, starting each lane in order and lanes in turn', async () => {
  const s = new Scheduler(3)
  s.addLane('a'); s.addLane('b')
  const started: string[] = []
  const gates = new Map<string, ReturnType<typeof gate>>()
  for (const id of ['a1', 'a2', 'a3', 'a4', 'b1', 'b2']) {
    const g = gate(); gates.set(id, g)
    s.push(id[0]!, async () => { started.push(id); await g.promise })
  }
  await tick()
  assert.equal(s.inFlight, 3)
  assert.deepEqual(started, ['a1', 'a2', 'a3'], 'the first lane filled the room before b arrived')
  gates.get('a1')!.open(); await tick(); await tick()
  assert.equal(started[3], 'b1', 'lanes take turns')
  gates.get('a2')!.open(); await tick(); await tick()
  assert.equal(started[4], 'a4')
  for (const g of gates.values()) g.open()
  await s.whenNoneRunning()
  assert.equal(started.length, 6)
})

test('a blocked lane waits, a dropped lane loses its queued tasks', async () => {
  const s = new Scheduler(10)
  let blocked = true
  s.addLane('x', () => blocked)
  const ran: number[] = []
  for (let i = 0; i < 3; i++) s.push('x', async () => { ran.push(i) })
  await tick()
  assert.equal(ran.length, 0)
  blocked = false
  s.pump(); await tick()
  assert.deepEqual(ran, [0, 1, 2])
  s.addLane('y', () => true)
  s.push('y', async () => { ran.push(99) })
  assert.equal(s.dropLane('y'), 1)
  s.pump(); await tick()
  assert.ok(!ran.includes(99))
})
