/**
 * The Vendi score in a worker thread (node:worker_threads), so that its eigen-decomposition —
 * 1–2 s at 1,000 vectors, see eigen.ts — never holds the event loop of the process that asks for
 * it. The matrix goes over as one transferred ArrayBuffer (moved, not copied); the worker runs the
 * very vendiScore of vendi.ts on it, so the score is bit-for-bit the in-process one.
 *
 * Failure is the caller's to handle, never a crash: a job rejects when the worker throws, exits,
 * cannot be loaded or takes longer than `timeoutMs` (then it is terminated); the next job starts a
 * fresh worker. The worker is started on the first job, is unref'd while it has no job (so a
 * process that forgets close() still exits), and close() terminates it.
 *
 * Where the worker's code is: the CLI runs either the esbuild bundle (dist/cli/, scripts/build.js
 * builds dist/cli/vendi-worker.mjs as an entry of its own) or the TypeScript sources through tsx.
 * A worker does not inherit tsx's loader from its parent on Node 20 (a .ts entry fails even with
 * `--import tsx` in execArgv), so from sources a two-line bootstrap registers tsx in the worker
 * first, then imports vendi-worker.ts.
 */
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { packagePath } from '../../package-root.ts'
import type { VectorMatrix } from './vendi.ts'
import type { VendiAnswer, VendiJob } from './vendi-worker.ts'

export interface VendiThreadOptions {
  /** A job not answered within this many ms fails and its worker is terminated (default 120 s). */
  timeoutMs?: number
  /** Starts the worker (tests inject failing ones); default: vendi-worker in this build or source tree. */
  spawn?: () => Worker
}

interface Waiting {
  resolve: (score: number) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class VendiThread {
  readonly #timeoutMs: number
  readonly #spawn: () => Worker
  #worker: Worker | undefined
  #nextId = 1
  readonly #waiting = new Map<number, Waiting>()

  constructor (o: VendiThreadOptions = {}) {
    this.#timeoutMs = o.timeoutMs ?? 120_000
    this.#spawn = o.spawn ?? spawnVendiWorker
  }

  /** Jobs posted and not yet answered. */
  get pending (): number { return this.#waiting.size }

  /**
   * The Vendi score of the matrix's rows (vendiScore with this seed and maxSamples). `m.data`'s
   * buffer is transferred: it is unusable here afterwards.
   */
  async score (m: VectorMatrix, opts: { seed: number, maxSamples?: number }): Promise<number> {
    const worker = this.#ensure()
    const id = this.#nextId++
    // Only a buffer the view fills alone can be moved without taking its neighbours with it.
    const data = m.data.byteOffset === 0 && m.data.byteLength === m.data.buffer.byteLength ? m.data : m.data.slice()
    const job: VendiJob = { id, data, n: m.n, dims: m.dims, seed: opts.seed, ...(opts.maxSamples !== undefined ? { maxSamples: opts.maxSamples } : {}) }
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(worker, new Error(`Vendi worker gave no answer in ${this.#timeoutMs} ms; terminated`)), this.#timeoutMs)
      timer.unref()
      this.#waiting.set(id, { resolve, reject, timer })
      worker.ref() // a job in flight keeps the process alive until its answer
      worker.postMessage(job, [data.buffer as ArrayBuffer])
    })
  }

  /** Terminates the worker; jobs in flight reject. */
  async close (): Promise<void> {
    const worker = this.#worker
    if (!worker) return
    this.#fail(worker, new Error('Vendi worker closed'))
  }

  #ensure (): Worker {
    if (this.#worker) return this.#worker
    const worker = this.#spawn()
    worker.unref()
    worker.on('message', (a: VendiAnswer) => {
      const w = this.#waiting.get(a.id)
      if (!w) return
      this.#waiting.delete(a.id)
      clearTimeout(w.timer)
      if (this.#waiting.size === 0) worker.unref()
      if ('error' in a) w.reject(new Error(`Vendi worker: ${a.error}`))
      else w.resolve(a.score)
    })
    worker.on('error', (err) => this.#fail(worker, err))
    worker.on('exit', (code) => this.#fail(worker, new Error(`Vendi worker exited with code ${code}`)))
    this.#worker = worker
    return worker
  }

  /** Drops `worker` (terminating it) and rejects every job it had; the next job starts another. */
  #fail (worker: Worker, err: Error): void {
    if (this.#worker !== worker) return // already dropped (an 'exit' after the 'error', say)
    this.#worker = undefined
    for (const [id, w] of this.#waiting) {
      clearTimeout(w.timer)
      this.#waiting.delete(id)
      w.reject(err)
    }
    worker.unref()
    void worker.terminate().catch(() => {})
  }
}

/** The worker, from the bundle when this code is bundled, else from sources through tsx. */
export function spawnVendiWorker (): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(pathToFileURL(packagePath('dist', 'cli', 'vendi-worker.mjs')))
  const tsx = import.meta.resolve('tsx/esm/api')
  const entry = new URL('./vendi-worker.ts', here).href
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}) })`, { eval: true })
}
