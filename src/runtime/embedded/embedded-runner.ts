/**
 * Runs a topology on one machine with nothing to install: topics, positions and schemas live in
 * one SQLite database (see embedded-log.ts). Same processors, same engine, same concurrency
 * model and the same Confluent wire format as the Kafka runner; Ctrl-C and a restart resume
 * with no loss and no duplicates.
 */
import { randomUUID } from 'node:crypto'
import type { LlmClient } from '../../llm/client.ts'
import type { Logger } from '../../log.ts'
import type { TableView } from '../../processors/processor.ts'
import { SynthqError } from '../../errors.ts'
import { AvroSerde } from '../../serde/avro-serde.ts'
import { SchemaCatalog } from '../../serde/schema-catalog.ts'
import type { Topology } from '../../topologies/topology.ts'
import { DEFAULT_TOPIC_PREFIX, TOPICS, namespacedTopic, stageGroup, topicName, topicSpec, type TopicName, type TopicNamespace } from '../../topics.ts'
import { tablesOf } from '../promotions.ts'
import type { RetryPolicy } from '../retry.ts'
import { createEngines, type StageEngine } from '../stage-engine.ts'
import { StatefulEngine, type StatefulStageStats } from '../stateful-engine.ts'
import { EmbeddedLog } from './embedded-log.ts'
import { EmbeddedRegistry } from './embedded-registry.ts'
import { EmbeddedStage, type EmbeddedStageStats } from './embedded-stage.ts'
import { EmbeddedStatefulStage } from './embedded-stateful-stage.ts'
import { EmbeddedTable } from './embedded-table.ts'
import { embeddedLag } from './embedded-transport.ts'
import type { LagReader } from '../transport.ts'
import type { Runner, RunnerLocation } from '../runner.ts'
import { stageConcurrency } from '../stage-concurrency.ts'
import { publishRunnerState } from '../lifecycle-events.ts'

export interface EmbeddedRunnerOptions {
  /** The database file (created if missing). */
  path: string
  logger: Logger
  prefix?: string
  /** A shadow run (`synthq shadow`): see KafkaRunnerOptions.shadow. */
  shadow?: TopicNamespace['shadow']
  concurrency?: number
  maxQueued?: number
  pollMs?: number
  drainTimeoutMs?: number
  retry?: RetryPolicy
  runId?: string
  durability?: 'normal' | 'full'
  stages?: string[]
  /** The LLM client for stages declared with `llm: true` (the caller owns and closes it). */
  llm?: LlmClient
}

export class EmbeddedRunner implements Runner {
  readonly kind = 'embedded'
  readonly topology: Topology
  readonly runId: string
  readonly log: EmbeddedLog
  readonly serde: AvroSerde
  readonly prefix: string
  readonly #ns: TopicNamespace
  readonly #o: EmbeddedRunnerOptions
  readonly #tables = new Map<TopicName, EmbeddedTable>()
  readonly #stages: EmbeddedStage[] = []
  readonly #engines: StageEngine[] = []
  readonly #stateful: Array<{ engine: StatefulEngine, stage: EmbeddedStatefulStage }> = []
  #starting: Promise<void> | undefined
  #stopRequested = false

