/**
 * The config file and the order of settings: flags over environment over the file over
 * built-in defaults, secrets only by reference, every problem named with its path.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { applyConfigFile, configPathFrom, readConfigFile } from '../../src/config/config-file.ts'
import { kafkaConnectionFromEnv } from '../../src/config/connection.ts'
import { testTmpDir } from '../helpers/env.ts'

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'synthq.js')
const dir = testTmpDir('config-file')

function file (name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

test('the file becomes the SYNTHQ_* settings it stands for, paths relative to it, without overriding the environment', () => {
  writeFileSync(join(dir, 'kafka.pw'), 's3cret-kafka\n')
  const path = file('deploy.yaml', [
    'defaults: { runner: kafka, prefix: prod, db: data/synthq.db }',
    'kafka:',
    '  brokers: [kafka-1:9092, kafka-2:9092]',
    '  sasl: { mechanism: scram-sha-512, username: synthq, passwordFile: kafka.pw }',
    'registry: { url: "https://registry:8081" }',
    'metrics: { host: 0.0.0.0, port: 9464 }',
  ].join('\n'))
  const env: NodeJS.ProcessEnv = { SYNTHQ_PREFIX: 'from-env' }
  const set = applyConfigFile(path, env)
  assert.equal(env.SYNTHQ_PREFIX, 'from-env', 'the environment wins over the file')
  assert.ok(!set.includes('SYNTHQ_PREFIX'))
  assert.equal(env.SYNTHQ_RUNNER, 'kafka')
  assert.equal(env.SYNTHQ_DB, join(dir, 'data', 'synthq.db'))
  assert.equal(env.SYNTHQ_KAFKA_BROKERS, 'kafka-1:9092,kafka-2:9092')
  assert.equal(env.SYNTHQ_KAFKA_SASL_PASSWORD_FILE, join(dir, 'kafka.pw'))
  assert.equal(env.SYNTHQ_METRICS_PORT, '9464')
  const conn = kafkaConnectionFromEnv(env)
  assert.deepEqual(conn.brokers, ['kafka-1:9092', 'kafka-2:9092'])
  assert.equal(conn.sasl?.mechanism, 'scram-sha-512')
  assert.ok(!JSON.stringify(conn).includes('s3cret-kafka'), 'the password is read into a Secret, never printed')

  // A password given in the environment keeps the file's reference out (no X and X_FILE both).
  const env2: NodeJS.ProcessEnv = { SYNTHQ_KAFKA_SASL_PASSWORD: 'from-env' }
  applyConfigFile(path, env2)
  assert.equal(env2.SYNTHQ_KAFKA_SASL_PASSWORD_FILE, undefined)
})

test('problems are listed with their paths; secrets in the file are refused with what to do instead', () => {
  assert.throws(() => readConfigFile(file('bad.yaml', 'kafka: { brokerz: x }\ndefaults: { runner: spark }\nmetrics: { port: 70000 }\n')), (err: Error) => {
    assert.match(err.message, /kafka: unknown setting "brokerz" \(known: brokers, clientId, ssl, sasl\)/)
    assert.match(err.message, /defaults\.runner must be equal to one of the allowed values/)
    assert.match(err.message, /metrics\.port must be <= 65535/)
    return true
  })
  assert.throws(() => readConfigFile(file('pw.yaml', 'kafka: { sasl: { mechanism: plain, username: u, password: hunter2 } }\n')), (err: Error) => {
    assert.match(err.message, /kafka\.sasl\.password — secrets are not kept in the config file; put the secret in a file and name it with kafka\.sasl\.passwordFile/)
    assert.ok(!err.message.includes('hunter2'))
    return true
  })
  assert.throws(() => readConfigFile(file('top.yaml', 'lmm: {}\n')), /unknown setting "lmm" \(known: llm, pipeline, defaults, kafka, registry, metrics\)/)
  assert.throws(() => readConfigFile(join(dir, 'missing.yaml')), /config file .*missing\.yaml cannot be read: ENOENT/)
  assert.equal(configPathFrom(['status', '--config=a.yaml']), 'a.yaml')
  assert.equal(configPathFrom(['status', '--config', 'b.yaml'], {}), 'b.yaml')
  assert.equal(configPathFrom(['status'], { SYNTHQ_CONFIG: 'c.yaml' }), 'c.yaml')
})

test('on the command line: flag over environment over config file, for any command', () => {
  const path = file('local.yaml', 'defaults: { db: from-file.db }\n')
  const run = (args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null, err: string } => {
    const r = spawnSync(process.execPath, [CLI, 'status', '--window', '0', ...args], { encoding: 'utf8', env: { ...process.env, SYNTHQ_DB: '', ...env } })
    return { code: r.status, err: r.stderr }
  }
  const clean = { ...process.env }
  delete clean.SYNTHQ_DB
  let r = spawnSync(process.execPath, [CLI, 'status', '--config', path], { encoding: 'utf8', env: clean })
  assert.equal(r.status, 1)
  assert.match(r.stderr, new RegExp(`no synthq database at ${join(dir, 'from-file.db').replace(/[.]/g, '\\.')}`), 'the file’s db, relative to the file')
  r = spawnSync(process.execPath, [CLI, 'status', '--config', path], { encoding: 'utf8', env: { ...clean, SYNTHQ_DB: join(dir, 'from-env.db') } })
  assert.match(r.stderr, /from-env\.db/, 'the environment over the file')
  const flag = run(['--config', path, '--db', join(dir, 'from-flag.db')], { SYNTHQ_DB: join(dir, 'from-env.db') })
  assert.match(flag.err, /from-flag\.db/, 'the flag over both')
  const broken = run(['--config', file('broken.yaml', 'defaults: [')])
  assert.equal(broken.code, 1)
  assert.match(broken.err, /is not valid YAML or JSON/)
})
