/**
 * Opens the transport seam (transport.ts) for a runner: the embedded log in a database file, or
 * Kafka and its schema registry with connection settings from the environment as every synthq
 * command takes them (falling back to `npm run infra:up`'s local infrastructure).
 */
import type { Logger } from '../log.ts'
import { EmbeddedTransport } from './embedded/embedded-transport.ts'
import { KafkaTransport } from './kafka/kafka-transport.ts'
import type { RunnerKind, Transport } from './transport.ts'

export interface OpenTransportOptions {
  runner: RunnerKind
  /** Embedded: the database file. */
  db: string
  prefix: string
  /** Embedded: open the database read-only (it must exist). */
  readOnly?: boolean
  /** Kafka: offsets of each input partition a lag census reads back (default CENSUS_WINDOW). */
  censusWindow?: number
}

export function openTransport (o: OpenTransportOptions, logger: Logger): Transport {
  if (o.runner === 'embedded') return new EmbeddedTransport({ db: o.db, prefix: o.prefix, ...(o.readOnly ? { readOnly: true } : {}) })
  return KafkaTransport.fromEnv(o.prefix, logger, o.censusWindow === undefined ? {} : { censusWindow: o.censusWindow })
}
