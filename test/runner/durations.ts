/**
 * Slowest files first: with several files running at once, a long file started last is a tail
 * that the others cannot fill. Each run of the unit tier records how long every file's tests
 * took (test/runner/durations-reporter.mjs), and the next run starts them in decreasing order —
 * files it has no figure for (new ones) first of all, since they may be slow. Kept in
 * `.synthq/test-durations.json`, which is not committed: a fresh clone runs in path order once.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

type Durations = Record<string, number>

export const DURATIONS_REPORTER = new URL('./durations-reporter.mjs', import.meta.url).pathname

function read (path: string): Durations {
  if (!existsSync(path)) return {}
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
    return parsed !== null && typeof parsed === 'object' ? parsed as Durations : {}
  } catch {
    return {} // a damaged file only costs the order
  }
}

export function durationsFile (root: string): string {
  return join(root, '.synthq', 'test-durations.json')
}

/** `files` (repository-relative), those with no figure first, then the slowest first. */
export function slowestFirst (files: readonly string[], known: Durations): string[] {
  const ms = (f: string): number => known[f] ?? Number.POSITIVE_INFINITY
  return [...files].sort((a, b) => ms(b) - ms(a) || (a < b ? -1 : 1))
}

export function readDurations (root: string): Durations {
  return read(durationsFile(root))
}

/**
 * Merges what the reporter wrote (`reported`, keyed by the path each file ran from) into the
 * stored figures, keyed by repository-relative source path through `sourceOf`.
 */
export function recordDurations (root: string, reported: string, sourceOf: (ranFrom: string) => string | undefined): void {
  const fresh = read(reported)
  const merged = read(durationsFile(root))
  let changed = false
  for (const [ranFrom, ms] of Object.entries(fresh)) {
    const source = sourceOf(ranFrom)
    if (source && typeof ms === 'number' && Number.isFinite(ms)) { merged[source] = Math.round(ms); changed = true }
  }
  if (!changed) return
  const tmp = `${durationsFile(root)}.${process.pid}`
  writeFileSync(tmp, `${JSON.stringify(merged, null, 1)}\n`)
  renameSync(tmp, durationsFile(root))
}
