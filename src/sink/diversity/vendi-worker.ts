/**
 * Worker-thread entry for the Vendi score (see vendi-thread.ts, which starts it). The score's
 * eigen-decomposition takes 1–2 s at 1,000 probe vectors, far too long to hold the sink's event
 * loop; here it holds only this thread's.
 *
 * Protocol: the parent posts { id, data, n, dims, seed, maxSamples } with `data` (Float32Array,
 * n·dims) transferred, not copied; the worker answers { id, score } or { id, error }. One job at a
 * time in arrival order (the parent never sends a second before the first is answered).
 *
 * Bundled by scripts/build.js as dist/cli/vendi-worker.mjs; run from sources through tsx.
 */
import { parentPort } from 'node:worker_threads'
import { vendiScoreOfMatrix } from './vendi.ts'

export interface VendiJob {
  id: number
  data: Float32Array
  n: number
  dims: number
  seed: number
  maxSamples?: number
}

export type VendiAnswer = { id: number, score: number } | { id: number, error: string }

const port = parentPort
if (port) {
  port.on('message', (job: VendiJob) => {
    let answer: VendiAnswer
    try {
      answer = { id: job.id, score: vendiScoreOfMatrix(job, { seed: job.seed, ...(job.maxSamples !== undefined ? { maxSamples: job.maxSamples } : {}) }).score }
    } catch (err) {
      answer = { id: job.id, error: err instanceof Error ? err.message : String(err) }
    }
    port.postMessage(answer)
  })
}
