/**
 * The local infrastructure as one unit: a Kafka cluster (1 or 3 KRaft nodes) and a schema
 * registry, started together, described in `state.json`, stopped by PID.
 *
 * `up` reuses what is already running and healthy, so `npm test` after `npm run infra:up`
 * costs nothing; `down` stops every recorded process and removes the state (data included), so
 * the next `up` starts clean.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { ensureApicurio, ensureKafka } from './fetch.ts'
import { infraDir } from './paths.ts'
import { isAlive, stopPid, tail } from './process.ts'
import { kafkaBrokers, registryAnswers, waitFor } from './readiness.ts'
import { newClusterId, startNode, type KafkaNodeSpec } from './kafka-node.ts'
import { ccompatUrl, startRegistry } from './registry-node.ts'
import { APICURIO_VERSION, KAFKA_VERSION } from './versions.ts'

export interface NodeState {
  nodeId: number
  pid: number
  port: number
  controllerPort: number
  dataDir: string
  log: string
}

export interface InfraState {
  startedAt: string
  kafka: { version: string, clusterId: string, bootstrap: string[], nodes: NodeState[], readyMs: number }
  registry: { version: string, url: string, pid: number, port: number, managementPort: number, dataDir: string, log: string, readyMs: number }
}

export interface UpOptions {
  /** Number of Kafka nodes: 1 or 3 (for fault tests). Omitted: reuse whatever healthy
   *  infrastructure runs, else start 1 node. */
  brokers?: number
  kafkaPort?: number
  registryPort?: number
  log?: (msg: string) => void
}

export interface UpResult {
  state: InfraState
  /** True when a healthy infrastructure was already running and was left as it was. */
  reused: boolean
}

const stateFile = (): string => join(infraDir(), 'state.json')

export function readState (): InfraState | undefined {
  const f = stateFile()
  if (!existsSync(f)) return undefined
  return JSON.parse(readFileSync(f, 'utf8')) as InfraState
}

