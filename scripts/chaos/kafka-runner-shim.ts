/**
 * The Kafka runner as the chaos workers see it: synthq's own, with the test-only settings that
 * `synthq run` has no flag for yet taken from the environment —
 *
 *   SYNTHQ_TEST_ABORT_RATE          share of transactions aborted at random (KafkaRunnerOptions.abortRate)
 *   SYNTHQ_TEST_SESSION_TIMEOUT_MS  consumer group session timeout (KafkaRunnerOptions.sessionTimeoutMs)
 *
 * A value the command line already sets wins, so once `synthq run` reads these variables
 * itself this shim changes nothing and can go (with hooks.mjs).
 */
import { KafkaRunner as SynthqKafkaRunner, type KafkaRunnerOptions } from '../../src/runtime/kafka/kafka-runner.ts'
import type { Topology } from '../../src/topologies/topology.ts'

export * from '../../src/runtime/kafka/kafka-runner.ts'

function envNumber (name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, got "${v}"`)
  return n
}

export class KafkaRunner extends SynthqKafkaRunner {
  constructor (topology: Topology, o: KafkaRunnerOptions) {
    const abortRate = o.abortRate ?? envNumber('SYNTHQ_TEST_ABORT_RATE')
    const sessionTimeoutMs = o.sessionTimeoutMs ?? envNumber('SYNTHQ_TEST_SESSION_TIMEOUT_MS')
    super(topology, { ...o, ...(abortRate ? { abortRate } : {}), ...(sessionTimeoutMs ? { sessionTimeoutMs } : {}) })
  }
}
