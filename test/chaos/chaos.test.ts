/**
 * The chaos run (scripts/chaos/run.ts, docs/reliability.md) at CI size: a few hundred records
 * through attribution and synthesis on a 3-broker cluster of its own while the LLM fails, a third
 * of the transactions abort, every worker group is SIGKILLed three times and SIGTERMed once, each
 * broker is bounced and the registry restarted — and an independent verifier (Confluent's Python
 * client) finds nothing lost, nothing duplicated, and every stage drained.
 *
 * Sized for this 2-core machine: 3 partitions, one worker per group, brokers down 3 s. It starts
 * its own brokers and registry (never the shared ones) and stops them, also when it fails.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { testTmpDir } from '../helpers/env.ts'

const BUDGET_MS = 300_000

test('chaos: nothing lost, nothing duplicated, nothing stalled under process, broker, registry, LLM and transaction faults', { timeout: BUDGET_MS }, async (t) => {
  // SYNTHQ_CHAOS_DIR: somewhere else than the test folder, e.g. while other test runs share this checkout.
  const dir = process.env.SYNTHQ_CHAOS_DIR ?? testTmpDir('synthq-chaos')
  const args = [
    '--import', 'tsx', join(REPO_ROOT, 'scripts', 'chaos', 'run.ts'),
    '--records', '200', '--partitions', '3', '--replicas', '1', '--broker-down', '3', '--min-gap', '0',
    '--verify-interval', '2', '--stall-timeout', '60', '--drain-deadline', '90', '--final-timeout', '30', '--dir', dir,
  ]
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  // The run stops its brokers, registry and workers on SIGINT; the test runner's own clean-up
  // stops whatever pid files it left under .synthq/test-tmp if even that fails.
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGINT')
      await exited
    }
  })
  const code = await exited
  const last = stdout.trimEnd().split('\n').at(-1) ?? ''
  const m = /^chaos lost=(\d+) dup=(\d+) stalled=(\d+) records=(\d+)$/.exec(last)
  const context = `\n--- report ---\n${stdout.slice(-6_000)}\n--- log (tail) ---\n${stderr.slice(-4_000)}\n(logs in ${dir})`
  assert.ok(m, `the last line is not the chaos summary: "${last}"${context}`)
  assert.deepEqual({ lost: Number(m[1]), dup: Number(m[2]), stalled: Number(m[3]), records: Number(m[4]) }, { lost: 0, dup: 0, stalled: 0, records: 200 }, context)
  assert.equal(code, 0, context)
})
