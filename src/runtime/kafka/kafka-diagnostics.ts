/**
 * The Kafka side of synthq's diagnostics channels (src/diagnostics/channels.ts): rebalances as
 * a stage sees them, and KafkaJS's own instrumentation events of the runtime's clients bridged
 * onto `synthq:kafka:client`. Commits and aborts are published where they happen, in the stages.
 */
import type { Consumer, Producer } from 'kafkajs'
import { channels, lifecycleChannels, publish, type KafkaClientMessage, type KafkaPartitionState } from '../../diagnostics/channels.ts'

/**
 * The KafkaJS events bridged: a client's life and its faults, each rare. The per-request,
 * per-fetch, per-batch and heartbeat events are left out on purpose: KafkaJS builds an event
 * object for every listened-to event before synthq can ask whether anyone subscribes, so
 * listening to those would cost on the hot path even in a process nobody observes.
 */
const CONSUMER_EVENTS = ['CONNECT', 'DISCONNECT', 'STOP', 'CRASH', 'REBALANCING', 'GROUP_JOIN', 'REQUEST_TIMEOUT', 'RECEIVED_UNSUBSCRIBED_TOPICS'] as const
const PRODUCER_EVENTS = ['CONNECT', 'DISCONNECT', 'REQUEST_TIMEOUT'] as const

/** Who a client works for, as `synthq:kafka:client` names it. */
export type ClientOwner = Pick<KafkaClientMessage, 'stage' | 'table' | 'group'>

/**
 * Republishes `client`'s lifecycle and fault events on `synthq:kafka:client`. Attach before
 * `connect()` to see the connect event. The listeners stay for the client's life: they are
 * cheap (events are rare) and a subscriber that arrives later still sees them; the message is
 * built only while the channel has subscribers.
 */
export function bridgeConsumer (consumer: Consumer, owner: ClientOwner): void {
  for (const name of CONSUMER_EVENTS) {
    consumer.on(consumer.events[name], (e) => publish(channels.kafkaClient, () => clientMessage('consumer', owner, e)))
  }
}

export function bridgeProducer (producer: Producer, owner: ClientOwner & { transactionalId?: string }): void {
  for (const name of PRODUCER_EVENTS) {
    producer.on(producer.events[name], (e) => publish(channels.kafkaClient, () => clientMessage('producer', owner, e)))
  }
}

function clientMessage (client: KafkaClientMessage['client'], owner: ClientOwner & { transactionalId?: string }, e: { type: string, timestamp: number, payload?: unknown }): KafkaClientMessage {
  return { event: e.type, client, ...owner, timestamp: e.timestamp, payload: e.payload }
}

/**
 * Publishes `synthq:kafka:rebalance`: at a join the group gave this member `partitions` of the
 * stage's topic, where it held `before` until then.
 */
export function publishRebalance (o: { stage: string, group: string, topic: string, memberId: string }, before: ReadonlySet<number>, partitions: readonly number[]): void {
  publish(channels.kafkaRebalance, () => {
    const now = new Set(partitions)
    const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b)
    return { ...o, partitions: sorted(now), assigned: sorted([...now].filter((p) => !before.has(p))), revoked: sorted([...before].filter((p) => !now.has(p))) }
  })
}

/**
 * Publishes `synthq:kafka:partition`: `partition` of the stage's input changed `state` in this
 * member, for `reason` (`committed`: where a started partition consumes from).
 */
export function publishPartition (o: { stage: string, group: string, topic: string, runId: string }, partition: number, state: KafkaPartitionState, reason: string, committed?: number): void {
  publish(lifecycleChannels.kafkaPartition, () => ({ ...o, partition, state, reason, ...(committed !== undefined ? { committed: String(committed) } : {}) }))
}
