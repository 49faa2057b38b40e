/**
 * The test tiers stay true (test/tiers.ts): every unit-tier file is free of helpers that reach a
 * server, every file listed as full-only exists, the check itself catches a server helper used
 * directly or through another helper, and the helpers refuse the infrastructure in the unit tier.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { testTmpDir } from '../helpers/env.ts'
import { FULL_ONLY, tierViolations, unitTier } from '../tiers.ts'

function testFiles (dir: string): string[] {
  return readdirSync(dir).sort().flatMap((e) => {
    const p = join(dir, e)
    if (statSync(p).isDirectory()) return e === 'fixtures' ? [] : testFiles(p)
    return p.endsWith('.test.ts') ? [relative(REPO_ROOT, p)] : []
  })
}

test('no unit-tier file uses a helper that reaches a server', () => {
  const unit = unitTier(testFiles(join(REPO_ROOT, 'test')))
  assert.ok(unit.length > 50, `${unit.length} unit-tier files`)
  assert.deepEqual(unit.flatMap((f) => tierViolations(f, REPO_ROOT)), [])
})

test('every full-only file exists (a renamed one would silently join the unit tier)', () => {
  assert.deepEqual(Object.keys(FULL_ONLY).filter((f) => !existsSync(join(REPO_ROOT, f))), [])
})

test('the check finds a server helper used directly or through a helper, and lets the pure ones pass', () => {
  const root = testTmpDir('tiers')
  mkdirSync(join(root, 'test', 'helpers'), { recursive: true })
  const write = (f: string, text: string): void => { writeFileSync(join(root, f), text) }
  write('test/direct.test.ts', "import { testInfra, testTmpDir } from './helpers/env.ts'\n")
  write('test/indirect.test.ts', "import { harness } from './helpers/mine.ts'\n")
  write('test/helpers/mine.ts', "import { clients, testLogger } from './kafka.ts'\nimport type { Clients } from './kafka.ts'\n")
  write('test/browser.test.ts', "import { chromium } from 'playwright-core'\nconst x = await import('../deploy/local/lib/cluster.ts')\n")
  write('test/pure.test.ts', "import { testTmpDir, unique } from './helpers/env.ts'\nimport { testLogger } from './helpers/kafka.ts'\nimport type { TestInfra } from './helpers/env.ts'\nimport { REPO_ROOT } from '../deploy/local/lib/paths.ts'\n")
  assert.match(tierViolations('test/direct.test.ts', root).join('\n'), /uses testInfra from test\/helpers\/env\.ts/)
  assert.match(tierViolations('test/indirect.test.ts', root).join('\n'), /test\/helpers\/mine\.ts \(imported by test\/indirect\.test\.ts\) uses clients from test\/helpers\/kafka\.ts/)
  const browser = tierViolations('test/browser.test.ts', root).join('\n')
  assert.match(browser, /imports playwright-core/)
  assert.match(browser, /deploy\/local\/lib\/cluster\.ts/)
  assert.deepEqual(tierViolations('test/pure.test.ts', root), [])
})

test('in the unit tier the infrastructure helpers refuse, naming the list to add the test to', () => {
  // In a child process, so that this file itself never touches the infrastructure helpers (it is
  // a unit test); the module path is assembled so the import check does not take it for a use.
  const env = ['.', 'test', 'helpers', 'env.ts'].join('/')
  for (const helper of ['testInfra', 'interopPython']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `const m = await import(${JSON.stringify(env)}); m.${helper}()`], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, SYNTHQ_TEST_TIER: 'unit' } })
    assert.notEqual(r.status, 0, helper)
    assert.match(r.stderr, /needs a server, so list it in FULL_ONLY in test\/tiers\.ts/, helper)
  }
})
