/**
 * `npx tsx scripts/ensure-chromium.ts`: makes sure the Chromium the dashboard's browser test
 * drives is there (test/dashboard/dashboard-browser.test.ts, through playwright-core, which
 * downloads no browser of its own).
 *
 * - $SYNTHQ_CHROMIUM, when set, must name an existing binary: nothing is installed.
 * - Otherwise /usr/bin/chromium is used; when it is missing, Debian's `chromium` package is
 *   installed with apt-get (as root: CI and these machines; elsewhere it prints the command
 *   to run with sudo and exits 1).
 *
 * Idempotent: a second run only prints the version. Exit 0 when Chromium runs.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const say = (m: string): void => { process.stderr.write(`ensure-chromium: ${m}\n`) }

function version (path: string): string | null {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 })
  return r.status === 0 ? r.stdout.trim() : null
}

function main (): number {
  const wanted = process.env.SYNTHQ_CHROMIUM
  if (wanted) {
    const v = existsSync(wanted) ? version(wanted) : null
    if (!v) { say(`SYNTHQ_CHROMIUM=${wanted} does not run (missing or broken binary)`); return 1 }
    say(`${v} at ${wanted} (SYNTHQ_CHROMIUM)`)
    return 0
  }
  const path = '/usr/bin/chromium'
  if (!existsSync(path)) {
    const install = 'apt-get update && apt-get install -y --no-install-recommends chromium'
    const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0
    if (!apt) { say(`no ${path} and no apt-get here: install Chromium with your package manager and set SYNTHQ_CHROMIUM to its binary`); return 1 }
    if (process.getuid?.() !== 0) { say(`no ${path}: run  sudo sh -c '${install}'  (or set SYNTHQ_CHROMIUM to a Chromium/Chrome binary)`); return 1 }
    say(`installing Debian's chromium package: ${install}`)
    const r = spawnSync('sh', ['-c', install], { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    if (r.status !== 0) { say(`apt-get failed (exit ${r.status})`); return 1 }
  }
  const v = version(path)
  if (!v) { say(`${path} is there but does not run`); return 1 }
  say(`${v} at ${path}`)
  return 0
}

process.exitCode = main()
