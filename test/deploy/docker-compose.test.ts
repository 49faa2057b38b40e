/**
 * deploy/docker-compose.yml cannot run here (no Docker engine): check that it parses and that
 * its wiring is consistent — services referenced exist, synthq's processes point at the
 * broker's internal listener and the registry, the broker is KRaft with single-node internal
 * topics.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { PIPELINE_CONFIG_FILE, PIPELINE_CONFIG_PATH, STAGE_GROUPS, workloadName } from '../../deploy/stage-groups.ts'
import { DEFAULT_PIPELINE_OPTIONS, pipelineOptions } from '../../src/topologies/options.ts'
import { TOPOLOGIES } from '../../src/topologies/registry.ts'
import { stageNames } from '../../src/topologies/topology.ts'

interface Service {
  image?: string
  build?: { context: string, dockerfile: string }
  environment?: Record<string, string | number>
  depends_on?: Record<string, { condition: string }> | string[]
  volumes?: string[]
  profiles?: string[]
  command?: string[]
  healthcheck?: { test: string[] }
}

/** synthq's pipeline services, one per stage group (deploy/stage-groups.ts). */
const PIPELINE_SERVICES = STAGE_GROUPS.map(workloadName)

const compose = parse(readFileSync(join(REPO_ROOT, 'deploy/docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>, volumes: Record<string, unknown> }

test('docker-compose.yml parses and every dependency names a defined service', () => {
  const names = Object.keys(compose.services)
  assert.deepEqual(names.sort(), ['grafana', 'kafka', 'prometheus', 'schema-registry', 'synthq-attribution', 'synthq-responses', 'synthq-sink', 'synthq-synthesis'])
  assert.deepEqual([...PIPELINE_SERVICES].sort(), ['synthq-attribution', 'synthq-responses', 'synthq-sink', 'synthq-synthesis'])
  for (const [name, s] of Object.entries(compose.services)) {
    for (const dep of Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})) {
      assert.ok(names.includes(dep), `${name} depends on unknown ${dep}`)
      if (!Array.isArray(s.depends_on) && s.depends_on![dep]!.condition === 'service_healthy') assert.ok(compose.services[dep]!.healthcheck, `${dep} needs a healthcheck`)
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
  for (const name of PIPELINE_SERVICES) {
    const s = compose.services[name]!
    assert.equal(s.environment?.SYNTHQ_KAFKA_BROKERS, internal, name)
    assert.equal(s.environment?.SYNTHQ_REGISTRY_URL, 'http://schema-registry:8081', name)
    assert.deepEqual(s.profiles, ['pipeline'])
    assert.equal(s.build?.dockerfile, 'deploy/Dockerfile')
  }
  const dockerfile = readFileSync(join(REPO_ROOT, 'deploy/Dockerfile'), 'utf8')
  for (const dir of ['schemas', 'src', 'bin', 'data']) assert.match(dockerfile, new RegExp(`COPY ${dir} `), `the image needs ${dir}/`)
  assert.ok(dockerfile.indexOf('COPY patches') >= 0 && dockerfile.indexOf('COPY patches') < dockerfile.indexOf('npm ci'), 'patches/ is in the image before npm ci runs patch-package')
})

test('the pipeline services run on Kafka, split so the synthesis stages scale and the sink runs once', () => {
  const synthesis = TOPOLOGIES.synthesis!({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: '' })
  const stagesOf = (cmd: string[]): string[] => cmd.flatMap((a, i) => cmd[i - 1] === '--stage' ? [a] : [])
  const synth = compose.services['synthq-synthesis']!.command!
  const sink = compose.services['synthq-sink']!.command!
  const responses = compose.services['synthq-responses']!
  assert.deepEqual(synth.slice(0, 2), ['run', 'synthesis'])
  assert.deepEqual(stagesOf(sink), ['sink'])
  assert.deepEqual([...stagesOf(synth), ...stagesOf(sink)].sort(), stageNames(synthesis).sort(), 'every synthesis stage of the default settings runs in exactly one service')
  // The response stages exist only with the pipeline config file that turns them on: the
  // service mounts deploy/pipeline.yaml where its --config points, and runs the stages that file adds.
  const cmd = responses.command!
  assert.equal(cmd[cmd.indexOf('--config') + 1], PIPELINE_CONFIG_PATH)
  assert.deepEqual(responses.volumes, [`./pipeline.yaml:${PIPELINE_CONFIG_PATH}:ro`])
  assert.equal(join(REPO_ROOT, 'deploy', 'pipeline.yaml'), PIPELINE_CONFIG_FILE)
  const withResponses = TOPOLOGIES.synthesis!({ options: pipelineOptions(PIPELINE_CONFIG_FILE), searchIndex: '' })
  assert.deepEqual(stagesOf(cmd), stageNames(withResponses).filter((s) => !stageNames(synthesis).includes(s)), 'the stages deploy/pipeline.yaml turns on, in the responses service')
  // The whole attribution topology (no --stage); the drain timeout explicit, as every service's
  // (test/deploy/k8s-manifests.test.ts checks it against stop_grace_period).
  assert.deepEqual(compose.services['synthq-attribution']!.command, ['run', 'attribution', '--drain-timeout', '30'])
  for (const name of PIPELINE_SERVICES) {
    assert.equal(compose.services[name]!.environment?.SYNTHQ_RUNNER, 'kafka', name)
    assert.equal(compose.services[name]!.environment?.SYNTHQ_METRICS_HOST, '0.0.0.0', name)
  }
})

test('monitoring: Prometheus finds every replica of every synthq service on its metrics port; Grafana loads the dashboard', () => {
  const prom = parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus/compose.yml'), 'utf8')) as { scrape_configs: Array<{ dns_sd_configs: Array<{ names: string[], port: number }> }> }
  const sd = prom.scrape_configs[0]!.dns_sd_configs[0]!
  assert.deepEqual(sd.names.sort(), [...PIPELINE_SERVICES].sort())
  assert.equal(sd.port, Number(compose.services['synthq-synthesis']!.environment!.SYNTHQ_METRICS_PORT))
  for (const name of ['prometheus', 'grafana']) {
    assert.deepEqual(compose.services[name]!.profiles, ['monitoring'])
    for (const v of compose.services[name]!.volumes ?? []) {
      const host = v.split(':')[0]!
      assert.ok(existsSync(join(REPO_ROOT, 'deploy', host)), `${name} mounts ${host}, which exists`)
    }
  }
  const ds = parse(readFileSync(join(REPO_ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: Array<{ url: string, type: string }> }
  assert.equal(ds.datasources[0]!.type, 'prometheus')
  assert.match(ds.datasources[0]!.url, /^http:\/\/prometheus:9090$/)
})
