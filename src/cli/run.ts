/**
 * `synthq run <topology>` / `synthq start`: runs a topology until Ctrl-C (or, with
 * --until-idle, until the embedded runner has nothing left to do). SIGINT/SIGTERM drain the
 * records in flight within --drain-timeout, commit, and exit 0; a second Ctrl-C exits at once
 * (uncommitted work is redone on the next start, never lost), and so does a stop that overruns
 * the drain timeout plus a grace (src/cli/exit.ts).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { kafkaConnectionFromEnv, registryConnectionFromEnv } from '../config/connection.ts'
import { localInfraAddresses } from '../config/local-infra.ts'
import { ConfigError, SynthqError } from '../errors.ts'
import { stopOnSignals } from './exit.ts'
import { LlmClient, type LlmObserver } from '../llm/client.ts'
import { readLlmConfigFile, resolveLlmSettings, SIM_STAGE_MODELS, type EndpointSettings, type LlmSettings } from '../llm/config.ts'
import { firstAnswersNote, processUsage } from '../llm/usage.ts'
import { startLlmSim, type LlmSim } from '../llm/sim/server.ts'
import { DatabaseLimits } from '../llm/shared/database-limits.ts'
import type { SharedLimits } from '../llm/shared/limits.ts'
import type { LlmDatabase } from '../llm/store.ts'
import type { Logger } from '../log.ts'
import { processEndpoint, type MetricsSettings } from '../metrics/process-endpoint.ts'
import { SYNTHQ_VERSION } from '../version.ts'
import { REPO_DATA } from '../data-paths.ts'
import type { Runner } from '../runtime/runner.ts'
import { EmbeddedRunner } from '../runtime/embedded/embedded-runner.ts'
import type { DeliveryMode } from '../runtime/kafka/kafka-stage.ts'
import { SchemaCatalog } from '../serde/schema-catalog.ts'
import { DEFAULT_PIPELINE_OPTIONS, type PipelineOptions } from '../topologies/options.ts'
import { TOPOLOGIES } from '../topologies/registry.ts'
import { embeddingStages, llmStages, stageNames } from '../topologies/topology.ts'
import { DEFAULT_TOPIC_PREFIX, namespacedTopic, stageGroup, topicName } from '../topics.ts'
import { shadowTopology, type ShadowPlan, type ShadowRun } from '../topologies/shadow.ts'
import type { ShadowStart } from '../ops/shadow.ts'

export { TOPOLOGIES }

/** The embedded BM25 index `synthq index build` writes by default. */
export function defaultSearchIndex (): string {
  return process.env.SYNTHQ_SEARCH_INDEX ?? join(process.cwd(), '.synthq', 'search', 'index.db')
}

export const DEMO_DATA = join(REPO_DATA, 'demo', 'c4-en-validation-sample.jsonl')

export interface RunOptions {
  topology: string
  runner: 'embedded' | 'kafka'
  db: string
  prefix: string
  concurrency?: number
  mode: DeliveryMode
  untilIdle: boolean
  demoData: boolean
  drainTimeoutMs: number
  partitions: number
  replication: number
  /** Config file with an `llm:` section. */
  config?: string
  /** 'sim': stages with no configured endpoint use the built-in simulator (answers labelled simulated). */
  llm?: 'sim'
  /** Run only these stages (default: all). */
  stages?: string[]
  pipeline?: PipelineOptions
  /** The Prometheus endpoint (default on, 127.0.0.1, any free port). */
  metrics?: MetricsSettings
  /** `synthq shadow`: run a stage with another prompt version into shadow topics (src/topologies/shadow.ts). */
  shadow?: { plan: ShadowPlan, from: ShadowStart }
}

const out = (line: string): void => { process.stderr.write(`${line}\n`) }

