/**
 * Defaults every command shares, after flags: the environment (SYNTHQ_RUNNER, SYNTHQ_PREFIX —
 * which the config file's defaults: section fills, src/config/config-file.ts), then built-ins.
 */
import { join } from 'node:path'
import { UsageError } from '../errors.ts'
import { DEFAULT_TOPIC_PREFIX } from '../topics.ts'

export type RunnerKind = 'embedded' | 'kafka'

/** --runner, else $SYNTHQ_RUNNER, else embedded. */
export function runnerOf (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): RunnerKind {
  const v = flag ?? env.SYNTHQ_RUNNER ?? 'embedded'
  if (v !== 'embedded' && v !== 'kafka') throw new UsageError(`--runner must be embedded or kafka, got "${v}"${flag === undefined ? ' (from SYNTHQ_RUNNER or the config file)' : ''}`)
  return v
}

/** --prefix, else $SYNTHQ_PREFIX, else synthq. */
export function prefixOf (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.SYNTHQ_PREFIX ?? DEFAULT_TOPIC_PREFIX
}

/** The embedded runner's database: $SYNTHQ_DB, else .synthq/embedded/synthq.db in the working directory. */
export function defaultDbPath (): string {
  return process.env.SYNTHQ_DB ?? join(process.cwd(), '.synthq', 'embedded', 'synthq.db')
}

/** The config file named on the command line (--config F or --config=F), else $SYNTHQ_CONFIG. */
export function configPathFrom (argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (a === '--config') return argv[i + 1]
    if (a.startsWith('--config=')) return a.slice('--config='.length)
  }
  return env.SYNTHQ_CONFIG || undefined
}
