/**
 * Defaults every command shares, after flags: the environment (SYNTHQ_RUNNER, SYNTHQ_PREFIX —
 * which the config file's defaults: section fills, src/config/config-file.ts), then built-ins.
 */
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
