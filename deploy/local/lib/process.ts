/**
 * Starting and stopping the infrastructure's Java processes. Each runs detached, in its own
 * process group, with stdout and stderr in a log file, and is stopped by its recorded PID:
 * SIGTERM first (Kafka and Quarkus both shut down cleanly on it), SIGKILL after a deadline.
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Started {
  pid: number
  log: string
}

/**
 * Starts `bin` detached with output appended to `opts.log`. Its PID is also written to
 * `opts.pidFile` when given, so that a supervisor (npm test) can stop whatever a crashed run left.
 */
export function startDetached (bin: string, args: string[], opts: { cwd: string, log: string, pidFile?: string, env?: NodeJS.ProcessEnv }): Started {
  const fd = openSync(opts.log, 'a')
  try {
    const child = spawn(bin, args, { cwd: opts.cwd, detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env })
    if (child.pid === undefined) throw new Error(`could not start ${bin}`)
    child.unref()
    if (opts.pidFile) writeFileSync(opts.pidFile, String(child.pid))
    return { pid: child.pid, log: opts.log }
  } finally {
    closeSync(fd)
  }
}

export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Stops a process group by PID; resolves once it is gone. */
export async function stopPid (pid: number, graceMs = 20_000): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isAlive(pid)) return 'not-running'
  signal(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped'
    await sleep(100)
  }
  signal(pid, 'SIGKILL')
  while (isAlive(pid)) await sleep(50)
  return 'killed'
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig) // the whole group: the JVM and anything it forked
  } catch {
    try { process.kill(pid, sig) } catch { /* already gone */ }
  }
}

/** Last lines of a log file, for error messages that explain a failed start. */
export function tail (file: string, lines = 20): string {
  if (!existsSync(file)) return '(no log)'
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
}

/** Stops every process whose `*.pid` file lies under `dir` (recursively); returns how many ran. */
export async function stopPidFilesUnder (dir: string): Promise<number> {
  if (!existsSync(dir)) return 0
  const pids: number[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e)
      if (statSync(p).isDirectory()) walk(p)
      else if (e.endsWith('.pid')) {
        const pid = Number(readFileSync(p, 'utf8').trim())
        if (Number.isInteger(pid) && pid > 0) pids.push(pid)
      }
    }
  }
  walk(dir)
  const results = await Promise.all(pids.map((pid) => stopPid(pid, 5_000)))
  return results.filter((r) => r !== 'not-running').length
}
