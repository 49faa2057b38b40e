/**
 * A Python virtual environment with Confluent's own client (confluent-kafka + fastavro), made
 * once per machine in the synthq cache from test/interop/requirements.txt. Its path changes
 * with the requirements' content, so editing the pins makes a fresh one.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheDir } from '../../deploy/local/lib/paths.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
export const INTEROP_DIR = resolve(HERE, '..', 'interop')
const REQUIREMENTS = join(INTEROP_DIR, 'requirements.txt')

function run (cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.error || r.status !== 0) throw new Error(`${what} failed: ${r.error?.message ?? ''}${r.stdout ?? ''}${r.stderr ?? ''}`)
}

/** Path of the venv's python, creating the venv if needed. */
export function ensureInteropPython (log: (m: string) => void = () => {}): string {
  const hash = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex').slice(0, 12)
  const venv = join(cacheDir(), `interop-venv-${hash}`)
  const python = join(venv, 'bin', 'python')
  if (existsSync(join(venv, '.complete'))) return python
  log('creating the Python interop environment (confluent-kafka, fastavro) from PyPI…')
  const tmp = `${venv}.partial-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  const py = process.env.SYNTHQ_PYTHON ?? 'python3'
  run(py, ['-m', 'venv', tmp], `${py} -m venv`)
  run(join(tmp, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', '-r', REQUIREMENTS], 'pip install -r test/interop/requirements.txt')
  writeFileSync(join(tmp, '.complete'), new Date().toISOString())
  rmSync(venv, { recursive: true, force: true })
  // A venv's scripts record its own path; this one is only ever run as `<venv>/bin/python`, which
  // finds its site-packages relative to itself, so moving it into place is safe.
  renameSync(tmp, venv)
  return python
}
