/**
 * synthq's `node:diagnostics_channel` channels: the one place that names each channel and types
 * its message (docs/diagnostics.md is the catalogue). Like undici's `lib/core/diagnostics.js`,
 * publishers build a message only while a channel has subscribers, so an unobserved process
 * pays one property read per event and allocates nothing.
 *
 * This module imports nothing of synthq's, so every layer (runtime, llm, metrics) can publish or
 * subscribe without depending on another.
 */
import diagnosticsChannel from 'node:diagnostics_channel'

/** Which runner a stage ran on. */
export type RunnerName = 'embedded' | 'kafka'

/**
 * What became of an input record: `processed` (it wrote outputs), `filtered` (the processor
 * dropped it: no outputs, no dead letter), `deadLettered` (its only output is a dead letter), or
 * `skipped` (already done before a restart or a rebalance, so passed over).
 */
export type RecordOutcome = 'processed' | 'filtered' | 'deadLettered' | 'skipped'

/** `synthq:stage:record` — a record reached its outcome in a stage, and the runner counted it. */
export interface StageRecordMessage {
  stage: string
  topology: string
  runner: RunnerName
  /** The runner's run id (as in lineage): tells apart two runners in one process. */
  runId: string
  /** The input topic, prefix included. */
  topic: string
  partition: number
  /** Kafka offsets are 64-bit: a decimal string, as KafkaJS gives them. */
  offset: string
  outcome: RecordOutcome
  /** Records written for it (a dead letter counts 1); 0 when skipped. */
  outputs: number
  /** Processor attempts (1 = no retry); 0 when skipped. */
  attempts: number
  /** From the record's start to its outcome, retries included; 0 when skipped. */
  durationMs: number
  /** Set on a stateful stage (the sink), which processes records in batches: `durationMs` is then the batch's. */
  batchSize?: number
}

/** `synthq:kafka:rebalance` — a Kafka stage's consumer joined its group and got its assignment. */
export interface KafkaRebalanceMessage {
  stage: string
  group: string
  topic: string
  memberId: string
  /** The member's whole assignment of `topic` after the join. */
  partitions: number[]
  /** Partitions it did not hold before this join. */
  assigned: number[]
  /** Partitions it held before this join and no longer does. */
  revoked: number[]
}

/** What a Kafka commit covered: a stage's records, or a stateful stage's checkpoint. */
export type CommitKind = 'records' | 'checkpoint'

/** `synthq:kafka:commit` — a Kafka stage committed outputs and input offsets. */
export interface KafkaCommitMessage {
  stage: string
  group: string
  topic: string
  kind: CommitKind
  /** One Kafka transaction (exactly-once), or outputs then offsets (at-least-once). */
  transactional: boolean
  /** Each input partition and the offset committed for it: the next record to read. */
  partitions: Array<{ partition: number, offset: string }>
  /** Input records whose outputs this commit made durable. */
  records: number
  /** Output records written by it (dead letters and, for a checkpoint, state parts included). */
  outputs: number
  durationMs: number
}

/**
 * Why a commit did not go through: `injected` (a test's fault injection aborted it), `fenced`
 * (another producer with its transactional id took over), `failed` (an error; its outcome may be
 * unknown, so the stage starts over from what the broker says is committed).
 */
export type AbortReason = 'injected' | 'fenced' | 'failed'

/** `synthq:kafka:abort` — a Kafka stage's commit was aborted or failed. */
export interface KafkaAbortMessage {
  stage: string
  group: string
  topic: string
  kind: CommitKind
  transactional: boolean
  /** The input partitions the commit was for. */
  partitions: number[]
  reason: AbortReason
  /** The error's message (absent for `injected`). */
  error?: string
}

/** `synthq:kafka:client` — a KafkaJS instrumentation event of one of the runtime's clients. */
export interface KafkaClientMessage {
  /** KafkaJS's event type, e.g. `consumer.crash`, `consumer.rebalancing`, `producer.disconnect`. */
  event: string
  client: 'consumer' | 'producer'
  /** The stage the client works for; absent for a table's consumer. */
  stage?: string
  /** The table topic a table's consumer reads. */
  table?: string
  /** The consumer group (consumers), or the group of the stage (producers). */
  group?: string
  /** The producer's transactional id, if it has one. */
  transactionalId?: string
  /** When KafkaJS emitted it (ms since the epoch). */
  timestamp: number
  /** KafkaJS's payload as it came (see KafkaJS's docs/InstrumentationEvents.md). */
  payload: unknown
}

/** `synthq:llm:request` — an LLM call ended (answered, failed for good, or served from the cache). */
export interface LlmRequestMessage {
  stage: string
  model: string
  /** The endpoint's name in the configuration — never its URL or key. */
  endpoint: string
  kind: 'chat' | 'embeddings'
  status: 'ok' | 'failed' | 'cached'
  /** For `failed`: the error's class (LlmUnavailableError, LlmOutputError, LlmRejectedError) — never its message, which may quote the server. */
  error?: string
  /** HTTP requests the call made (retries and repairs included); 0 when cached. */
  attempts: number
  /** From the call's start to its end, retries included. */
  latencyMs: number
  promptTokens: number
  completionTokens: number
  /** The built-in simulator answered. */
  simulated: boolean
}

/**
 * A runner's life: `starting` (start() was called; a Kafka runner stays here while it retries an
 * unreachable broker or registry), `started` (every stage runs), `stopping` (stop() was called:
 * draining records in flight, committing), `stopped`, or `failed` (its start failed for good).
 */
