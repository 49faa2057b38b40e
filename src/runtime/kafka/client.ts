/**
 * Builds KafkaJS clients from a {@link KafkaConnection}. This folder is the only place that
 * knows KafkaJS (an ESLint rule enforces it): everything else reaches Kafka through the
 * runtime's transport seam (../transport.ts) or a runner (../runner.ts).
 */
import kafkajs, { type KafkaConfig, type LogEntry, type Producer, type SASLOptions } from 'kafkajs'
import type { KafkaConnection } from '../../config/connection.ts'
import { readPem } from '../../config/connection.ts'
import type { Logger } from '../../log.ts'
import { registerCodecs } from './codecs.ts'
import { bridgeProducer, type ClientOwner } from './kafka-diagnostics.ts'
import { packageRequire } from '../../package-root.ts'
import { isRetriable } from '../retry.ts'

const { Kafka, logLevel } = kafkajs

/**
 * Messages of the broker errors Kafka marks retriable (a coordinator loading, a leader election,
 * a concurrent transaction, a rebalance): KafkaJS logs every such response at error level even
 * though its client retries it, so each worker start or rebalance printed dozens of "errors".
 */
const RETRIABLE_BROKER_ERRORS: ReadonlySet<string> = new Set(
  // KafkaJS's table of broker error codes: not part of its typed API (the package has no exports map).
  (packageRequire('kafkajs/src/protocol/error.js') as { errorCodes: Array<{ message: string, retriable: boolean }> })
    .errorCodes.filter((e) => e.retriable).map((e) => e.message),
)

/** KafkaJS log entries go to the synthq logger as structured child records. */
function logCreator (logger: Logger) {
  return () => ({ namespace, level, label, log }: LogEntry) => {
    const { message, timestamp: _t, logger: _l, ...rest } = log
    const child = logger.child({ component: 'kafkajs', namespace })
    const fields = { ...rest }
    const transient = typeof (rest as { error?: unknown }).error === 'string' && RETRIABLE_BROKER_ERRORS.has((rest as { error: string }).error)
    if (transient && level === logLevel.ERROR) child.warn({ ...fields, retriable: true }, message)
    else if (level === logLevel.ERROR || level === logLevel.NOTHING) child.error(fields, message)
    else if (level === logLevel.WARN) child.warn(fields, message)
    else if (level === logLevel.INFO) child.info(fields, message)
    else child.debug({ ...fields, label }, message)
  }
}

/** Client tuning that is not connection identity: retries and timeouts. */
export type KafkaTuning = Pick<KafkaConfig, 'retry' | 'connectionTimeout' | 'requestTimeout'>

export function kafkaConfig (conn: KafkaConnection, logger?: Logger, tuning: KafkaTuning = {}): KafkaConfig {
  registerCodecs()
  const config: KafkaConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    logLevel: logLevel.WARN,
    ...(logger ? { logCreator: logCreator(logger) } : {}),
    ...tuning,
  }
  if (conn.tls) {
    const t = conn.tls
    config.ssl = {
      rejectUnauthorized: t.rejectUnauthorized,
      ...(t.caFile ? { ca: [readPem(t.caFile, 'SYNTHQ_KAFKA_SSL_CA_FILE')] } : {}),
      ...(t.certFile ? { cert: readPem(t.certFile, 'SYNTHQ_KAFKA_SSL_CERT_FILE') } : {}),
      ...(t.keyFile ? { key: readPem(t.keyFile, 'SYNTHQ_KAFKA_SSL_KEY_FILE') } : {}),
      ...(t.keyPassword ? { passphrase: t.keyPassword.reveal() } : {}),
    }
  }
  if (conn.sasl) {
    config.sasl = { mechanism: conn.sasl.mechanism, username: conn.sasl.username, password: conn.sasl.password.reveal() } as SASLOptions
  }
  return config
}

export function createKafka (conn: KafkaConnection, logger?: Logger, tuning?: KafkaTuning): InstanceType<typeof Kafka> {
  return new Kafka(kafkaConfig(conn, logger, tuning))
}

/**
 * A connected transactional producer that has fenced every earlier producer with its
 * transactional id. KafkaJS sends InitProducerId for the transactional id only at the first
 * transaction(), not at connect(), so until then a zombie with the same id could still commit:
 * an empty transaction, begun and aborted, does the initialisation now.
 */
export async function connectFencing (kafka: InstanceType<typeof Kafka>, transactionalId: string, o: { transactionTimeout?: number, bridge?: ClientOwner } = {}): Promise<Producer> {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: o.transactionTimeout ?? 60_000 })
  // A stage's producers report on synthq:kafka:client (attached before connect, to see it).
  if (o.bridge) bridgeProducer(producer, { ...o.bridge, transactionalId })
  await producer.connect()
  try {
    const tx = await producer.transaction()
    await tx.abort()
  } catch (err) {
    await producer.disconnect().catch(() => {})
    throw err
  }
  return producer
}

/**
 * A failure for want of a reachable broker or registry (a broker restarting, the registry
 * down): errors marked retriable (KafkaJS marks its connection, timeout and retriable broker
 * errors so, the registry client its outages), and KafkaJS giving up after its own retries of
 * one. Bad credentials, an unknown topic configuration or an incompatible schema are not.
 */
export function isUnreachableError (err: unknown): boolean {
  if (isRetriable(err)) return true
  const e = err as { name?: unknown, cause?: unknown, originalError?: unknown } | undefined
  if (e?.name === 'KafkaJSNumberOfRetriesExceeded' || e?.name === 'KafkaJSNonRetriableError') {
    const cause = e.originalError ?? e.cause
    return cause !== undefined && cause !== err && isUnreachableError(cause)
  }
  return false
}
