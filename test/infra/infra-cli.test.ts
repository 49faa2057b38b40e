/**
 * The local infrastructure's command line, run as a user runs it, against what `npm test`
 * started.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { testInfra, testTmpDir } from '../helpers/env.ts'

function infra (args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null, out: string, err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'deploy/local/infra.ts'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: REPO_ROOT })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('infra status prints both addresses and exits 0 while both answer', () => {
  const { bootstrap, registryUrl } = testInfra()
  const r = infra(['status'])
  assert.equal(r.code, 0, r.out + r.err)
  assert.match(r.out, new RegExp(`kafka\\s+${bootstrap.join(',').replace(/\./g, '\\.')}\\s+up`))
  assert.ok(r.out.includes(registryUrl), r.out)
  assert.match(r.out, /registry\s+\S+\s+up/)
  const json = JSON.parse(infra(['status', '--json']).out) as { kafka: { up: boolean, brokers: number }, registry: { up: boolean } }
  assert.equal(json.kafka.up, true)
  assert.equal(json.registry.up, true)
  assert.ok(json.kafka.brokers >= 1)
})

test('infra status exits non-zero and says how to start when nothing runs', () => {
  const empty = testTmpDir('synthq-noinfra')
  const r = infra(['status'], { SYNTHQ_INFRA_DIR: empty })
  assert.equal(r.code, 1)
  assert.match(r.out, /kafka\s+down .*npm run infra:up/)
  assert.match(r.out, /registry\s+down/)
})

test('infra rejects unknown commands with usage and exit code 2', () => {
  const r = infra(['frobnicate'])
  assert.equal(r.code, 2)
  assert.match(r.err, /unknown command "frobnicate"/)
  assert.match(r.err, /usage: infra/)
})

test('infra up refuses a port another process holds, naming the port and the variable', async () => {
  const { createServer } = await import('node:net')
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  try {
    const r = infra(['up'], { SYNTHQ_INFRA_DIR: testTmpDir('synthq-busy'), SYNTHQ_KAFKA_PORT: String(port) })
    assert.equal(r.code, 1)
    assert.match(r.err, new RegExp(`Port ${port} \\(Kafka client listener\\) is already in use.*SYNTHQ_KAFKA_PORT`))
  } finally {
    srv.close()
  }
})