/** The bundled C4 sample as Document records (id: a hash of the text). */
export function demoDocuments (): Array<{ key: string, value: Record<string, unknown> }> {
  return readFileSync(DEMO_DATA, 'utf8').trim().split('\n').map((line) => {
    const r = JSON.parse(line) as { text: string, url?: string, timestamp?: string }
    const id = `c4-${createHash('sha256').update(r.text).digest('hex').slice(0, 16)}`
    return { key: id, value: { id, text: r.text, url: r.url ?? null, title: null, corpus: 'c4', license: 'ODC-BY', metadata: r.timestamp ? { timestamp: r.timestamp } : {}, ingested_at: Date.now() } }
  })
}

export async function runTopology (opts: RunOptions, logger: Logger): Promise<number> {
  const make = TOPOLOGIES[opts.topology]
  if (!make) throw new ConfigError(`Unknown topology "${opts.topology}" (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
  let topology = make({ options: opts.pipeline ?? DEFAULT_PIPELINE_OPTIONS, searchIndex: defaultSearchIndex() })
  let shadow: ShadowRun | undefined
  if (opts.shadow) {
    shadow = shadowTopology(topology, opts.shadow.plan, opts.prefix)
    topology = shadow.topology
  }
  if (opts.stages) {
    const unknown = opts.stages.filter((st) => !stageNames(topology).includes(st))
    if (unknown.length) throw new ConfigError(`--stage ${unknown.join(', ')}: no such stage in topology ${topology.name} (stages: ${stageNames(topology).join(', ')})`)
  }
  const endpoint = processEndpoint(opts.metrics ?? { enabled: true, host: '127.0.0.1', port: 0 }, { runner: opts.runner }, logger, { topology: topology.name, prefix: shadow?.shadow.prefix ?? opts.prefix, version: SYNTHQ_VERSION })
  const llm = await startLlm(llmStages(topology, opts.stages), opts, logger, embeddingStages(topology), endpoint.metrics)
  let runner: Runner
  let embedded: EmbeddedRunner | undefined
  let where: string
  if (opts.runner === 'embedded') {
    embedded = new EmbeddedRunner(topology, { path: opts.db, logger, prefix: opts.prefix, ...(shadow ? { shadow: shadow.shadow } : {}), drainTimeoutMs: opts.drainTimeoutMs, ...(opts.concurrency ? { concurrency: opts.concurrency } : {}), ...(llm ? { llm: llm.client } : {}), ...(opts.stages ? { stages: opts.stages } : {}) })
    runner = embedded
    where = `the embedded runner (${opts.db})`
  } else {
    if (opts.untilIdle) throw new ConfigError('--until-idle works with the embedded runner only (a Kafka topic has no end)')
    // Imported here: an embedded run need not load KafkaJS and the registry client (~0.1 s of its start).
    const [{ KafkaRunner }, { RegistryClient }, { AvroSerde }] = await Promise.all([
      import('../runtime/kafka/kafka-runner.ts'), import('../serde/registry-client.ts'), import('../serde/avro-serde.ts'),
    ])
    const local = localInfraAddresses()
    const connection = kafkaConnectionFromEnv(process.env, local.brokers ? { brokers: local.brokers } : {})
    const registry = new RegistryClient(registryConnectionFromEnv(process.env, local.url ? { url: local.url } : {}))
    runner = new KafkaRunner(topology, {
      connection, serde: new AvroSerde(registry, SchemaCatalog.load(), { prefix: opts.prefix }), logger, prefix: opts.prefix, mode: opts.mode,
      ...(shadow ? { shadow: shadow.shadow } : {}),
      drainTimeoutMs: opts.drainTimeoutMs, topics: { partitions: opts.partitions, replicationFactor: opts.replication },
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(llm ? { llm: llm.client } : {}),
      ...(opts.stages ? { stages: opts.stages } : {}),
      // Another process started this topology's stateful stage (the sink) and took it over.
      onFenced: (err) => { fatal = err; out(`synthq: ${err.message} — stopping`); process.kill(process.pid, 'SIGTERM') },
      // A stage halted (an endpoint refusing the key, an outage past the retry limit): stop
      // without committing its unfinished records.
      onFatal: (err) => { fatal ??= err; out(`synthq: ${err.message} — stopping`); process.kill(process.pid, 'SIGTERM') },
      // Fault injection for the chaos suite only: abort this share of transactions at random.
      ...(process.env.SYNTHQ_TEST_ABORT_RATE ? { abortRate: Number(process.env.SYNTHQ_TEST_ABORT_RATE) } : {}),
      // How soon a crashed worker's partitions move to the others (Kafka's session timeout).
      ...(sessionTimeoutFromEnv() !== undefined ? { sessionTimeoutMs: sessionTimeoutFromEnv() } : {}),
    })
    where = `Kafka ${connection.brokers.join(',')} (${opts.mode})`
  }
  // SIGINT/SIGTERM drain and commit within --drain-timeout (plus a grace to disconnect); a
  // second signal exits at once. Handled from here on, before anything is started or printed as
  // ready: a signal that came between the "metrics at" line and its handler killed the process
  // outright (exit by signal, no drain).
  const signals = stopOnSignals(async (why) => {
    out(`synthq: ${why}: finishing records in flight (up to ${opts.drainTimeoutMs / 1000} s), then committing…`)
    await runner.stop()
  }, { drainTimeoutMs: opts.drainTimeoutMs, out })
  out(shadow
    ? `synthq: running a SHADOW of stage ${shadow.stage.name} at prompt version ${shadow.version} (live: ${shadow.stage.prompt.version}; stages ${stageNames(topology).join(', ')}) into ${shadow.shadow.prefix}.*, beside the live topology "${topology.name}" on ${where}`
    : `synthq: running topology "${topology.name}" on ${where}`)
  try {
    await endpoint.listen() // /healthz and /readyz answer while the runner starts (docs/metrics.md)
    if (shadow && opts.shadow) {
      // A new shadow's group starts where asked, before its stage joins.
      const [{ openTransport }, { positionShadow }] = await Promise.all([import('../runtime/open-transport.ts'), import('../ops/shadow.ts')])
      const positions = openTransport({ runner: opts.runner, db: opts.db, prefix: opts.prefix }, logger)
      try {
        out(`synthq: shadow ${await positionShadow(positions, shadow, opts.prefix, opts.shadow.from)}`)
      } finally {
        await positions.close()
      }
    }
    await runner.start()
    endpoint.metrics.addRunner(topology.name, runner)
    if (llm) endpoint.metrics.addLlm(llm.client)
    // A shadow reports its own stages' lag (its groups, the live inputs) under its own prefix, so
    // status and dashboards never count it as a worker of the live pipeline.
    await endpoint.start(shadow
      ? { topologies: [topology.name], prefix: shadow.shadow.prefix, runner, stages: [...topology.stages, ...topology.statefulStages].map((st) => ({ stage: st.name, topology: topology.name, input: namespacedTopic({ prefix: opts.prefix, shadow: shadow!.shadow }, st.input), group: stageGroup({ prefix: opts.prefix, shadow: shadow!.shadow }, st.name) })) }
      : { topologies: [topology.name], prefix: opts.prefix, runner })
    if (endpoint.url) out(`synthq: metrics at ${endpoint.url} (synthq status, synthq dashboard)`)
  } catch (err) {
    if (!signals.stopping) {
      // Nothing may keep the process alive after a failed start (half-started stages, the simulator).
      signals.dispose()
      await runner.stop().catch(() => {})
      await endpoint.close()
      await llm?.close()
      throw err
    }
    // Told to stop while starting: the start ended early (SYNTHQ_STOPPED) and the stop below
    // finishes as after any signal.
  }
  if (embedded && !signals.stopping && opts.demoData && embedded.log.head(topicName('documents', opts.prefix)) === 0) {
    const docs = demoDocuments()
    await embedded.produce('documents', docs)
    out(`synthq: fed ${docs.length} demo documents (data/demo, C4 sample) into ${topicName('documents', opts.prefix)}`)
  }

  const progress = (): string => Object.entries(runner.stats()).map(([name, s]) => `${name}: ${s.processed} done, ${s.deadLettered} dead-lettered, ${s.inFlight} in flight`).join(' | ')
  let announcedIdle = false
  const started = Date.now()
  let lastLine = 0
  while (!signals.stopping) {
    await new Promise((r) => setTimeout(r, 100))
    if (signals.stopping) break
    const idle = embedded?.idle() ?? false
    if (Date.now() - lastLine > 2_000 && !idle) { out(`synthq: ${progress()}`); lastLine = Date.now() }
    if (idle && !announcedIdle) {
      announcedIdle = true
      out(`synthq: caught up after ${((Date.now() - started) / 1000).toFixed(1)} s — ${progress()}`)
      if (!shadow) await printSamples(embedded!, opts.prefix)
      if (opts.untilIdle) {
        // Bounded input: the sink places what its topic warm-up still holds, then checkpoints.
        await embedded!.flush()
        await signals.stop('nothing left to do')
        break
      }
      out('synthq: waiting for new records (Ctrl-C to stop)')
    }
    if (!idle) announcedIdle = false
  }
  try {
    await signals.done
    await endpoint.close()
    if (llm) {
      await llm.close()
      // This run's own calls: the database's ledger also holds every other process sharing it.
      const u = processUsage()
      const stages = llm.client.stats().stages
      if (u.length) out(`synthq: LLM usage — ${u.map((r) => `${r.stage}: ${r.requests} requests, ${r.promptTokens}+${r.completionTokens} tokens, ${r.cacheHits} cache hits${firstAnswersNote(stages[r.stage])}${r.costUsd ? `, $${r.costUsd.toFixed(4)}` : ''}`).join(' | ')}`)
    }
  } finally {
    // The command line exits with the code returned (src/cli/exit.ts): whatever a client left
    // open cannot keep the process alive.
    signals.dispose()
  }
  out('synthq: stopped cleanly')
  // 4: stopped by a condition a restart does not fix (fenced, LLM configuration rejected);
  // 1: an outage outlasted the retry limit (a restart later may well succeed).
  if (fatal) return fatal instanceof SynthqError && fatal.code === 'SYNTHQ_INFRA_UNAVAILABLE' ? 1 : 4
  return 0
}

/** SYNTHQ_KAFKA_SESSION_TIMEOUT_MS: the consumer groups' session timeout (Kafka accepts 6–300 s by default). */
function sessionTimeoutFromEnv (env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SYNTHQ_KAFKA_SESSION_TIMEOUT_MS?.trim()
  if (!raw) return undefined
  const v = Number(raw)
  if (!Number.isInteger(v) || v < 1_000) throw new ConfigError(`SYNTHQ_KAFKA_SESSION_TIMEOUT_MS must be a whole number of milliseconds ≥ 1000, got "${raw}"`)
  return v
}

/** Resolves the LLM settings of the topology's LLM stages, starts the simulator if asked, and checks every endpoint. */
export async function startLlm (stages: string[], opts: Pick<RunOptions, 'config' | 'llm' | 'runner' | 'db'> & Partial<Pick<RunOptions, 'prefix' | 'replication'>>, logger: Logger, embeddingStages: string[] = [], observer?: LlmObserver): Promise<{ client: LlmClient, close (): Promise<void> } | undefined> {
  if (stages.length === 0) return undefined
  const file = opts.config ? readLlmConfigFile(opts.config) : undefined
  let sim: LlmSim | undefined
  let fallback: EndpointSettings | undefined
  if (opts.llm === 'sim') {
    sim = await startLlmSim({ profile: 'instant' })
    fallback = { name: 'sim', baseUrl: sim.url, cacheIdentity: 'synthq-llm-sim:instant', apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 256, initialConcurrency: 16, adaptiveConcurrency: true }
  }
  const resolve = (simEmbeddings: boolean): LlmSettings => resolveLlmSettings({ stages, embeddingStages, ...(file ? { file } : {}), ...(fallback ? { fallbackEndpoint: fallback, fallbackModel: 'sim-chat-8b', fallbackStageModels: SIM_STAGE_MODELS, ...(simEmbeddings ? { fallbackEmbeddingModel: 'sim-embed-small' } : {}) } : {}) })
  let settings = resolve(true)
  // Simulated embeddings only go with simulated chat: a pipeline on real models whose sink has no
  // embedding model of its own uses lexical vectors, not the simulator's.
  const onRealModels = stages.some((st) => !embeddingStages.includes(st) && settings.stageNames.includes(st) && settings.stage(st).endpoint !== fallback)
  if (fallback && onRealModels) settings = resolve(false)
  if (sim && !settings.stageNames.some((st) => settings.stage(st).endpoint === fallback)) {
    await sim.close()
    sim = undefined
  } else if (sim) {
    out(`synthq: LLM stages without an endpoint use the built-in SIMULATOR at ${sim.url} — its answers are synthetic and every record made with them is marked simulated`)
  }
  const dbPath = settings.cache.path ?? (opts.runner === 'embedded' ? opts.db : join(process.cwd(), '.synthq', 'llm', 'llm.db'))
  const client = new LlmClient({
    settings, logger, dbPath, ...(observer ? { observer } : {}),
    shared: await sharedLlmLimits(opts, logger),
    onFatal: (err) => { fatal = err; out(`synthq: ${err.message} — stopping`); process.kill(process.pid, 'SIGTERM') },
  })
  try {
    await client.preflight()
  } catch (err) {
    await client.close()
    await sim?.close()
    throw err
  }
  for (const name of stages) {
    if (!settings.stageNames.includes(name)) { out(`synthq: stage ${name} → no embedding endpoint or model configured: lexical vectors`); continue }
    const s = settings.stage(name)
    out(`synthq: stage ${name} → ${s.endpoint.name} ${s.endpoint.baseUrl} model ${s.model}`)
  }
  return { client, close: async () => { await client.close(); await sim?.close() } }
}

let fatal: Error | undefined

/**
 * Rate limits and budget are the pipeline's, not the process's (docs/llm.md, "Limits across
 * workers"): on Kafka, shared by the workers of the topic prefix; on the embedded runner, by the
 * processes using the database.
 */
async function sharedLlmLimits (opts: Pick<RunOptions, 'runner'> & Partial<Pick<RunOptions, 'prefix' | 'replication'>>, logger: Logger): Promise<SharedLimits | ((db: LlmDatabase) => SharedLimits)> {
  if (opts.runner === 'embedded') return (db) => new DatabaseLimits(db)
  const [{ KafkaLlmQuota }, { createKafka }] = await Promise.all([import('../runtime/kafka/llm-quota.ts'), import('../runtime/kafka/client.ts')])
  const local = localInfraAddresses()
  const connection = kafkaConnectionFromEnv(process.env, local.brokers ? { brokers: local.brokers } : {})
  return new KafkaLlmQuota({ kafka: createKafka(connection, logger), prefix: opts.prefix ?? DEFAULT_TOPIC_PREFIX, logger, ...(opts.replication ? { replicationFactor: opts.replication } : {}) })
}

async function printSamples (runner: EmbeddedRunner, prefix: string): Promise<void> {
  const topic = topicName('synthesizedInstructions', prefix)
  const rows = runner.log.read(topic, Math.max(0, runner.log.head(topic) - 2), 2)
  for (const r of rows) {
    const v = await runner.serde.decode<{ instruction: string, lineage: { simulated: boolean, stage: string, upstream: Array<{ id: string }> } }>(topic, r.value)
    out(`synthq: sample ${topic}[${r.offset}]${v.lineage.simulated ? ' (simulated)' : ''}: ${v.instruction.slice(0, 160)}${v.instruction.length > 160 ? '…' : ''}`)
  }
}

