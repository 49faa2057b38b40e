/**
 * `npm test`: starts (or reuses) the local Kafka and schema registry, prepares the Python
 * interop environment, runs every test file with Node's test runner, and stops whatever it
 * started — also on failure and on Ctrl-C.
 *
 * It also installs Debian's Chromium for the dashboard's browser tests when it is missing.
 *
 *   npm test                          all tests
 *   npm test -- test/unit             only files under a folder (or single files)
 *   SYNTHQ_TEST_KEEP_INFRA=1 npm test leave the infrastructure running afterwards
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { down, up } from '../deploy/local/lib/cluster.ts'
import { REPO_ROOT } from '../deploy/local/lib/paths.ts'
import { stopPidFilesUnder } from '../deploy/local/lib/process.ts'
import { TEST_TMP_ROOT } from './helpers/env.ts'
import { ensureInteropPython } from './helpers/python.ts'

const log = (m: string): void => { process.stderr.write(`test: ${m}\n`) }

function testFiles (roots: string[]): string[] {
  const out: string[] = []
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) if (e !== 'node_modules' && e !== 'fixtures') walk(join(p, e))
    } else if (p.endsWith('.test.ts')) out.push(relative(REPO_ROOT, p))
  }
  for (const r of roots) walk(resolve(r))
  return out
}

async function main (): Promise<number> {
  const args = process.argv.slice(2)
  const files = testFiles(args.length ? args : [join(REPO_ROOT, 'test')])
  if (files.length === 0) {
    log(`no test files under ${args.join(' ') || 'test/'}`)
    return 1
  }

  const t0 = Date.now()
  const { state, reused } = await up({ log })
  log(reused
    ? `reusing the running infrastructure (kafka ${state.kafka.bootstrap.join(',')}, registry ${state.registry.url})`
    : `started kafka ${state.kafka.bootstrap.join(',')} and registry ${state.registry.url} in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  const startedHere = !reused && !process.env.SYNTHQ_TEST_KEEP_INFRA
  let stopping: Promise<unknown> | undefined
  const stop = async (): Promise<void> => {
    if (startedHere) {
      stopping ??= down({ log })
      await stopping
    }
  }

  try {
    const python = ensureInteropPython(log)
    // The dashboard's browser tests drive Debian's Chromium: install it when missing (idempotent).
    if (files.some((f) => f.startsWith('test/dashboard/')) && !process.env.SYNTHQ_SKIP_BROWSER && !process.env.SYNTHQ_CHROMIUM && !existsSync('/usr/bin/chromium')) {
      log('installing Chromium for the dashboard browser tests (scripts/ensure-chromium.ts)…')
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'ensure-chromium.ts')], { stdio: 'inherit', cwd: REPO_ROOT })
      if (r.status !== 0) log('Chromium could not be installed: the browser tests will fail and say how to install it')
    }
    const env = {
      ...process.env,
      SYNTHQ_TEST_BOOTSTRAP: state.kafka.bootstrap.join(','),
      SYNTHQ_TEST_REGISTRY_URL: state.registry.url,
      SYNTHQ_TEST_PYTHON: python,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      NODE_ENV: 'test',
    }
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=600000', ...files], { stdio: 'inherit', env, cwd: REPO_ROOT })
    const forward = (sig: NodeJS.Signals): void => { child.kill(sig) }
    process.on('SIGINT', forward)
    process.on('SIGTERM', forward)
    const code = await new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))))
    return code
  } finally {
    // Brokers that tests start themselves (security, 3-node) are stopped by the tests; a run
    // interrupted mid-test leaves their pid files, and this stops those processes too.
    const leftovers = await stopPidFilesUnder(TEST_TMP_ROOT)
    if (leftovers) log(`stopped ${leftovers} process(es) that interrupted tests left running`)
    rmSync(TEST_TMP_ROOT, { recursive: true, force: true })
    await stop()
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  log((err as Error).stack ?? String(err))
  process.exitCode = 1
})