function envPort (name: string, fallback: number): number {
  const v = process.env[name]
  if (!v) return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a TCP port number, got "${v}"`)
  return n
}

function assertPortFree (port: number, what: string, envName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', () => reject(new Error(`Port ${port} (${what}) is already in use by another process. Stop it, or choose another port with ${envName}.`)))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()))
  })
}

export interface Health {
  kafka: { up: boolean, bootstrap: string, brokers: number, expected: number, detail?: string }
  registry: { up: boolean, url: string, detail?: string }
}

export async function health (state = readState()): Promise<Health | undefined> {
  if (!state) return undefined
  const bootstrap = state.kafka.bootstrap.join(',')
  const expected = state.kafka.nodes.length
  const dead = state.kafka.nodes.filter((n) => !isAlive(n.pid))
  let brokers = 0
  let kafkaDetail: string | undefined
  if (dead.length) kafkaDetail = `node(s) ${dead.map((n) => n.nodeId).join(', ')} not running`
  else {
    try {
      brokers = await kafkaBrokers({ brokers: state.kafka.bootstrap })
      if (brokers < expected) kafkaDetail = `${brokers} of ${expected} brokers in the cluster metadata`
    } catch (err) {
      kafkaDetail = (err as Error).message
    }
  }
  const regAlive = isAlive(state.registry.pid)
  const regUp = regAlive && await registryAnswers(state.registry.url)
  return {
    kafka: { up: !kafkaDetail && brokers >= expected, bootstrap, brokers, expected, ...(kafkaDetail ? { detail: kafkaDetail } : {}) },
    registry: { up: regUp, url: state.registry.url, ...(regUp ? {} : { detail: regAlive ? 'process alive but GET /subjects failed' : 'process not running' }) },
  }
}

export async function up (opts: UpOptions = {}): Promise<UpResult> {
  const log = opts.log ?? (() => {})
  const size = opts.brokers ?? 1
  if (size !== 1 && size !== 3) throw new Error(`brokers must be 1 or 3, got ${size}`)
  const existing = readState()
  if (existing) {
    const h = await health(existing)
    // Without an explicit size, a healthy infrastructure of any size is reused (npm test on a
    // 3-node cluster started by hand runs against it rather than replacing it).
    const sizeOk = opts.brokers === undefined || existing.kafka.nodes.length === size
    if (h?.kafka.up && h.registry.up && sizeOk) return { state: existing, reused: true }
    log('previous local infrastructure is not healthy (or has another size); restarting it clean')
    await down({ log })
  }

  const kafkaPort = opts.kafkaPort ?? envPort('SYNTHQ_KAFKA_PORT', 19092)
  const registryPort = opts.registryPort ?? envPort('SYNTHQ_REGISTRY_PORT', 18081)
  const ports = Array.from({ length: size }, (_, i) => ({ port: kafkaPort + 2 * i, controllerPort: kafkaPort + 2 * i + 1 }))
  for (const p of ports) {
    await assertPortFree(p.port, 'Kafka client listener', 'SYNTHQ_KAFKA_PORT')
    await assertPortFree(p.controllerPort, 'Kafka controller listener', 'SYNTHQ_KAFKA_PORT')
  }
  await assertPortFree(registryPort, 'schema registry', 'SYNTHQ_REGISTRY_PORT')
  await assertPortFree(registryPort + 1, 'schema registry management', 'SYNTHQ_REGISTRY_PORT')

  const libs = ensureKafka(log)
  const appDir = ensureApicurio(log)
  const dir = infraDir()
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })

  const cluster = startKafkaCluster(libs, { size, kafkaPort, dir })
  const nodes = cluster.nodes
  const regDir = join(dir, 'registry')
  const reg = startRegistry(appDir, { port: registryPort, managementPort: registryPort + 1, dataDir: regDir }, log)
  const bootstrap = cluster.bootstrap
  const url = ccompatUrl(registryPort)
  const partial: InfraState = {
    startedAt: new Date().toISOString(),
    kafka: { version: KAFKA_VERSION, clusterId: cluster.clusterId, bootstrap, nodes, readyMs: -1 },
    registry: { version: APICURIO_VERSION, url, pid: reg.pid, port: registryPort, managementPort: registryPort + 1, dataDir: regDir, log: reg.log, readyMs: -1 },
  }
  // Written before the wait, so that `down` can stop what was started even if the wait fails.
  writeFileSync(stateFile(), JSON.stringify(partial, null, 2))

  const regCheck = (): void => {
    if (!isAlive(reg.pid)) throw new Error(`The schema registry exited during start-up. Its log (${reg.log}) ends with:\n${tail(reg.log)}`)
  }
  try {
    const [kafkaMs, registryMs] = await Promise.all([
      waitForKafkaCluster(cluster),
      waitFor(`Schema registry (${url})`, () => registryAnswers(url, 2_000), { timeoutMs: 120_000, check: regCheck }),
    ])
    partial.kafka.readyMs = kafkaMs
    partial.registry.readyMs = registryMs
    writeFileSync(stateFile(), JSON.stringify(partial, null, 2))
  } catch (err) {
    await down({ log })
    throw err
  }
  return { state: partial, reused: false }
}

export interface KafkaCluster {
  clusterId: string
  bootstrap: string[]
  nodes: NodeState[]
}

export interface KafkaClusterOptions {
  size: number
  /** Client port of node 1; node i listens on kafkaPort + 2(i-1), its controller one above. */
  kafkaPort: number
  /** Folder for the nodes' data and logs. */
  dir: string
  /** Per-node extras: security listeners, users, TLS (see kafka-node.ts). */
  node?: (nodeId: number) => Partial<KafkaNodeSpec>
}

/** Formats and launches the nodes of one KRaft cluster; does not wait for readiness. */
export function startKafkaCluster (libs: string, opts: KafkaClusterOptions): KafkaCluster {
  const clusterId = newClusterId()
  const ports = Array.from({ length: opts.size }, (_, i) => ({ port: opts.kafkaPort + 2 * i, controllerPort: opts.kafkaPort + 2 * i + 1 }))
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p.controllerPort}`).join(',')
  const nodes = ports.map((p, i) => {
    const nodeId = i + 1
    const dataDir = join(opts.dir, `kafka-${nodeId}`)
    const spec: KafkaNodeSpec = { nodeId, clusterId, port: p.port, controllerPort: p.controllerPort, voters, dataDir, internalReplication: opts.size, ...opts.node?.(nodeId) }
    const started = startNode(libs, spec)
    return { nodeId, pid: started.pid, port: p.port, controllerPort: p.controllerPort, dataDir, log: started.log }
  })
  return { clusterId, bootstrap: nodes.map((n) => `127.0.0.1:${n.port}`), nodes }
}

/** Waits until every node of the cluster is in the metadata; fails fast if a node exits. */
export function waitForKafkaCluster (cluster: KafkaCluster, timeoutMs = 90_000): Promise<number> {
  const check = (): void => {
    for (const n of cluster.nodes) if (!isAlive(n.pid)) throw new Error(`Kafka node ${n.nodeId} exited during start-up. Its log (${n.log}) ends with:\n${tail(n.log)}`)
  }
  return waitFor(`Kafka (${cluster.bootstrap.join(',')})`, async () => (await kafkaBrokers({ brokers: cluster.bootstrap }, 2_000)) >= cluster.nodes.length, { timeoutMs, check })
}

export async function stopKafkaCluster (cluster: KafkaCluster): Promise<void> {
  await Promise.all(cluster.nodes.map((n) => stopPid(n.pid)))
}

export async function down (opts: { log?: (msg: string) => void } = {}): Promise<boolean> {
  const log = opts.log ?? (() => {})
  const state = readState()
  if (!state) return false
  // Registry and brokers in parallel; brokers of a cluster together, so none waits for a quorum
  // that is shutting down around it.
  await Promise.all([
    stopPid(state.registry.pid).then((r) => log(`registry (pid ${state.registry.pid}): ${r}`)),
    ...state.kafka.nodes.map((n) => stopPid(n.pid).then((r) => log(`kafka node ${n.nodeId} (pid ${n.pid}): ${r}`))),
  ])
  rmSync(infraDir(), { recursive: true, force: true })
  return true
}

/** Resident memory of a process in MiB (Linux), for status reports and benchmarks. */
export function rssMiB (pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Math.round(Number(m[1]) / 1024) : undefined
  } catch {
    return undefined
  }
}
