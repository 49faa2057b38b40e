/**
 * pickCheckpoint: which checkpoint a stateful stage restores from, given the parts the state
 * topic holds (any order, several generations, possibly damaged). It must take the newest
 * generation whose parts are all present, agree on their count and SHA-256, and whose bytes
 * match that SHA-256 — and otherwise fall back to an older complete one, or to none.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { pickCheckpoint, type CheckpointPart } from '../../src/runtime/checkpoint.ts'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** The parts of one generation: `state` split into `parts` pieces. */
function generation (gen: number, state: Buffer, parts: number, offsets: Array<[number, number]> = [[0, gen * 100], [1, gen * 90]]): CheckpointPart[] {
  const size = Math.ceil(state.length / parts)
  const digest = sha(state)
  return Array.from({ length: parts }, (_, part) => ({
    stage: 'sink', generation: gen, part, parts, sha256: digest,
    data: state.subarray(part * size, (part + 1) * size),
    offsets: offsets.map(([partition, offset]) => ({ partition, offset })),
    run_id: 'run-test', written_at: 1_764_028_800_000 + gen,
  }))
}

const stateOf = (gen: number): Buffer => Buffer.from(`state of generation ${gen} `.repeat(40 + gen))

/** A deterministic shuffle, so input order never matters. */
function shuffled<T> (xs: readonly T[], seed: number): T[] {
  const out = [...xs]
  let a = seed >>> 0
  for (let i = out.length - 1; i > 0; i--) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0
    const j = a % (i + 1)
    const t = out[i]!
    out[i] = out[j]!
    out[j] = t
  }
  return out
}

describe('pickCheckpoint', () => {
  it('returns null when there are no parts', () => {
    assert.equal(pickCheckpoint([]), null)
  })

  it('one generation of one part: its state, offsets and part count', () => {
    const state = stateOf(1)
    const got = pickCheckpoint(generation(1, state, 1, [[0, 1200], [1, 1187]]))
    assert.ok(got)
    assert.equal(got.generation, 1)
    assert.ok(got.state.equals(state))
    assert.deepEqual(got.offsets, new Map([[0, 1200], [1, 1187]]))
    assert.equal(got.parts, 1)
  })

  it('picks the newest complete generation and reassembles its parts in order, whatever the input order', () => {
    const all = [...generation(1, stateOf(1), 2), ...generation(2, stateOf(2), 3), ...generation(3, stateOf(3), 4)]
    for (let seed = 1; seed <= 20; seed++) {
      const got = pickCheckpoint(shuffled(all, seed))
      assert.ok(got, `seed ${seed}`)
      assert.equal(got.generation, 3)
      assert.ok(got.state.equals(stateOf(3)), `seed ${seed}: parts reassembled out of order`)
      assert.equal(got.parts, 4)
      assert.deepEqual(got.offsets, new Map([[0, 300], [1, 270]]))
    }
  })

  it('skips a generation with a missing part', () => {
    const newest = generation(3, stateOf(3), 3)
    for (const missing of [0, 1, 2]) {
      const parts = [...generation(1, stateOf(1), 2), ...generation(2, stateOf(2), 2), ...newest.filter((p) => p.part !== missing)]
      const got = pickCheckpoint(parts)
      assert.equal(got?.generation, 2, `part ${missing} missing`)
      assert.ok(got.state.equals(stateOf(2)))
      assert.deepEqual(got.offsets, new Map([[0, 200], [1, 180]]))
    }
  })

  it('skips a generation whose bytes do not match its sha256', () => {
    const older = generation(1, stateOf(1), 2)
    // One byte of one part changed.
    const flipped = generation(2, stateOf(2), 3).map((p) => p.part === 1 ? { ...p, data: Buffer.from(p.data.map((b, i) => i === 5 ? b ^ 1 : b)) } : p)
    assert.equal(pickCheckpoint([...older, ...flipped])?.generation, 1)
    // A wrong digest on every part (consistent among them).
    const wrongDigest = generation(2, stateOf(2), 2).map((p) => ({ ...p, sha256: sha(Buffer.from('something else')) }))
    assert.equal(pickCheckpoint([...older, ...wrongDigest])?.generation, 1)
    // Parts disagreeing on the digest.
    const mixed = generation(2, stateOf(2), 2).map((p) => p.part === 1 ? { ...p, sha256: sha(Buffer.from('x')) } : p)
    assert.equal(pickCheckpoint([...older, ...mixed])?.generation, 1)
    // A part truncated.
    const truncated = generation(2, stateOf(2), 2).map((p) => p.part === 0 ? { ...p, data: p.data.subarray(1) } : p)
    assert.equal(pickCheckpoint([...older, ...truncated])?.generation, 1)
  })

  it('skips a generation whose parts disagree on their count, or hold a part beyond it', () => {
    const older = generation(1, stateOf(1), 1)
    // A leftover part 2 of an earlier 3-part write, relabelled to this generation.
    const g2 = generation(2, stateOf(2), 2)
    const extra: CheckpointPart = { ...g2[1]!, part: 2 }
    assert.equal(pickCheckpoint([...older, ...g2, extra])?.generation, 1)
    // Counts that disagree.
    const disagree = g2.map((p) => p.part === 0 ? { ...p, parts: 3 } : p)
    assert.equal(pickCheckpoint([...older, ...disagree])?.generation, 1)
    // Two parts 0 and none 1.
    const twins = [g2[0]!, { ...g2[0]! }]
    assert.equal(pickCheckpoint([...older, ...twins])?.generation, 1)
  })

  it('returns null when no generation is complete and intact', () => {
    const g1 = generation(1, stateOf(1), 2).slice(1)
    const g2 = generation(2, stateOf(2), 2).map((p) => ({ ...p, sha256: '0'.repeat(64) }))
    assert.equal(pickCheckpoint([...g1, ...g2]), null)
    assert.equal(pickCheckpoint(g1), null)
  })

  it('does not care about generation order or gaps, and ignores older damaged ones', () => {
    const damagedOld = generation(4, stateOf(4), 2).slice(0, 1)
    const good = generation(9, stateOf(9), 2)
    const got = pickCheckpoint([...good, ...damagedOld])
    assert.equal(got?.generation, 9)
    assert.ok(got.state.equals(stateOf(9)))
  })

  it('an empty state (zero bytes) is a valid checkpoint', () => {
    const empty = Buffer.alloc(0)
    const got = pickCheckpoint([{ stage: 'sink', generation: 1, part: 0, parts: 1, sha256: sha(empty), data: empty, offsets: [], run_id: 'r', written_at: 0 }])
    assert.equal(got?.generation, 1)
    assert.equal(got.state.length, 0)
    assert.equal(got.offsets.size, 0)
  })

  it('does not modify its input', () => {
    const parts = shuffled([...generation(1, stateOf(1), 3), ...generation(2, stateOf(2), 3)], 7)
    const copy = parts.map((p) => ({ ...p, offsets: [...p.offsets] }))
    pickCheckpoint(parts)
    assert.deepEqual(parts, copy)
  })
})
