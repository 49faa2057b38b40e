/**
 * The chaos run's own infrastructure: a 3-node KRaft cluster and a schema registry on free
 * ports, never the shared ones other tests use; bouncing one broker (SIGKILL, then the same node
 * again on its data), restarting the registry, and stopping everything.
 *
 * The registry keeps its schemas in an H2 file inside the run's folder (Apicurio's default is
 * in memory), so that a restart keeps every schema under its id, as a production registry does.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import kafkajs from 'kafkajs'
import { startKafkaCluster, stopKafkaCluster, waitForKafkaCluster, type KafkaCluster } from '../../deploy/local/lib/cluster.ts'
import { ensureApicurio, ensureKafka } from '../../deploy/local/lib/fetch.ts'
import { startNode, type KafkaNodeSpec } from '../../deploy/local/lib/kafka-node.ts'
import { isAlive, stopPid } from '../../deploy/local/lib/process.ts'
import { kafkaBrokers, registryAnswers, waitFor } from '../../deploy/local/lib/readiness.ts'
import { ccompatUrl, startRegistry } from '../../deploy/local/lib/registry-node.ts'
import { topicPlan } from '../../src/runtime/kafka/topic-admin.ts'
import { freePortRange } from '../../test/helpers/ports.ts'

const { Kafka, logLevel } = kafkajs

export interface ChaosInfra {
  dir: string
  libs: string
  cluster: KafkaCluster
  heapMb: number
  registry: { appDir: string, pid: number, port: number, managementPort: number, dataDir: string, url: string, heapMb: number }
}

export interface InfraOptions {
  dir: string
  brokerHeapMb: number
  registryHeapMb: number
  log: (msg: string) => void
}

function launchRegistry (r: ChaosInfra['registry'], log: (m: string) => void): number {
  // Apicurio reads its settings from the environment too (Quarkus: apicurio.datasource.url).
  process.env.APICURIO_DATASOURCE_URL = `jdbc:h2:file:${join(r.dataDir, 'h2', 'registry')}`
  return startRegistry(r.appDir, { port: r.port, managementPort: r.managementPort, dataDir: r.dataDir, heapMb: r.heapMb }, log).pid
}

export async function startInfra (o: InfraOptions): Promise<ChaosInfra> {
  const libs = ensureKafka(o.log)
  const appDir = ensureApicurio(o.log)
  const kafkaPort = await freePortRange(6)
  const regPort = await freePortRange(2)
  const cluster = startKafkaCluster(libs, { size: 3, kafkaPort, dir: join(o.dir, 'kafka'), node: () => ({ heapMb: o.brokerHeapMb }) })
  const dataDir = join(o.dir, 'registry')
  mkdirSync(dataDir, { recursive: true })
  const registry = { appDir, pid: 0, port: regPort, managementPort: regPort + 1, dataDir, url: ccompatUrl(regPort), heapMb: o.registryHeapMb }
  const infra: ChaosInfra = { dir: o.dir, libs, cluster, heapMb: o.brokerHeapMb, registry }
  registry.pid = launchRegistry(registry, o.log)
  await Promise.all([
    waitForKafkaCluster(cluster, 180_000),
    waitFor(`schema registry ${registry.url}`, () => registryAnswers(registry.url, 2_000), { timeoutMs: 180_000, check: () => { if (!isAlive(registry.pid)) throw new Error(`the schema registry exited; see ${join(dataDir, 'registry.log')}`) } }),
  ])
  return infra
}

export async function stopInfra (infra: ChaosInfra): Promise<void> {
  await Promise.all([stopPid(infra.registry.pid, 10_000), stopKafkaCluster(infra.cluster)])
}

export function bootstrap (infra: ChaosInfra): string[] {
  return infra.cluster.bootstrap
}

export function admin (brokers: string[]): kafkajs.Admin {
  return new Kafka({ brokers, clientId: 'synthq-chaos', logLevel: logLevel.NOTHING, retry: { retries: 5 } }).admin()
}

/** The pipeline's topics, replicated 3 times with min.insync.replicas=2 (synthq then finds them made). */
export async function createTopics (brokers: string[], prefix: string, partitions: number): Promise<void> {
  const plan = topicPlan({ prefix, partitions, replicationFactor: 3 })
  for (let attempt = 1; ; attempt++) {
    const a = admin(brokers)
    try {
      await a.connect()
      const existing = new Set(await a.listTopics())
      const missing = plan.filter((p) => !existing.has(p.topic))
      if (missing.length) {
        await a.createTopics({
          waitForLeaders: false,
          topics: missing.map((p) => ({
            topic: p.topic, numPartitions: p.partitions, replicationFactor: p.replicationFactor,
            configEntries: Object.entries({ ...p.configs, 'min.insync.replicas': '2', 'unclean.leader.election.enable': 'false' }).map(([name, value]) => ({ name, value })),
          })),
        })
      }
      // Every partition led and fully in sync before anything writes.
      const md = await a.fetchTopicMetadata({ topics: plan.map((p) => p.topic) })
      if (md.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0 && p.isr.length === 3))) return
      throw new Error('not every partition has a leader and 3 in-sync replicas yet')
    } catch (err) {
      if (attempt >= 30) throw err
      await sleep(1_000)
    } finally {
      await a.disconnect().catch(() => {})
    }
  }
}

