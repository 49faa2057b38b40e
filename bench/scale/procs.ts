/**
 * Processes for `npm run bench:scale`: spawning synthq workers with their output in files,
 * stopping them by PID (SIGTERM, then SIGKILL after a grace), and sampling CPU time from /proc
 * so the CPU of any window of a run can be read afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

/** Linux clock ticks per second (USER_HZ; 100 on every mainstream kernel). */
const HZ = 100

export interface Worker {
  index: number
  pid: number
  child: ChildProcess
  startedAt: number
  exitedAt?: number
  exitCode?: number | null
  stdoutFile: string
  stderrFile: string
  exited: Promise<void>
  /** synthq run's progress lines (every ~2 s on stderr), timed as they arrived. */
  progress: ProgressSample[]
}

/** One progress line: per stage, records done (processed + dead-lettered) and in flight. */
export interface ProgressSample { t: number, stages: Record<string, { done: number, inFlight: number }> }

/** Parses `synthq: <stage>: N done, D dead-lettered, F in flight | …` (src/cli/run.ts). */
export function parseProgress (line: string, t: number): ProgressSample | undefined {
  if (!line.startsWith('synthq: ') || !line.includes(' in flight')) return undefined
  const stages: ProgressSample['stages'] = {}
  for (const part of line.slice('synthq: '.length).split(' | ')) {
    const m = /^([\w-]+): (\d+) done, (\d+) dead-lettered, (\d+) in flight$/.exec(part.trim())
    if (m) stages[m[1]!] = { done: Number(m[2]) + Number(m[3]), inFlight: Number(m[4]) }
  }
  return Object.keys(stages).length ? { t, stages } : undefined
}

export function spawnWorker (index: number, cmd: string, args: string[], o: { cwd: string, env: NodeJS.ProcessEnv, stdoutFile: string, stderrFile: string }): Worker {
  const out = openSync(o.stdoutFile, 'a')
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', out, 'pipe'] })
  closeSync(out)
  const w: Worker = { index, pid: child.pid ?? -1, child, startedAt: Date.now(), stdoutFile: o.stdoutFile, stderrFile: o.stderrFile, exited: Promise.resolve(), progress: [] }
  // stderr through this process, so each line gets the time it came (written as "<ms> <line>").
  createInterface({ input: child.stderr! }).on('line', (line) => {
    const t = Date.now()
    appendFileSync(o.stderrFile, `${t} ${line}\n`)
    const p = parseProgress(line, t)
    if (p) w.progress.push(p)
  })
  w.exited = once(child, 'exit').then(([code]) => { w.exitedAt = Date.now(); w.exitCode = code as number | null })
  return w
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves when it has exited. */
export async function stopWorker (w: Worker, graceMs = 90_000): Promise<void> {
  if (w.exitedAt !== undefined || w.child.exitCode !== null) return
  w.child.kill('SIGTERM')
  const timer = setTimeout(() => { if (w.exitedAt === undefined) w.child.kill('SIGKILL') }, graceMs)
  await w.exited
  clearTimeout(timer)
}

/** CPU seconds (user + system) a process has used, or undefined when it is gone. */
export function cpuSeconds (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // After the command: state(0) … utime(11) stime(12) in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) / HZ
  } catch {
    return undefined
  }
}

/** The machine's busy and total CPU seconds (all cores) from /proc/stat. */
export function machineCpu (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
  return { busy: (total - idle) / HZ, total: total / HZ }
}

export interface CpuSample { t: number, pids: Record<number, number>, machine: { busy: number, total: number } }

/** Samples the CPU time of a changing set of processes every `everyMs`. */
export class CpuSampler {
  readonly samples: CpuSample[] = []
  readonly #pids: () => number[]
  #timer: NodeJS.Timeout | undefined

  constructor (pids: () => number[], everyMs = 1000) {
    this.#pids = pids
    this.sample()
    this.#timer = setInterval(() => this.sample(), everyMs)
  }

  sample (): void {
    const pids: Record<number, number> = {}
    for (const pid of this.#pids()) {
      const s = cpuSeconds(pid)
      if (s !== undefined) pids[pid] = s
    }
    this.samples.push({ t: Date.now(), pids, machine: machineCpu() })
  }

  stop (): void {
    clearInterval(this.#timer)
    this.sample()
  }

  /** The samples closest to `from` (at or after) and `to` (at or before). */
  #bounds (from: number, to: number): [CpuSample, CpuSample] | undefined {
    const a = this.samples.find((s) => s.t >= from)
    const b = [...this.samples].reverse().find((s) => s.t <= to)
    return a && b && b.t > a.t ? [a, b] : undefined
  }

  /** CPU of a process over [from, to], in % of one core (undefined if not sampled over it). */
  percent (pid: number, from: number, to: number): number | undefined {
    const ab = this.#bounds(from, to)
    if (!ab) return undefined
    const [a, b] = ab
    if (a.pids[pid] === undefined || b.pids[pid] === undefined) return undefined
    return 100 * (b.pids[pid]! - a.pids[pid]!) / ((b.t - a.t) / 1000)
  }

  /** The whole machine's busy share over [from, to], in % of all its cores. */
  machinePercent (from: number, to: number): number | undefined {
    const ab = this.#bounds(from, to)
    if (!ab) return undefined
    const [a, b] = ab
    return 100 * (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)
  }
}
