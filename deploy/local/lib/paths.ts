/**
 * Where the local infrastructure keeps its files.
 *
 * - Downloads (Kafka jars, the registry archive, the Python interop venv) go to a per-user cache
 *   so that every checkout on the machine shares them: `$SYNTHQ_CACHE_DIR`, else
 *   `$XDG_CACHE_HOME/synthq`, else `~/.cache/synthq`.
 * - Running state (data dirs, logs, pid files, state.json) goes to `.synthq/infra/` inside the
 *   checkout (`$SYNTHQ_INFRA_DIR` overrides), so two checkouts never share a broker by accident.
 */
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const DEPLOY_LOCAL_DIR = join(REPO_ROOT, 'deploy', 'local')

export function cacheDir (): string {
  if (process.env.SYNTHQ_CACHE_DIR) return resolve(process.env.SYNTHQ_CACHE_DIR)
  const xdg = process.env.XDG_CACHE_HOME
  return join(xdg ? resolve(xdg) : join(homedir(), '.cache'), 'synthq')
}

export { infraDir } from '../../../src/config/local-infra.ts'
