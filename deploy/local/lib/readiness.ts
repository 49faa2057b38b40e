/**
 * Readiness by real client calls, never by sleeping: the broker is ready when a KafkaJS admin
 * client sees every node in the cluster's metadata; the registry when `GET /subjects` answers.
 */
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs'
import { request } from 'undici'
import { setTimeout as sleep } from 'node:timers/promises'

export async function kafkaBrokers (config: Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'>, timeoutMs = 5_000): Promise<number> {
  const kafka = new Kafka({ ...config, clientId: 'synthq-infra-probe', logLevel: logLevel.NOTHING, connectionTimeout: timeoutMs, requestTimeout: timeoutMs, retry: { retries: 0 } })
  const admin = kafka.admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    return cluster.brokers.length
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

export async function registryAnswers (url: string, timeoutMs = 5_000): Promise<boolean> {
  try {
    const res = await request(`${url}/subjects`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    await res.body.text()
    return res.statusCode === 200
  } catch {
    return false
  }
}

export interface WaitOptions {
  timeoutMs: number
  /** Called between attempts; throw from it to stop waiting (e.g. the process died). */
  check?: () => void
}

export async function waitFor (what: string, probe: () => Promise<boolean>, opts: WaitOptions): Promise<number> {
  const started = Date.now()
  let lastError = ''
  while (Date.now() - started < opts.timeoutMs) {
    opts.check?.()
    try {
      if (await probe()) return Date.now() - started
    } catch (err) {
      lastError = (err as Error).message
    }
    await sleep(250)
  }
  throw new Error(`${what} not ready after ${opts.timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ''}`)
}