export type RunnerState = 'starting' | 'started' | 'stopping' | 'stopped' | 'failed'

/** A stage as a runner names it in `synthq:runner:state`. */
export interface RunnerStage {
  stage: string
  /** Its consumer group on Kafka, its consumer's name in the embedded log: `<prefix>.<stage>`. */
  group: string
  /** Its input topic, prefix included. */
  topic: string
  /** A stateful stage (the sink): batches and checkpoints, one instance per pipeline. */
  stateful: boolean
}

/** `synthq:runner:state` — a runner (either kind) changed state. */
export interface RunnerStateMessage {
  runner: RunnerName
  /** The runner's run id (as in lineage): tells apart two runners in one process. */
  runId: string
  topology: string
  state: RunnerState
  /** The stages it runs (those it was told to run, with --stage). */
  stages: RunnerStage[]
  /** For `failed`: the error's message. */
  error?: string
}

/**
 * `synthq:stage:halted` — a stage stopped taking records for a reason a retry does not fix (an
 * LLM endpoint refusing the key, an outage past the retry limit, its Kafka consumer stopped for
 * good, a stateful stage fenced by a newer instance). Its unfinished records stay uncommitted;
 * `synthq run` stops the process.
 */
export interface StageHaltedMessage {
  stage: string
  topology: string
  runner: RunnerName
  runId: string
  /** The error's code (`SYNTHQ_INFRA_UNAVAILABLE`, `SYNTHQ_STATE_FENCED`, …), else its class name. */
  code: string
  /** The error's message, as `synthq run` prints it when it stops. */
  error: string
}

/**
 * A partition's life in a Kafka stage: `starting` (paused while its producer fences earlier ones
 * and the committed offset is read), `started` (consuming from the committed offset), `released`
 * (moved to another member at a rebalance, or dropped to start over after a commit of unknown
 * outcome), `fenced` (released because a newer producer took its transactional id while this
 * member still held it: another member owns it now, or a rebalance is on its way to say so).
 */
export type KafkaPartitionState = 'starting' | 'started' | 'released' | 'fenced'

/** `synthq:kafka:partition` — a partition of a Kafka stage's input changed state in this member. */
export interface KafkaPartitionMessage {
  stage: string
  group: string
  topic: string
  runId: string
  partition: number
  state: KafkaPartitionState
  /** Why: `assigned`, `commit failed`, `fenced`, `fenced while starting`, `rebalance`, … */
  reason: string
  /** For `started`: the committed offset it starts from (a decimal string). */
  committed?: string
}

/** Every channel's name and message type. */
export interface ChannelMessages {
  'synthq:stage:record': StageRecordMessage
  'synthq:kafka:rebalance': KafkaRebalanceMessage
  'synthq:kafka:commit': KafkaCommitMessage
  'synthq:kafka:abort': KafkaAbortMessage
  'synthq:kafka:client': KafkaClientMessage
  'synthq:llm:request': LlmRequestMessage
  'synthq:runner:state': RunnerStateMessage
  'synthq:stage:halted': StageHaltedMessage
  'synthq:kafka:partition': KafkaPartitionMessage
}

export type ChannelName = keyof ChannelMessages

/** A channel whose messages are of type `M`. */
export interface TypedChannel<M> {
  readonly name: string
  readonly hasSubscribers: boolean
  publish (message: M): void
}

const channel = <N extends ChannelName>(name: N): TypedChannel<ChannelMessages[N]> => diagnosticsChannel.channel(name) as unknown as TypedChannel<ChannelMessages[N]>

/** The channels, held here for the life of the process (Node keeps unreferenced channels weakly). */
export const channels = {
  stageRecord: channel('synthq:stage:record'),
  kafkaRebalance: channel('synthq:kafka:rebalance'),
  kafkaCommit: channel('synthq:kafka:commit'),
  kafkaAbort: channel('synthq:kafka:abort'),
  kafkaClient: channel('synthq:kafka:client'),
  llmRequest: channel('synthq:llm:request'),
} as const

/**
 * The lifecycle channels: runners starting and stopping, stages halting, Kafka partitions
 * starting, moving and being fenced. What liveness and readiness (/healthz, /readyz,
 * src/metrics/health.ts) follow; as rare as the runner's own state changes.
 */
export const lifecycleChannels = {
  runnerState: channel('synthq:runner:state'),
  stageHalted: channel('synthq:stage:halted'),
  kafkaPartition: channel('synthq:kafka:partition'),
} as const

/**
 * Publishes the message `build` makes, only if `ch` has subscribers: without any, `build` is not
 * called and nothing is allocated for the message.
 */
export function publish<M> (ch: TypedChannel<M>, build: () => M): void {
  if (ch.hasSubscribers) ch.publish(build())
}

/** Subscribes `handler` to a channel with its message typed; returns the unsubscribe function. */
export function subscribe<N extends ChannelName> (name: N, handler: (message: ChannelMessages[N]) => void): () => void {
  const listener = (message: unknown): void => handler(message as ChannelMessages[N])
  diagnosticsChannel.subscribe(name, listener)
  return () => { diagnosticsChannel.unsubscribe(name, listener) }
}

/** The LLM client's publish call (src/llm): one message per call, built only when someone listens. */
export function publishLlmRequest (build: () => LlmRequestMessage): void {
  publish(channels.llmRequest, build)
}
