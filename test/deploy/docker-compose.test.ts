/**
 * deploy/docker-compose.yml cannot run here (no Docker engine): check that it parses and that
 * its wiring is consistent — services referenced exist, synthq's processes point at the
 * broker's internal listener and the registry, the broker is KRaft with single-node internal
 * topics.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'

interface Service {
  image?: string
  build?: { context: string, dockerfile: string }
  environment?: Record<string, string | number>
  depends_on?: Record<string, { condition: string }>
  profiles?: string[]
  command?: string[]
  healthcheck?: { test: string[] }
}

const compose = parse(readFileSync(join(REPO_ROOT, 'deploy/docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>, volumes: Record<string, unknown> }

test('docker-compose.yml parses and every dependency names a defined service', () => {
  const names = Object.keys(compose.services)
  assert.deepEqual(names.sort(), ['kafka', 'schema-registry', 'synthq-attribution', 'synthq-sink', 'synthq-synthesis'])
  for (const [name, s] of Object.entries(compose.services)) {
    for (const dep of Object.keys(s.depends_on ?? {})) {
      assert.ok(names.includes(dep), `${name} depends on unknown ${dep}`)
      if (s.depends_on![dep]!.condition === 'service_healthy') assert.ok(compose.services[dep]!.healthcheck, `${dep} needs a healthcheck`)
    }
  }
})

test('the broker runs KRaft with internal topics sized for one node', () => {
  const env = compose.services.kafka!.environment!
  assert.equal(env.KAFKA_PROCESS_ROLES, 'broker,controller')
  for (const k of ['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']) assert.equal(env[k], 1, k)
  const internal = /INTERNAL:\/\/(\w+):(\d+)/.exec(String(env.KAFKA_ADVERTISED_LISTENERS))
  assert.ok(internal)
  assert.equal(compose.services['schema-registry']!.environment!.SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS, `PLAINTEXT://${internal[1]}:${internal[2]}`)
})

test('synthq\'s process slots reach Kafka and the registry by service name, with the same settings as everywhere', () => {
  const advertised = String(compose.services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS)
  const internal = /INTERNAL:\/\/([\w-]+:\d+)/.exec(advertised)![1]
  for (const name of ['synthq-attribution', 'synthq-synthesis', 'synthq-sink']) {
    const s = compose.services[name]!
    assert.equal(s.environment?.SYNTHQ_KAFKA_BROKERS, internal, name)
    assert.equal(s.environment?.SYNTHQ_REGISTRY_URL, 'http://schema-registry:8081', name)
    assert.deepEqual(s.profiles, ['pipeline'])
    assert.equal(s.build?.dockerfile, 'deploy/Dockerfile')
  }
  const dockerfile = readFileSync(join(REPO_ROOT, 'deploy/Dockerfile'), 'utf8')
  for (const dir of ['schemas', 'src', 'bin']) assert.match(dockerfile, new RegExp(`COPY ${dir} `), `the image needs ${dir}/`)
})