/** Partitions whose in-sync replicas are fewer than their replicas, over every topic (internal ones too). */
export async function underReplicated (brokers: string[]): Promise<string[]> {
  const a = admin(brokers)
  await a.connect()
  try {
    const topics = await a.listTopics()
    const md = await a.fetchTopicMetadata({ topics })
    return md.topics.flatMap((t) => t.partitions.filter((p) => p.isr.length < p.replicas.length).map((p) => `${t.name}-${p.partitionId}`))
  } finally {
    await a.disconnect()
  }
}

function nodeSpec (infra: ChaosInfra, nodeId: number): KafkaNodeSpec {
  const nodes = infra.cluster.nodes
  const n = nodes.find((x) => x.nodeId === nodeId)
  if (!n) throw new Error(`no Kafka node ${nodeId}`)
  return {
    nodeId, clusterId: infra.cluster.clusterId, port: n.port, controllerPort: n.controllerPort,
    voters: nodes.map((x) => `${x.nodeId}@127.0.0.1:${x.controllerPort}`).join(','),
    dataDir: n.dataDir, internalReplication: nodes.length, heapMb: infra.heapMb,
  }
}

function killGroup (pid: number): void {
  try { process.kill(-pid, 'SIGKILL') } catch { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
}

export interface BounceResult {
  nodeId: number
  /** Waited before the kill for every partition to have all its replicas in sync again. */
  inSyncWaitMs: number
  downMs: number
  /** From the restart until the node was back in the cluster's metadata. */
  backMs: number
  ok: boolean
  detail?: string
}

/**
 * Hard bounce of one broker, as Apache Kafka's transactions_test.py does: SIGKILL, some seconds
 * down, the same node restarted on its data, back when it is in the cluster's metadata again.
 * Before the kill it waits until every partition has all its replicas in sync, so that no
 * bounce takes a partition below min.insync.replicas because the previous one has not caught up.
 */
export async function bounceBroker (infra: ChaosInfra, nodeId: number, downMs: number, log: (m: string) => void, timeoutMs = 180_000): Promise<BounceResult> {
  const node = infra.cluster.nodes.find((x) => x.nodeId === nodeId)!
  const brokers = infra.cluster.bootstrap
  let inSyncWaitMs: number
  try {
    let last: string[] = []
    inSyncWaitMs = await waitFor('every partition in sync before the bounce', async () => { last = await underReplicated(brokers); return last.length === 0 }, { timeoutMs })
  } catch (err) {
    return { nodeId, inSyncWaitMs: -1, downMs: 0, backMs: -1, ok: false, detail: (err as Error).message }
  }
  killGroup(node.pid)
  while (isAlive(node.pid)) await sleep(50)
  log(`broker ${nodeId} (pid ${node.pid}) SIGKILLed${inSyncWaitMs > 1_000 ? ` (after waiting ${(inSyncWaitMs / 1000).toFixed(1)} s for every partition to be in sync)` : ''}`)
  await sleep(downMs)
  node.pid = startNode(infra.libs, nodeSpec(infra, nodeId)).pid
  log(`broker ${nodeId} restarted (pid ${node.pid}) after ${(downMs / 1000).toFixed(1)} s down`)
  try {
    const backMs = await waitFor(`broker ${nodeId} back`, async () => (await kafkaBrokers({ brokers }, 3_000)) >= infra.cluster.nodes.length, {
      timeoutMs, check: () => { if (!isAlive(node.pid)) throw new Error(`broker ${nodeId} exited after its restart; see ${node.log}`) },
    })
    log(`broker ${nodeId} back in the cluster ${(backMs / 1000).toFixed(1)} s after its restart`)
    return { nodeId, inSyncWaitMs, downMs, backMs, ok: true }
  } catch (err) {
    return { nodeId, inSyncWaitMs, downMs, backMs: -1, ok: false, detail: (err as Error).message }
  }
}

export interface RegistryRestartResult { downMs: number, ok: boolean, idsKept: boolean, detail?: string }

/** Stops the registry (SIGTERM) and starts it again on its port and its data. */
export async function restartRegistry (infra: ChaosInfra, log: (m: string) => void): Promise<RegistryRestartResult> {
  const r = infra.registry
  const before = await schemaIds(r.url)
  const t0 = Date.now()
  await stopPid(r.pid, 15_000)
  log(`registry (pid ${r.pid}) stopped`)
  r.pid = launchRegistry(r, log)
  try {
    await waitFor('schema registry back', () => registryAnswers(r.url, 2_000), { timeoutMs: 180_000, check: () => { if (!isAlive(r.pid)) throw new Error(`the schema registry exited after its restart; see ${join(r.dataDir, 'registry.log')}`) } })
  } catch (err) {
    return { downMs: Date.now() - t0, ok: false, idsKept: false, detail: (err as Error).message }
  }
  const after = await schemaIds(r.url)
  const idsKept = [...before].every(([s, id]) => after.get(s) === id)
  log(`registry back after ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${r.pid}); schema ids ${idsKept ? 'kept' : 'CHANGED'}`)
  return { downMs: Date.now() - t0, ok: true, idsKept, ...(idsKept ? {} : { detail: `before ${JSON.stringify([...before])} after ${JSON.stringify([...after])}` }) }
}

/** subject → id of its latest version. */
async function schemaIds (url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  const subjects = await (await fetch(`${url}/subjects`)).json() as string[]
  for (const s of subjects) {
    const v = await (await fetch(`${url}/subjects/${encodeURIComponent(s)}/versions/latest`)).json() as { id: number }
    out.set(s, v.id)
  }
  return out
}
