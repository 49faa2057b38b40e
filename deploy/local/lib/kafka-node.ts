/**
 * One Apache Kafka node in KRaft combined mode (broker + controller in one JVM), on loopback.
 *
 * A cluster is one or more of these sharing a cluster id and a voter list. Besides the
 * PLAINTEXT client listener every node can carry extra listeners (SASL_PLAINTEXT, SSL,
 * SASL_SSL) so that synthq's security settings are tested against a real broker.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { findJava } from './java.ts'
import { DEPLOY_LOCAL_DIR } from './paths.ts'
import { startDetached, type Started } from './process.ts'
import { KAFKA_MIN_JAVA } from './versions.ts'

export type SecurityProtocol = 'SASL_PLAINTEXT' | 'SSL' | 'SASL_SSL'

export interface ExtraListener {
  /** Listener name, e.g. SASL_PLAINTEXT or SASL_SSL; also its security protocol. */
  protocol: SecurityProtocol
  port: number
}

export interface ScramUser {
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'
  username: string
  password: string
}

export interface TlsFiles {
  /** PEM file holding the broker's private key (PKCS#8, unencrypted) and certificate chain. */
  keystorePem: string
  /** PEM file of the CA that signs client certificates (for mTLS); optional. */
  truststorePem?: string
  /** Ask clients for a certificate (ssl.client.auth=required). */
  requireClientCert?: boolean
}

export interface KafkaNodeSpec {
  nodeId: number
  clusterId: string
  /** PLAINTEXT client listener; also used between brokers. */
  port: number
  controllerPort: number
  /** `id@host:port` of every controller in the cluster. */
  voters: string
  dataDir: string
  /** Replication factor of internal topics (offsets, transactions): 1 or the cluster size. */
  internalReplication: number
  extraListeners?: ExtraListener[]
  scramUsers?: ScramUser[]
  /** Users for SASL/PLAIN: name → password. */
  plainUsers?: Record<string, string>
  tls?: TlsFiles
  heapMb?: number
}

function jaasQuote (s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

export function serverProperties (spec: KafkaNodeSpec): string {
  const host = '127.0.0.1'
  const extra = spec.extraListeners ?? []
  const listeners = [`PLAINTEXT://${host}:${spec.port}`, ...extra.map((l) => `${l.protocol}://${host}:${l.port}`)]
  const minIsr = Math.min(2, spec.internalReplication)
  const props: Record<string, string | number> = {
    'process.roles': 'broker,controller',
    'node.id': spec.nodeId,
    'controller.quorum.voters': spec.voters,
    listeners: [...listeners, `CONTROLLER://${host}:${spec.controllerPort}`].join(','),
    'advertised.listeners': listeners.join(','),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT', ...extra.map((l) => `${l.protocol}:${l.protocol}`)].join(','),
    'log.dirs': join(spec.dataDir, 'log'),
    'num.partitions': 1,
    'default.replication.factor': spec.internalReplication,
    // A small cluster cannot host the default replication factor of 3 (or, on one node, any
    // replication): without these, consumer groups and transactions never become available.
    'offsets.topic.replication.factor': spec.internalReplication,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': spec.internalReplication,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': 10,
    'share.coordinator.state.topic.replication.factor': spec.internalReplication,
    'share.coordinator.state.topic.min.isr': minIsr,
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': 'false',
    'log.segment.bytes': 64 * 1024 * 1024,
  }
  const sasl = extra.some((l) => l.protocol.startsWith('SASL'))
  if (sasl) {
    const mechanisms = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']
    props['sasl.enabled.mechanisms'] = mechanisms.join(',')
    for (const l of extra.filter((x) => x.protocol.startsWith('SASL'))) {
      const name = l.protocol.toLowerCase()
      const users = Object.entries(spec.plainUsers ?? {}).map(([u, p]) => `user_${u}=${jaasQuote(p)}`).join(' ')
      props[`listener.name.${name}.plain.sasl.jaas.config`] = `org.apache.kafka.common.security.plain.PlainLoginModule required ${users};`
      for (const m of ['scram-sha-256', 'scram-sha-512']) {
        props[`listener.name.${name}.${m}.sasl.jaas.config`] = 'org.apache.kafka.common.security.scram.ScramLoginModule required;'
      }
    }
  }
  if (spec.tls) {
    for (const l of extra.filter((x) => x.protocol.endsWith('SSL'))) {
      const name = l.protocol.toLowerCase()
      props[`listener.name.${name}.ssl.keystore.type`] = 'PEM'
      props[`listener.name.${name}.ssl.keystore.location`] = spec.tls.keystorePem
      if (spec.tls.truststorePem) {
        props[`listener.name.${name}.ssl.truststore.type`] = 'PEM'
        props[`listener.name.${name}.ssl.truststore.location`] = spec.tls.truststorePem
      }
      if (spec.tls.requireClientCert && l.protocol === 'SSL') props[`listener.name.${name}.ssl.client.auth`] = 'required'
    }
  }
  return Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n'
}

function javaArgs (libs: string, heapMb: number): string[] {
  return [
    `-Xms${Math.min(128, heapMb)}m`, `-Xmx${heapMb}m`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(DEPLOY_LOCAL_DIR, 'log4j2.xml')}`,
    '-cp', `${libs}/*`,
  ]
}

/**
 * A fresh cluster id in Kafka's format (base64url of 16 random bytes, no padding). Like Kafka's
 * own Uuid.randomUuid, never one that starts with '-', which command-line parsers read as an
 * option.
 */
export function newClusterId (): string {
  for (;;) {
    const bytes = new Uint8Array(16)
    crypto.getRandomValues(bytes)
    const id = Buffer.from(bytes).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

/** Writes server.properties and formats the node's storage (SCRAM users are created here). */
export function formatNode (libs: string, spec: KafkaNodeSpec): string {
  mkdirSync(spec.dataDir, { recursive: true })
  const propsFile = join(spec.dataDir, 'server.properties')
  writeFileSync(propsFile, serverProperties(spec), { mode: 0o600 })
  const java = findJava(KAFKA_MIN_JAVA, 'Apache Kafka')
  const scram = (spec.scramUsers ?? []).flatMap((u) => ['--add-scram', `${u.mechanism}=[name=${u.username},password=${u.password}]`])
  const r = spawnSync(java.bin, [...javaArgs(libs, 256), 'kafka.tools.StorageTool', 'format', `--cluster-id=${spec.clusterId}`, '--config', propsFile, '--ignore-formatted', ...scram],
    { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`Formatting Kafka node ${spec.nodeId} failed:\n${(r.stdout + r.stderr).trim()}`)
  return propsFile
}

export function startNode (libs: string, spec: KafkaNodeSpec): Started {
  const propsFile = formatNode(libs, spec)
  const java = findJava(KAFKA_MIN_JAVA, 'Apache Kafka')
  return startDetached(java.bin, [...javaArgs(libs, spec.heapMb ?? 512), 'kafka.Kafka', propsFile], {
    cwd: spec.dataDir,
    log: join(spec.dataDir, 'kafka.log'),
    pidFile: join(spec.dataDir, 'kafka.pid'),
  })
}
