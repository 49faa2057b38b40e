/**
 * The Vendi score off the event loop: VendiThread (a worker thread) gives bit-for-bit the score
 * of vendiScore in this thread, on both routes (d×d features, n×n items); a worker that throws,
 * exits or hangs fails its job without taking the caller down, and the next job gets a fresh
 * worker; close() terminates it. DiversityProbe on top: worker and inline modes keep the same
 * peak and latest score, failures are logged, counted and skipped, and a reset (the sink's
 * restore or rollback) drops answers asked for before it.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import { createLogger } from '../../../src/log.ts'
import { DiversityProbe } from '../../../src/processors/sink/diversity-probe.ts'
import { seededRandom } from '../../../src/sink/clusters/vectors.ts'
import { packVectors, spawnVendiWorker, VendiThread, vendiScore } from '../../../src/sink/diversity/index.ts'

/** n random float32 vectors of `dims` components in `groups` loose clusters (a score well inside 1 … n). */
function vectors (n: number, dims: number, groups: number, seed: number): Float32Array[] {
  const rand = seededRandom(seed)
  const centres = Array.from({ length: groups }, () => Array.from({ length: dims }, () => rand() - 0.5))
  return Array.from({ length: n }, (_, i) => Float32Array.from(centres[i % groups]!, (c) => c + 0.3 * (rand() - 0.5)))
}

/** A worker whose code is `code` (eval'd): a stand-in for a broken or stuck vendi-worker. */
const broken = (code: string) => () => new Worker(code, { eval: true })

describe('VendiThread', () => {
  it('scores exactly as vendiScore in this thread, on the features and the items route, with sampling', async () => {
    const thread = new VendiThread()
    try {
      for (const [n, dims, maxSamples] of [[60, 16, undefined], [40, 128, undefined], [300, 24, 100]] as const) {
        const vs = vectors(n, dims, 5, n + dims)
        const here = vendiScore(vs, { seed: 9, ...(maxSamples ? { maxSamples } : {}) })
        const there = await thread.score(packVectors(vs), { seed: 9, ...(maxSamples ? { maxSamples } : {}) })
        assert.equal(there, here.score, `${n}×${dims} (${here.via})`)
      }
    } finally {
      await thread.close()
    }
  })

  it('moves the matrix (transfer, not copy): the caller\'s buffer is detached after score()', async () => {
    const thread = new VendiThread()
    try {
      const m = packVectors(vectors(10, 8, 2, 1))
      const pending = thread.score(m, { seed: 1 })
      assert.equal(m.data.buffer.byteLength, 0, 'detached')
      assert.ok(await pending > 1)
    } finally {
      await thread.close()
    }
  })

  for (const [what, code] of [
    ['throws while loading', 'throw new Error("boom at load")'],
    ['exits', 'process.exit(3)'],
    ['throws on the job', 'require("node:worker_threads").parentPort.on("message", () => { throw new Error("boom on job") })'],
  ] as const) {
    it(`a worker that ${what} rejects the job; the next job gets a fresh, working worker`, async () => {
      let spawned = 0
      const thread = new VendiThread({ spawn: () => ++spawned === 1 ? broken(code)() : spawnVendiWorker() })
      try {
        const m = vectors(20, 8, 3, 2)
        await assert.rejects(thread.score(packVectors(m), { seed: 1 }), Error)
        assert.equal(thread.pending, 0)
        assert.equal(await thread.score(packVectors(m), { seed: 1 }), vendiScore(m, { seed: 1 }).score)
        assert.equal(spawned, 2)
      } finally {
        await thread.close()
      }
    })
  }

  it('a worker that never answers is terminated after timeoutMs and its job rejects', async () => {
    let worker: Worker | undefined
    const thread = new VendiThread({ timeoutMs: 200, spawn: () => (worker = broken('setInterval(() => {}, 1e6)')()) })
    const exited = (async () => { while (!worker) await new Promise((r) => setImmediate(r)); return await once(worker, 'exit') })()
    await assert.rejects(thread.score(packVectors(vectors(4, 4, 2, 3)), { seed: 1 }), /no answer in 200 ms/)
    await exited
  })

  it('close() terminates the worker and rejects what is in flight', async () => {
    let worker: Worker | undefined
    const thread = new VendiThread({ spawn: () => (worker = broken('setInterval(() => {}, 1e6)')()) })
    const job = thread.score(packVectors(vectors(4, 4, 2, 4)), { seed: 1 })
    const exited = once(worker!, 'exit')
    await thread.close()
    await assert.rejects(job, /closed/)
    await exited
  })
})

describe('DiversityProbe', () => {
  const fill = (p: DiversityProbe, vs: Float32Array[], from = 0): void => { vs.forEach((v, i) => p.offer(`id-${from + i}`, v)) }

  it('worker and inline modes: the same peak and latest scores, measurement by measurement', async () => {
    const worker = new DiversityProbe({ capacity: 40, seed: 5, mode: 'worker' })
    const inline = new DiversityProbe({ capacity: 40, seed: 5, mode: 'inline' })
    try {
      const all = vectors(120, 32, 6, 7)
      for (let round = 0; round < 3; round++) {
        const part = all.slice(round * 40, round * 40 + 40)
        fill(worker, part, round * 40)
        fill(inline, part, round * 40)
        worker.measure()
        inline.measure()
        if (round === 1) { worker.remove('id-3'); inline.remove('id-3') }
      }
      await worker.settle()
      assert.equal(worker.queued, 0)
      assert.equal(worker.last, inline.last)
      assert.equal(worker.peak, inline.peak)
      assert.deepEqual(worker.saved(), inline.saved())
      assert.ok(inline.last! > 1)
    } finally {
      await worker.close()
    }
  })

  it('a failed measurement is logged, counted and skipped: the scores keep their values', async () => {
    const lines: string[] = []
    const probe = new DiversityProbe({ capacity: 20, seed: 1, spawn: broken('process.exit(1)') })
    probe.logger = createLogger({ level: 'error' }, { write: (s: string) => { lines.push(s) } })
    probe.reset({ probe: [], peakVendi: 7, lastVendi: 6 })
    fill(probe, vectors(20, 8, 4, 8))
    probe.measure()
    await probe.settle()
    assert.equal(probe.failures, 1)
    assert.equal(probe.peak, 7)
    assert.equal(probe.last, 6)
    assert.match(lines.join(''), /Vendi score measurement failed and was skipped/)
    await probe.close()
  })

  it('reset() drops the answers of measurements asked for before it (a rollback)', async () => {
    const probe = new DiversityProbe({ capacity: 30, seed: 2 })
    try {
      fill(probe, vectors(30, 16, 5, 9))
      probe.measure()
      probe.reset({ probe: [], peakVendi: 3, lastVendi: 2 })
      await probe.settle()
      assert.equal(probe.peak, 3)
      assert.equal(probe.last, 2)
      assert.equal(probe.failures, 0)
    } finally {
      await probe.close()
    }
  })
})
