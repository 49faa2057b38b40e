import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { recordDurations, readDurations, slowestFirst } from '../runner/durations.ts'
import { bundleUnitTier } from '../runner/unit-bundle.ts'
import { testTmpDir } from '../helpers/env.ts'

test('a bundled test file sees its own source location as import.meta.url, and runs as plain JavaScript', async () => {
  const root = testTmpDir('unit-bundle')
  mkdirSync(join(root, 'test', 'deep'), { recursive: true })
  mkdirSync(join(root, 'src'), { recursive: true })
  writeFileSync(join(root, 'src', 'where.ts'), 'export const here: string = import.meta.url\nexport const dir: string = import.meta.dirname\n')
  writeFileSync(join(root, 'test', 'deep', 'where.test.ts'), [
    "import { here, dir } from '../../src/where.ts'",
    'const self: string = import.meta.url',
    // The same words in a string are text, not the expression: they stay as they are.
    "const words = 'import.meta.url'",
    'process.stdout.write(JSON.stringify({ here, dir, self, words }))',
  ].join('\n'))
  const bundle = await bundleUnitTier(['test/deep/where.test.ts'], root, join(root, 'out'))
  try {
    assert.equal(bundle.files.length, 1)
    assert.ok(bundle.files[0]!.endsWith(join('test', 'deep', 'where.test.mjs')), bundle.files[0])
    const run = spawnSync(process.execPath, [bundle.files[0]!], { encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    const seen = JSON.parse(run.stdout) as { here: string, dir: string, self: string, words: string }
    assert.equal(seen.here, pathToFileURL(join(root, 'src', 'where.ts')).href)
    assert.equal(seen.dir, join(root, 'src'))
    assert.equal(seen.self, pathToFileURL(join(root, 'test', 'deep', 'where.test.ts')).href)
    assert.equal(seen.words, 'import.meta.url')
  } finally {
    bundle.remove()
  }
  assert.throws(() => readFileSync(bundle.files[0]!), /ENOENT/)
})

test('a file that does not compile fails the bundling with esbuild\'s message', async () => {
  const root = testTmpDir('unit-bundle-bad')
  mkdirSync(join(root, 'test'), { recursive: true })
  writeFileSync(join(root, 'test', 'bad.test.ts'), 'const = 1\n')
  await assert.rejects(bundleUnitTier(['test/bad.test.ts'], root, join(root, 'out')), /bad\.test\.ts/)
})

test('slowest first: files without a figure, then by decreasing duration; figures merge across runs', () => {
  assert.deepEqual(slowestFirst(['a', 'b', 'c', 'd'], { a: 10, b: 300, d: 20 }), ['c', 'b', 'd', 'a'])
  const root = testTmpDir('durations')
  mkdirSync(join(root, '.synthq'), { recursive: true })
  const reported = join(root, 'reported.json')
  writeFileSync(reported, JSON.stringify({ '/x/test/a.test.ts': 12.4, '/elsewhere/z.ts': 5 }))
  recordDurations(root, reported, (ran) => ran === '/x/test/a.test.ts' ? 'test/a.test.ts' : undefined)
  writeFileSync(reported, JSON.stringify({ '/x/test/b.test.ts': 99 }))
  recordDurations(root, reported, (ran) => ran === '/x/test/b.test.ts' ? 'test/b.test.ts' : undefined)
  assert.deepEqual(readDurations(root), { 'test/a.test.ts': 12, 'test/b.test.ts': 99 })
  writeFileSync(join(root, '.synthq', 'test-durations.json'), '{ damaged')
  assert.deepEqual(readDurations(root), {})
})
