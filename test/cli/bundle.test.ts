/**
 * bin/synthq.js runs the esbuild bundle (dist/cli/, `npm run build`) only while it was built
 * from src/ as it is now, else the sources through tsx. Tested on a copy of the package (bin/,
 * src/, the build script and package.json copied; node_modules, data/ and schemas/ linked), so
 * that building and touching files here never changes the bundle other tests are running.
 *
 * To tell which one ran, the test appends a line to the built bundle that says so on stderr:
 * the stamp covers src/ only, so the marked bundle still counts as current.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { testTmpDir } from '../helpers/env.ts'
import { TOPICS } from '../../src/topics.ts'

const MARK = 'synthq-test: ran the bundle'

function copyPackage (): string {
  const dir = testTmpDir('bundle')
  for (const d of ['src', 'bin']) cpSync(join(REPO_ROOT, d), join(dir, d), { recursive: true, preserveTimestamps: true })
  mkdirSync(join(dir, 'scripts'))
  cpSync(join(REPO_ROOT, 'scripts', 'build.js'), join(dir, 'scripts', 'build.js'))
  cpSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'))
  for (const d of ['node_modules', 'data', 'schemas']) symlinkSync(join(REPO_ROOT, d), join(dir, d))
  return dir
}

function build (dir: string, ...args: string[]): void {
  const r = spawnSync(process.execPath, [join(dir, 'scripts', 'build.js'), ...args], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
}

function mark (dir: string): void {
  appendFileSync(join(dir, 'dist', 'cli', 'main.mjs'), `\nprocess.stderr.write(${JSON.stringify(MARK + '\n')})\n`)
}

function synthq (dir: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null, out: string, err: string, bundle: boolean } {
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'synthq.js'), ...args], {
    encoding: 'utf8', cwd: dir, env: { ...process.env, SYNTHQ_FROM_SOURCE: '', SYNTHQ_INFRA_DIR: '/nonexistent', ...env },
  })
  return { code: r.status, out: r.stdout, err: r.stderr, bundle: r.stderr.includes(MARK) }
}

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version

test('bin/synthq.js runs a current bundle, and the sources when src/ changed since the build or when asked', () => {
  const dir = copyPackage()
  // Without a bundle: the sources.
  const none = synthq(dir, ['--version'])
  assert.equal(none.code, 0, none.err)
  assert.equal(none.out, `synthq ${VERSION}\n`)

  build(dir)
  assert.ok(existsSync(join(dir, 'dist', 'cli', 'main.mjs')))
  mark(dir)
  const help = synthq(dir, ['--help'])
  assert.equal(help.code, 0, help.err)
  assert.match(help.out, /^usage: synthq <command>/m)
  assert.ok(help.bundle, 'a current bundle runs')
  const version = synthq(dir, ['--version'])
  assert.deepEqual([version.code, version.out, version.bundle], [0, `synthq ${VERSION}\n`, true])
  // Files found from the package root, not from the bundle's own folder: schemas/.
  const topics = synthq(dir, ['topics'])
  assert.equal(topics.code, 0, topics.err)
  assert.ok(topics.out.includes(`all ${TOPICS.length} Avro contracts in schemas/ parse`), topics.out)
  assert.ok(topics.bundle)

  assert.equal(synthq(dir, ['--version'], { SYNTHQ_FROM_SOURCE: '1' }).bundle, false, 'SYNTHQ_FROM_SOURCE=1 runs the sources')

  // An edit (here only a newer modification time) makes the bundle stale: the sources run.
  const later = new Date(Date.now() + 60_000)
  utimesSync(join(dir, 'src', 'cli', 'help.ts'), later, later)
  const stale = synthq(dir, ['--help'])
  assert.equal(stale.code, 0, stale.err)
  assert.match(stale.out, /^usage: synthq <command>/m)
  assert.equal(stale.bundle, false, 'a stale bundle does not run')

  // --if-stale rebuilds it (the rebuilt bundle carries no mark) …
  build(dir, '--if-stale')
  assert.equal(readFileSync(join(dir, 'dist', 'cli', 'main.mjs'), 'utf8').includes(MARK), false)
  mark(dir)
  assert.equal(synthq(dir, ['--version']).bundle, true)
  // … and leaves a current one alone.
  build(dir, '--if-stale')
  assert.equal(synthq(dir, ['--version']).bundle, true)

  // A file added to src/ makes it stale too.
  writeFileSync(join(dir, 'src', 'scratch.ts'), 'export {}\n')
  assert.equal(synthq(dir, ['--version']).bundle, false)
})
