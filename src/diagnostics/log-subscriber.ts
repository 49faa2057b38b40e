/**
 * Debug logs from the diagnostics channels: each record's outcome, each Kafka commit and each
 * bridged KafkaJS client event, as structured lines of the process logger. Subscribed only when
 * the logger writes debug lines — at the default info level nothing subscribes, so no message
 * is ever built. Rebalances and aborts are not here: the stages log them themselves at info
 * and warn, whatever listens.
 */
import type { Logger } from '../log.ts'
import { subscribe } from './channels.ts'

/** Subscribes the debug logs; returns what unsubscribes them (a no-op above debug level). */
export function logDiagnostics (logger: Logger): () => void {
  if (!logger.isLevelEnabled('debug')) return () => {}
  const log = logger.child({ component: 'diagnostics' })
  const off = [
    subscribe('synthq:stage:record', (m) => log.debug({ stage: m.stage, record: `${m.topic}-${m.partition}-${m.offset}`, outcome: m.outcome, outputs: m.outputs, attempts: m.attempts, durationMs: Math.round(m.durationMs) }, 'record finished')),
    subscribe('synthq:kafka:commit', (m) => log.debug({ stage: m.stage, kind: m.kind, transactional: m.transactional, partitions: m.partitions, records: m.records, outputs: m.outputs, durationMs: Math.round(m.durationMs) }, 'committed')),
    subscribe('synthq:kafka:client', (m) => log.debug({ event: m.event, client: m.client, stage: m.stage, table: m.table, group: m.group, transactionalId: m.transactionalId }, 'kafka client event')),
  ]
  return () => { for (const f of off) f() }
}
