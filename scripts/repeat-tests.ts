/**
 * Runs test files several times in a row, each time through `npm test`'s own runner
 * (test/run.ts: it reuses or starts the local Kafka and registry and cleans up after every
 * run), and reports how many times each file passed. A flaky test shows up here before it
 * shows up in CI.
 *
 *   npm run test:repeat -- --times 10 test/runtime/conformance.test.ts test/runtime/crash.test.ts
 *   npm run test:repeat -- --times 10 --kafka           every test file that talks to Kafka
 *   npm run test:repeat -- --times 3 --kafka --json out.json
 *
 * Files run one after another, each `--times` in a row (a failure does not stop the series).
 * The infrastructure stays up between runs (SYNTHQ_TEST_KEEP_INFRA); `npm run infra:down`
 * afterwards. The log of every failed run is kept under .synthq/repeat/.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT } from '../deploy/local/lib/paths.ts'

/** Test files that reach a Kafka broker or the registry (the shared ones or their own). */
const KAFKA_MARKERS = /testInfra|clients\(|harness\(|kafkaHarness|RUNNERS|SYNTHQ_TEST_BOOTSTRAP|startCluster|freePortRange|--runner', 'kafka'|runner: 'kafka'|createKafka|health\(|'chaos', 'run\.ts'/

function allTestFiles (dir = join(REPO_ROOT, 'test')): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e)
    if (statSync(p).isDirectory()) { if (e !== 'fixtures' && e !== 'node_modules') out.push(...allTestFiles(p)) } else if (e.endsWith('.test.ts')) out.push(relative(REPO_ROOT, p))
  }
  return out
}

export function kafkaTestFiles (): string[] {
  return allTestFiles().filter((f) => KAFKA_MARKERS.test(readFileSync(join(REPO_ROOT, f), 'utf8')))
}

interface Outcome { file: string, passed: number, failed: number, seconds: number[], failures: string[] }

function runOnce (file: string, logFile: string): Promise<{ ok: boolean, seconds: number }> {
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'run.ts'), file], {
      cwd: REPO_ROOT, env: { ...process.env, SYNTHQ_TEST_KEEP_INFRA: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    child.on('exit', (code) => {
      const ok = code === 0
      if (!ok) writeFileSync(logFile, out)
      resolve({ ok, seconds: (Date.now() - t0) / 1000 })
    })
  })
}

async function main (): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { times: { type: 'string', default: '10' }, kafka: { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, '')); return 0 }
  const times = Number(values.times)
  if (!Number.isInteger(times) || times < 1) throw new Error(`--times: a whole number ≥ 1, got "${values.times}"`)
  const files = [...(values.kafka ? kafkaTestFiles() : []), ...positionals]
  if (files.length === 0) { process.stderr.write('no test files: name some, or --kafka\n'); return 2 }
  const dir = join(REPO_ROOT, '.synthq', 'repeat', new Date().toISOString().replace(/[:.]/g, '-'))
  mkdirSync(dir, { recursive: true })
  process.stdout.write(`repeat: ${files.length} file(s) × ${times}; logs of failed runs in ${relative(REPO_ROOT, dir)}\n`)
  const outcomes: Outcome[] = []
  for (const file of files) {
    const o: Outcome = { file, passed: 0, failed: 0, seconds: [], failures: [] }
    for (let i = 1; i <= times; i++) {
      const log = join(dir, `${file.replace(/[/\\]/g, '_')}.${i}.log`)
      const r = await runOnce(file, log)
      o.seconds.push(r.seconds)
      if (r.ok) o.passed++
      else { o.failed++; o.failures.push(relative(REPO_ROOT, log)) }
      process.stdout.write(`  ${file} run ${i}/${times}: ${r.ok ? 'pass' : 'FAIL'} (${r.seconds.toFixed(0)} s)\n`)
    }
    outcomes.push(o)
    if (values.json) writeFileSync(values.json, JSON.stringify({ times, outcomes }, null, 2))
  }
  process.stdout.write('\n| file | passed | runs | median s |\n|---|---|---|---|\n')
  for (const o of outcomes) {
    const sorted = [...o.seconds].sort((a, b) => a - b)
    process.stdout.write(`| ${o.file} | ${o.passed} | ${o.passed + o.failed} | ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} |\n`)
  }
  const failed = outcomes.filter((o) => o.failed > 0)
  process.stdout.write(failed.length ? `\nrepeat: ${failed.length} file(s) failed at least once\n` : `\nrepeat: every file passed ${times} times in a row\n`)
  return failed.length ? 1 : 0
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().then((code) => { process.exitCode = code }, (err: unknown) => { process.stderr.write(`repeat: ${(err as Error).message}\n`); process.exitCode = 2 })
}
