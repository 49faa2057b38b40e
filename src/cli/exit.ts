/**
 * How the command line ends. A command's exit code is final: the process exits with it
 * explicitly instead of waiting for the event loop to empty, so a timer or socket a library
 * left behind (a Kafka client after a failed commit, a keep-alive connection) cannot keep a
 * stopped worker alive. Before exiting, the logs are flushed and stdout/stderr drained (writes
 * to a pipe are asynchronous).
 *
 * Long-running commands stop on SIGINT/SIGTERM within a deadline: the drain timeout they were
 * given plus a grace for closing connections. A stop that overruns it ends the process with
 * exit code 1 (uncommitted records run again on the next start); a second signal exits 130 at
 * once.
 */
import { Worker } from 'node:worker_threads'
import type { pino } from 'pino'
import type { Logger } from '../log.ts'
import { packageRequire } from '../package-root.ts'

/** The grace after the drain timeout for committing, disconnecting and closing (SYNTHQ_EXIT_GRACE_MS). */
export function exitGraceMs (env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SYNTHQ_EXIT_GRACE_MS?.trim()
  const v = raw ? Number(raw) : NaN
  return Number.isFinite(v) && v >= 0 ? v : 15_000
}

/** Exit code of a stop that did not finish within its deadline. */
export const EXIT_STOP_OVERRAN = 1
/** Exit code of a second SIGINT/SIGTERM while stopping. */
export const EXIT_INTERRUPTED = 130

const loggers = new Set<Logger>()

/** Flushes `logger` before the process exits; returns it. */
export function flushedAtExit<T extends Logger> (logger: T): T {
  loggers.add(logger)
  return logger
}

interface SyncFlushable { flushSync?: () => void }

function flushLogsSync (): void {
  if (loggers.size === 0) return
  // Required here rather than imported: a command that logs nothing (`synthq --help`) need not
  // load pino (~30 ms). With a logger registered pino is loaded already, and this is a cache hit.
  const { symbols } = packageRequire('pino') as typeof pino
  for (const logger of loggers) {
    const stream = (logger as unknown as Record<symbol, SyncFlushable | undefined>)[symbols.streamSym]
    try {
      stream?.flushSync?.()
    } catch {
      // Not open yet, or already closed: nothing buffered that could still be written.
    }
  }
}

async function drainStdio (ms: number): Promise<void> {
  const until = Date.now() + ms
  const pending = (): boolean => [process.stdout, process.stderr].some((s) => !s.destroyed && s.writableLength > 0)
  while (pending() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
}

/**
 * Flushes the logs, waits (at most `drainMs`) for stdout and stderr to drain, and exits with
 * `code` — whatever timers or sockets are still open.
 */
export async function exitProcess (code: number, opts: { drainMs?: number } = {}): Promise<never> {
  flushLogsSync()
  await drainStdio(opts.drainMs ?? 5_000)
  flushLogsSync()
  process.exit(code)
}

/** Exits with `code` now (logs flushed; output still queued for a pipe may be cut). */
export function exitNow (code: number): never {
  flushLogsSync()
  process.exit(code)
}

/**
 * Arms the stop deadline: if the process is still running `ms` after the stop began, it says
 * so on stderr and exits with {@link EXIT_STOP_OVERRAN}. Returns the function that disarms it
 * (for a stop that finished and a caller that goes on in the same process).
 */
export function armStopDeadline (ms: number, opts: { out?: (line: string) => void, backstopMs?: number } = {}): () => void {
  const out = opts.out ?? ((line: string) => { process.stderr.write(`${line}\n`) })
  const timer = setTimeout(() => {
    out(`synthq: the stop did not finish within ${(ms / 1000).toFixed(0)} s (drain timeout + grace) — exiting; uncommitted records run again on the next start`)
    void exitProcess(EXIT_STOP_OVERRAN, { drainMs: 2_000 })
  }, ms)
  timer.unref()
  const backstop = armBackstop(ms + (opts.backstopMs ?? BACKSTOP_MS))
  return () => { clearTimeout(timer); void backstop.terminate() }
}

/** How long after the stop deadline the backstop kills a process whose event loop is blocked. */
const BACKSTOP_MS = 10_000

/**
 * The deadline above is a timer: it fires only if the event loop runs. Code that never yields
 * (a busy loop, or promises that keep resolving one another) would keep a stopping worker alive
 * for ever, holding its partitions' transactions open. The backstop is a thread of its own,
 * with its own event loop: past the deadline and its margin it writes one line to stderr and
 * ends the process with SIGKILL. It does not keep the process alive.
 */
function armBackstop (ms: number): Worker {
  const worker = new Worker(`
    const { writeSync } = require('node:fs')
    const { ms } = require('node:worker_threads').workerData
    setTimeout(() => {
      try { writeSync(2, 'synthq: the process did not end ' + Math.round(ms / 1000) + ' s after the stop began: its event loop is blocked — killing it (SIGKILL); uncommitted records run again on the next start\\n') } catch {}
      process.kill(process.pid, 'SIGKILL')
    }, ms)
  `, { eval: true, workerData: { ms }, stdout: false, stderr: false })
  worker.unref()
  worker.on('error', () => {}) // a backstop that cannot start leaves the timer above
  return worker
}

export interface StopSignals {
  /** Whether a stop has begun (by a signal or by {@link StopSignals.stop}). */
  readonly stopping: boolean
  /** The stop in progress, or undefined. */
  readonly done: Promise<void> | undefined
  /** Begins the stop (once) and arms its deadline; resolves when the stop has finished. */
  stop (why: string): Promise<void>
  /** Removes the signal handlers and disarms the deadline. */
  dispose (): void
}

/**
 * SIGINT/SIGTERM for a long-running command: the first signal begins `stop` and arms the stop
 * deadline (`drainTimeoutMs` + {@link exitGraceMs}); a second exits 130 at once.
 */
export function stopOnSignals (stop: (why: string) => Promise<void>, opts: { drainTimeoutMs: number, out: (line: string) => void, graceMs?: number }): StopSignals {
  let done: Promise<void> | undefined
  let disarm: (() => void) | undefined
  const begin = (why: string): Promise<void> => {
    if (!done) {
      disarm = armStopDeadline(opts.drainTimeoutMs + (opts.graceMs ?? exitGraceMs()), { out: opts.out })
      done = Promise.resolve().then(async () => { await stop(why) })
    }
    return done
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    if (done) {
      opts.out('synthq: stopping now; uncommitted records run again on the next start')
      exitNow(EXIT_INTERRUPTED)
    }
    void begin(sig).catch(() => {}) // the caller awaits `done` and sees the error
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    get stopping () { return done !== undefined },
    get done () { return done },
    stop: begin,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      disarm?.()
    },
  }
}
