import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { TOPICS, topicName } from '../../src/topics.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'

function synthq (args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null, out: string, err: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/synthq.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: REPO_ROOT })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('synthq topics prints the topic map without any server', () => {
  const r = synthq(['topics', '--prefix', 'acme.synthq'], { SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '' })
  assert.equal(r.code, 0, r.err)
  for (const t of TOPICS) assert.ok(r.out.includes(topicName(t.name, 'acme.synthq')), t.name)
  assert.match(r.out, /17 topics; value subjects are <topic>-value; all 17 Avro contracts/)
})

test('synthq topics create, schemas register and schemas check against the real broker and registry', () => {
  const { bootstrap, registryUrl } = testInfra()
  const env = { SYNTHQ_KAFKA_BROKERS: bootstrap.join(','), SYNTHQ_REGISTRY_URL: registryUrl }
  const prefix = unique('cli')
  const created = synthq(['topics', 'create', '--prefix', prefix, '--partitions', '2'], env)
  assert.equal(created.code, 0, created.err)
  assert.match(created.out, new RegExp(`created .*${prefix}\\.documents`))
  assert.match(synthq(['topics', 'create', '--prefix', prefix], env).out, /all topics already exist/)
  const reg = synthq(['schemas', 'register', '--prefix', prefix], env)
  assert.equal(reg.code, 0, reg.err)
  assert.equal(reg.out.trim().split('\n').length, TOPICS.length)
  assert.match(reg.out, new RegExp(`${prefix}\\.documents-value  id \\d+`))
  const check = synthq(['schemas', 'check', '--prefix', prefix], env)
  assert.equal(check.code, 0, check.out + check.err)
  assert.equal((check.out.match(/ compatible/g) ?? []).length, TOPICS.length)
})

test('synthq reports usage errors with exit 2 and bad settings with exit 1, saying what to fix', () => {
  const unknown = synthq(['frobnicate'])
  assert.equal(unknown.code, 2)
  assert.match(unknown.err, /unknown command "frobnicate"/)
  const badFlag = synthq(['topics', 'create', '--partitions', 'lots'])
  assert.equal(badFlag.code, 2)
  assert.match(badFlag.err, /--partitions must be a positive integer, got "lots" \[SYNTHQ_USAGE\]\n\(synthq topics --help lists the options\)/)
  const badOption = synthq(['status', '--frobnicate'])
  assert.equal(badOption.code, 2)
  assert.match(badOption.err, /Unknown option '--frobnicate'[\s\S]*synthq status --help/)
  const noBrokers = synthq(['topics', 'create'], { SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '' })
  assert.equal(noBrokers.code, 1)
  assert.match(noBrokers.err, /SYNTHQ_KAFKA_BROKERS/)
  const help = synthq(['--help'])
  assert.equal(help.code, 0)
  assert.match(help.out, /examples:/)
})

test('synthq run synthesis --llm sim --until-idle stops cleanly, prints LLM usage and exits 0 (the sink included)', () => {
  const db = join(testTmpDir('run-until-idle'), 'synthq.db')
  const r = synthq(['run', 'synthesis', '--llm', 'sim', '--until-idle', '--db', db], { SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '' })
  assert.equal(r.code, 0, r.err)
  assert.match(r.err, /stage sink → sim .* model sim-embed-small/)
  assert.match(r.err, /stopped cleanly/)
})
