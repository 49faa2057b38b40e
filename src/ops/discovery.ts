/**
 * How `synthq status` and `synthq dashboard` find the running processes of a pipeline: each
 * `synthq run` / `synthq start` writes a small JSON file into the run directory
 * (`.synthq/run/`, or $SYNTHQ_RUN_DIR) naming its metrics endpoint, and removes it on exit.
 * A file whose process is gone (killed with SIGKILL) is ignored and cleaned up by the reader.
 *
 * Processes on other machines are not in this directory: name their endpoints with
 * `--metrics-url` (or scrape them with Prometheus).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export interface ProcessAnnouncement {
  pid: number
  metricsUrl: string
  topology: string
  runner: 'embedded' | 'kafka'
  /** embedded: the database file (absolute). */
  db?: string
  /** kafka: the brokers. */
  brokers?: string[]
  prefix: string
  startedAt: number
}

export function defaultRunDir (): string {
  return process.env.SYNTHQ_RUN_DIR ?? join(process.cwd(), '.synthq', 'run')
}

/** Writes this process's announcement; the returned function removes it (also run on exit). */
export function announce (a: ProcessAnnouncement, runDir = defaultRunDir()): () => void {
  mkdirSync(runDir, { recursive: true })
  const file = join(runDir, `${a.pid}-${a.topology}.json`)
  writeFileSync(file, JSON.stringify({ ...a, ...(a.db ? { db: resolve(a.db) } : {}) }, null, 2) + '\n')
  const remove = (): void => { rmSync(file, { force: true }); process.off('exit', remove) }
  process.on('exit', remove)
  return remove
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by someone else
  }
}

/** Live announcements in `runDir` matching the filter (stale files are deleted). */
export function discover (filter: { runner: 'embedded' | 'kafka', db?: string, prefix: string }, runDir = defaultRunDir()): ProcessAnnouncement[] {
  let names: string[]
  try {
    names = readdirSync(runDir).filter((n) => n.endsWith('.json'))
  } catch {
    return []
  }
  const found: ProcessAnnouncement[] = []
  for (const name of names) {
    const file = join(runDir, name)
    let a: ProcessAnnouncement
    try {
      a = JSON.parse(readFileSync(file, 'utf8')) as ProcessAnnouncement
    } catch {
      continue // being written, or not ours
    }
    if (typeof a.pid !== 'number' || typeof a.metricsUrl !== 'string') continue
    if (!alive(a.pid)) { rmSync(file, { force: true }); continue }
    if (a.runner !== filter.runner || a.prefix !== filter.prefix) continue
    if (filter.runner === 'embedded' && filter.db && a.db !== resolve(filter.db)) continue
    found.push(a)
  }
  return found.sort((x, y) => x.startedAt - y.startedAt)
}
