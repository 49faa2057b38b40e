/**
 * Runs a topology on Kafka: creates its topics, loads its tables, and runs each stage as its
 * own consumer group (`<prefix>.<stage>`). Several stages run in one process; each stage scales
 * out by starting the same topology in more processes, which share its partitions.
 */
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import type { KafkaConnection } from '../../config/connection.ts'
import type { LlmClient } from '../../llm/client.ts'
import type { Logger } from '../../log.ts'
import type { TableView } from '../../processors/processor.ts'
import type { AvroSerde } from '../../serde/avro-serde.ts'
import type { Topology } from '../../topologies/topology.ts'
import { SynthqError } from '../../errors.ts'
import { DEFAULT_TOPIC_PREFIX, namespacedTopic, stageGroup, type TopicName, type TopicNamespace } from '../../topics.ts'
import { tablesOf } from '../promotions.ts'
import type { RetryPolicy } from '../retry.ts'
import { createEngines, type StageEngine } from '../stage-engine.ts'
import { StatefulEngine, type StatefulStageStats } from '../stateful-engine.ts'
import type { LagReader } from '../transport.ts'
import type { Runner, RunnerLocation } from '../runner.ts'
import { KafkaStatefulStage } from './kafka-stateful-stage.ts'
import { createKafka } from './client.ts'
import { retryWhileUnreachable } from './retry-unreachable.ts'
import { KafkaStage, type AbortInjection, type DeliveryMode, type StageFaults, type StageStats } from './kafka-stage.ts'
import { KafkaTable } from './kafka-table.ts'
import { KafkaTransport } from './kafka-transport.ts'
import { ensureTopics, type TopicLayout } from './topic-admin.ts'
import { stageConcurrency } from '../stage-concurrency.ts'
import { publishRunnerState } from '../lifecycle-events.ts'

export interface KafkaRunnerOptions {
  connection: KafkaConnection
  serde: AvroSerde
  logger: Logger
  prefix?: string
  /**
   * A shadow run (`synthq shadow`): these topics are written and read under the shadow prefix,
   * and the stages' consumer groups live there too; inputs and tables are the live ones.
   */
  shadow?: TopicNamespace['shadow']
  /** Default exactly-once: outputs and offsets in one transaction. */
  mode?: DeliveryMode
  /** Records in flight per stage (a stage may set its own). Default 64: LLM calls take seconds. */
  concurrency?: number
  maxQueuedPerPartition?: number
  maxBufferedBytes?: number
  commitIntervalMs?: number
  /** Consumer session timeout (default 30 s; the broker's minimum is 6 s). */
  sessionTimeoutMs?: number
  /** How long SIGINT/SIGTERM waits for in-flight records. */
  drainTimeoutMs?: number
  topics?: TopicLayout
  retry?: RetryPolicy
  runId?: string
  /** Run only these stages of the topology (default: all). */
  stages?: string[]
  /** The LLM client for stages declared with `llm: true` (the caller owns and closes it). */
  llm?: LlmClient
  /** Tests only: abort this share of transactions at random, the stages' and the stateful stages' checkpoints (see KafkaStage, KafkaStatefulStage). */
  abortRate?: AbortInjection
  /** A stateful stage was fenced by another instance of it (it has stopped). */
  onFenced?: (err: Error) => void
  /**
   * A stage stopped taking records for a reason a restart of this process does not fix by
   * itself (an LLM endpoint refusing the key; an outage past `infraRetryLimitMs`). Its
   * unfinished records stay uncommitted. The caller decides: usually stop the process.
   */
  onFatal?: (err: Error) => void
  /** How long a record may fail for reasons not its own before its stage halts (default 5 min). */
  infraRetryLimitMs?: number
  /**
   * How long `start()` keeps trying while Kafka or the schema registry cannot be reached
   * (default `infraRetryLimitMs`). Replicas restarted during a broker bounce or a registry
   * restart wait it out instead of exiting.
   */
  startRetryLimitMs?: number
  /** Tests only: faults injected into every stage (see KafkaStage). */
  faults?: StageFaults
}

export class KafkaRunner implements Runner {
  readonly kind = 'kafka'
  readonly topology: Topology
  readonly runId: string
  readonly #o: KafkaRunnerOptions
  readonly #prefix: string
  readonly #ns: TopicNamespace
  readonly #kafka: Kafka
  readonly #tables = new Map<TopicName, KafkaTable>()
  readonly #stages: KafkaStage[] = []
  readonly #engines: StageEngine[] = []
  readonly #stateful: Array<{ engine: StatefulEngine, stage: KafkaStatefulStage }> = []
  /** Aborts a start that is waiting to try again (stop() was called). */
  readonly #stopRequested = new AbortController()
  #starting: Promise<void> | undefined