  constructor (topology: Topology, o: EmbeddedRunnerOptions) {
    this.topology = topology
    this.#o = o
    this.prefix = o.prefix ?? DEFAULT_TOPIC_PREFIX
    this.#ns = { prefix: this.prefix, ...(o.shadow ? { shadow: o.shadow } : {}) }
    this.runId = o.runId ?? randomUUID()
    const compacted = new Set(TOPICS.filter((t) => t.cleanupPolicy === 'compact').map((t) => topicName(t.name, this.prefix)))
    for (const name of o.shadow?.topics ?? []) if (topicSpec(name).cleanupPolicy === 'compact') compacted.add(namespacedTopic(this.#ns, name))
    this.log = new EmbeddedLog(o.path, { durability: o.durability ?? 'normal', compacted: (t) => compacted.has(t) })
    this.serde = new AvroSerde(new EmbeddedRegistry(this.log.db, o.path), SchemaCatalog.load(), { prefix: this.prefix })
    for (const name of o.shadow?.topics ?? []) this.serde.bindTopic(namespacedTopic(this.#ns, name), name)
  }

  async start (): Promise<void> {
    this.#publishState('starting')
    this.#starting = this.#start()
    try {
      await this.#starting
    } catch (err) {
      if (!this.#stopRequested) this.#publishState('failed', err)
      throw err
    }
    if (!this.#stopRequested) this.#publishState('started')
  }

  /** `synthq:runner:state` (readiness and liveness follow it). */
  #publishState (state: 'starting' | 'started' | 'stopping' | 'stopped' | 'failed', err?: unknown): void {
    publishRunnerState({ runner: 'embedded', runId: this.runId, topology: this.topology, prefix: this.prefix, stages: this.#o.stages }, state, err)
  }

  async #start (): Promise<void> {
    const { logger } = this.#o
    await this.serde.registerAll()
    this.#throwIfStopping()
    // Stateful stages first: a state that cannot be restored stops the start before anything runs.
    for (const spec of this.topology.statefulStages.filter((s) => !this.#o.stages || this.#o.stages.includes(s.name))) {
      const engine = new StatefulEngine({ stage: spec, serde: this.serde, prefix: this.prefix, namespace: this.#ns, runId: this.runId, logger, runner: 'embedded', topology: this.topology.name, ...(this.#o.llm ? { llm: this.#o.llm } : {}) })
      await engine.init()
      const stage = new EmbeddedStatefulStage({ log: this.log, engine, consumer: stageGroup(this.#ns, spec.name), pollMs: this.#o.pollMs ?? 100, logger })
      this.#stateful.push({ engine, stage })
      await stage.start()
      this.#throwIfStopping()
    }
    for (const name of tablesOf(this.topology, this.#ns, this.#o.stages)) {
      const t = new EmbeddedTable(this.log, this.serde, namespacedTopic(this.#ns, name), logger)
      this.#tables.set(name, t)
      await t.start(this.#o.pollMs ?? 100)
      this.#throwIfStopping()
    }
    const engines = await createEngines(this.topology, this.#tables, { serde: this.serde, prefix: this.prefix, namespace: this.#ns, runId: this.runId, logger, ...(this.#o.retry ? { retry: this.#o.retry } : {}), ...(this.#o.stages ? { stages: this.#o.stages } : {}), ...(this.#o.llm ? { llm: this.#o.llm } : {}) })
    for (const engine of engines) {
      const spec = engine.stage
      this.#engines.push(engine)
      const stage = new EmbeddedStage({
        log: this.log, engine, consumer: stageGroup(this.#ns, spec.name),
        concurrency: stageConcurrency(spec, this.#o),
        maxQueued: this.#o.maxQueued ?? 2_000,
        pollMs: this.#o.pollMs ?? 100,
        logger,
      })
      stage.start()
      this.#stages.push(stage)
    }
    logger.info({ topology: this.topology.name, stages: [...engines.map((e) => e.stage.name), ...this.#stateful.map((s) => s.engine.stage.name)], runId: this.runId, db: this.#o.path }, 'topology running on the embedded log')
  }

  #throwIfStopping (): void {
    if (this.#stopRequested) throw new SynthqError('SYNTHQ_STOPPED', `topology ${this.topology.name}: stopped while starting`)
  }

  /** Encodes values and appends them to a topic (what ingest and tests use). */
  async produce (name: TopicName, records: Array<{ key: string, value: unknown }>): Promise<void> {
    const topic = topicName(name, this.prefix)
    const encoded = []
    for (const r of records) encoded.push({ topic, key: r.key, value: await this.serde.encode(topic, r.value) })
    this.log.append(encoded)
  }

  table (name: TopicName): TableView | undefined {
    return this.#tables.get(name)?.table
  }

  /** Every stage has nothing running, queued or unread. */
  idle (): boolean {
    return this.#stages.every((s) => s.idle()) && this.#stateful.every((s) => s.stage.idle())
  }

  /** End of input for the stateful stages (a bounded run): release what they hold back. */
  async flush (): Promise<void> {
    await Promise.all(this.#stateful.map((s) => s.stage.flush()))
  }

  /** Each stage's processor figures (see Processor.metrics). */
  metrics (): Record<string, Record<string, number>> {
    return Object.fromEntries([...this.#engines, ...this.#stateful.map((s) => s.engine)].map((e) => [e.stage.name, e.metrics()]))
  }

  get location (): RunnerLocation {
    return { db: this.#o.path }
  }

  /** Lag from the log's positions (the log is the runner's: stop() closes it). */
  lagReader (): LagReader {
    return { lag: async (stages) => embeddedLag(this.log, stages), close: async () => {} }
  }

  stats (): Record<string, EmbeddedStageStats | StatefulStageStats> {
    return Object.fromEntries([
      ...this.#stages.map((s, i) => [this.#engines[i]!.stage.name, s.snapshot()] as const),
      ...this.#stateful.map((s) => [s.engine.stage.name, s.stage.snapshot()] as const),
    ])
  }

  /** Stops every stage; a stop during `start` ends the start at its next step (it rejects) first. */
  async stop (): Promise<void> {
    this.#publishState('stopping')
    this.#stopRequested = true
    await this.#starting?.catch(() => {})
    const deadline = this.#o.drainTimeoutMs ?? 30_000
    await Promise.all(this.#stages.map((s) => s.stop(deadline)))
    await Promise.all(this.#stateful.map((s) => s.stage.stop()))
    for (const t of this.#tables.values()) t.stop()
    for (const e of this.#engines) await e.close()
    for (const s of this.#stateful) await s.engine.close()
    this.log.close()
    this.#publishState('stopped')
  }
}