  constructor (topology: Topology, o: KafkaRunnerOptions) {
    this.topology = topology
    this.#o = o
    this.#prefix = o.prefix ?? DEFAULT_TOPIC_PREFIX
    this.#ns = { prefix: this.#prefix, ...(o.shadow ? { shadow: o.shadow } : {}) }
    for (const name of o.shadow?.topics ?? []) o.serde.bindTopic(namespacedTopic(this.#ns, name), name)
    this.runId = o.runId ?? randomUUID()
    this.#kafka = createKafka(o.connection, o.logger)
  }

  /**
   * Creates the topics, registers the schemas, loads the tables and starts every stage. A start
   * that fails because Kafka or the registry cannot be reached (a broker restarting, the
   * registry down) stops what it had started and tries again with backoff, for at most
   * `startRetryLimitMs`; any other failure (bad credentials, an incompatible schema, a state
   * that cannot be restored) is thrown at once.
   */
  async start (): Promise<void> {
    this.#publishState('starting')
    this.#starting = this.#start()
    try {
      await this.#starting
    } catch (err) {
      if (!this.#stopRequested.signal.aborted) this.#publishState('failed', err)
      throw err
    }
    if (!this.#stopRequested.signal.aborted) this.#publishState('started')
  }

  /** `synthq:runner:state` (readiness and liveness follow it). */
  #publishState (state: 'starting' | 'started' | 'stopping' | 'stopped' | 'failed', err?: unknown): void {
    publishRunnerState({ runner: 'kafka', runId: this.runId, topology: this.topology, prefix: this.#prefix, stages: this.#o.stages }, state, err)
  }

  async #start (): Promise<void> {
    await retryWhileUnreachable(async () => { await this.#startOnce() }, {
      limitMs: this.#o.startRetryLimitMs ?? this.#o.infraRetryLimitMs ?? 5 * 60_000,
      signal: this.#stopRequested.signal,
      cleanUp: async () => { await this.#stopParts({ forget: true }) },
      logger: this.#o.logger,
      message: 'Kafka or the schema registry cannot be reached while starting; trying again',
    })
  }

  async #startOnce (): Promise<void> {
    const { logger } = this.#o
    const admin = this.#kafka.admin()
    await admin.connect()
    try {
      await ensureTopics(admin, { prefix: this.#prefix, ...this.#o.topics })
      if (this.#ns.shadow) await ensureTopics(admin, { ...this.#o.topics, prefix: this.#ns.shadow.prefix, only: this.#ns.shadow.topics })
    } finally {
      await admin.disconnect()
    }
    this.#throwIfStopping()
    await this.#o.serde.registerAll()
    this.#throwIfStopping()
    // Stateful stages first: a state that cannot be restored stops the start before anything runs.
    for (const spec of this.topology.statefulStages.filter((s) => !this.#o.stages || this.#o.stages.includes(s.name))) {
      const engine = new StatefulEngine({ stage: spec, serde: this.#o.serde, prefix: this.#prefix, namespace: this.#ns, runId: this.runId, logger, runner: 'kafka', topology: this.topology.name, ...(this.#o.llm ? { llm: this.#o.llm } : {}) })
      await engine.init()
      const stage = new KafkaStatefulStage({ kafka: this.#kafka, engine, groupId: stageGroup(this.#ns, spec.name), sessionTimeoutMs: this.#o.sessionTimeoutMs ?? 30_000, logger, ...(this.#o.onFenced ? { onFenced: this.#o.onFenced } : {}), ...(this.#o.abortRate ? { abortRate: this.#o.abortRate } : {}) })
      this.#stateful.push({ engine, stage })
      await stage.start()
      this.#throwIfStopping()
    }
    for (const name of tablesOf(this.topology, this.#ns, this.#o.stages)) {
      const t = new KafkaTable(this.#kafka, this.#o.serde, namespacedTopic(this.#ns, name), logger)
      this.#tables.set(name, t)
      await t.start()
      this.#throwIfStopping()
    }
    const engines = await createEngines(this.topology, this.#tables, { serde: this.#o.serde, prefix: this.#prefix, namespace: this.#ns, runId: this.runId, logger, ...(this.#o.retry ? { retry: this.#o.retry } : {}), ...(this.#o.stages ? { stages: this.#o.stages } : {}), ...(this.#o.llm ? { llm: this.#o.llm } : {}) })
    for (const engine of engines) {
      const spec = engine.stage
      this.#engines.push(engine)
      const stage = new KafkaStage({
        kafka: this.#kafka,
        engine,
        groupId: stageGroup(this.#ns, spec.name),
        mode: this.#o.mode ?? 'exactly-once',
        concurrency: stageConcurrency(spec, this.#o),
        maxQueuedPerPartition: this.#o.maxQueuedPerPartition ?? 2_000,
        maxBufferedBytes: this.#o.maxBufferedBytes ?? 64 * 1024 * 1024,
        commitIntervalMs: this.#o.commitIntervalMs ?? 100,
        sessionTimeoutMs: this.#o.sessionTimeoutMs ?? 30_000,
        logger,
        ...(this.#o.abortRate ? { abortRate: this.#o.abortRate } : {}),
        ...(this.#o.onFatal ? { onFatal: this.#o.onFatal } : {}),
        ...(this.#o.infraRetryLimitMs !== undefined ? { infraRetryLimitMs: this.#o.infraRetryLimitMs } : {}),
        ...(this.#o.faults ? { faults: this.#o.faults } : {}),
      })
      this.#stages.push(stage)
      await stage.start()
      this.#throwIfStopping()
    }
    logger.info({ topology: this.topology.name, stages: [...engines.map((e) => e.stage.name), ...this.#stateful.map((s) => s.engine.stage.name)], runId: this.runId, mode: this.#o.mode ?? 'exactly-once' }, 'topology running on Kafka')
  }

  table (name: TopicName): TableView | undefined {
    return this.#tables.get(name)?.table
  }

  /** Each stage's processor figures (see Processor.metrics). */
  metrics (): Record<string, Record<string, number>> {
    return Object.fromEntries([...this.#engines, ...this.#stateful.map((s) => s.engine)].map((e) => [e.stage.name, e.metrics()]))
  }

  get location (): RunnerLocation {
    return { brokers: this.#o.connection.brokers }
  }

  /** Lag from the stages' consumer groups, through an admin client of the reader's own. */
  lagReader (): LagReader {
    return new KafkaTransport({ kafka: this.#kafka, serde: this.#o.serde, logger: this.#o.logger })
  }

  stats (): Record<string, StageStats | StatefulStageStats> {
    return Object.fromEntries([
      ...this.#stages.map((s, i) => [this.#engines[i]!.stage.name, s.snapshot()] as const),
      ...this.#stateful.map((s) => [s.engine.stage.name, s.stage.snapshot()] as const),
    ])
  }

  /** End of input for the stateful stages (a bounded run): release what they hold back. */
  async flush (): Promise<void> {
    await Promise.all(this.#stateful.map((s) => s.stage.flush()))
  }

  /** Stateful stages' read positions (next offset per input partition). */
  positions (): Record<string, Record<number, number>> {
    return Object.fromEntries(this.#stateful.map((s) => [s.engine.stage.name, Object.fromEntries(s.engine.positions())]))
  }

  /**
   * Stops every stage. A stop during `start` ends the start at its next step (the start then
   * rejects) and stops what it had started: a worker told to stop while still joining stops too.
   */
  async stop (): Promise<void> {
    this.#publishState('stopping')
    this.#stopRequested.abort()
    await this.#starting?.catch(() => {})
    await this.#stopParts()
    this.#publishState('stopped')
  }

  /** Ends a start in progress once `stop` has been called (what it started is stopped by `stop`). */
  #throwIfStopping (): void {
    if (this.#stopRequested.signal.aborted) throw new SynthqError('SYNTHQ_STOPPED', `topology ${this.topology.name}: stopped while starting`)
  }

  /** Stops whatever has started; `forget` drops it too (a start that failed tries again afresh). */
  async #stopParts (o: { forget?: boolean } = {}): Promise<void> {
    const deadline = this.#o.drainTimeoutMs ?? 30_000
    await Promise.all(this.#stages.map((s) => s.stop(deadline)))
    await Promise.all(this.#stateful.map((s) => s.stage.stop()))
    await Promise.all([...this.#tables.values()].map((t) => t.stop()))
    for (const e of this.#engines) await e.close()
    for (const s of this.#stateful) await s.engine.close()
    if (!o.forget) return // stats() still tells what the stopped stages did
    this.#stages.length = 0
    this.#engines.length = 0
    this.#stateful.length = 0
    this.#tables.clear()
  }
}

