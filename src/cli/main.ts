/**
 * `synthq` — the command line.
 *
 *   synthq start                  attribution then synthesis on the shipped data, embedded runner
 *   synthq run <topology>         run a topology (embedded by default, or --runner kafka)
 *   synthq topics                 the topic map (no servers needed)
 *   synthq topics create          create the pipeline's topics on the configured Kafka
 *   synthq schemas register       register every topic's value schema with the registry
 *   synthq schemas check          test local schemas against the registry's latest versions
 *   synthq llm check <topology>   resolve and check the LLM settings of a topology's stages
 *   synthq llm usage              tokens, cost and cache hits recorded in the database
 *   synthq llm-sim                an OpenAI-compatible LLM simulator for trials and tests
 *
 * Connection settings come from the environment (SYNTHQ_KAFKA_*, SYNTHQ_REGISTRY_*, see
 * src/config/connection.ts); without them the local infrastructure from `npm run infra:up` is
 * used when it is running.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { EndpointProbe } from '../llm/client.ts'
import { configPathFrom, defaultDbPath, prefixOf, runnerOf } from '../config/defaults.ts'
import { COMMAND_HELP, HELP } from './help.ts'
import { exitProcess, flushedAtExit } from './exit.ts'
import { SYNTHQ_VERSION } from '../version.ts'

// Everything else is imported by the command that needs it: `synthq --help` or `synthq tap`
// should not pay for loading KafkaJS, SQLite, the OpenAI client and every topology (~0.4 s).

interface Options { prefix: string, partitions: number, replication: number }

function positiveInt (name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`)
  return n
}

async function printTopicMap (opts: Options): Promise<void> {
  const { topicPlan } = await import('../runtime/kafka/topic-admin.ts')
  const { SchemaCatalog } = await import('../serde/schema-catalog.ts')
  const rows = topicPlan({ prefix: opts.prefix }).map((p) => [p.topic, p.spec.key, p.spec.recordName, p.spec.cleanupPolicy, `${p.spec.writtenBy} → ${p.spec.readBy.join(', ')}`])
  const header = ['topic', 'key', 'value schema', 'cleanup', 'written by → read by']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ')
  process.stdout.write([line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n')
  SchemaCatalog.load() // parses every contract: a broken .avsc fails here, before any server is involved
  process.stdout.write(`\n${rows.length} topics; value subjects are <topic>-value; all ${rows.length} Avro contracts in schemas/ parse.\n`)
}

/** Commands whose options main.ts parses itself (the others get argv without --config). */
const OWN_COMMANDS = new Set(['start', 'run', 'topics', 'schemas', 'llm'])

function withoutConfigFlag (argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') { i++; continue }
    if (argv[i]!.startsWith('--config=')) continue
    out.push(argv[i]!)
  }
  return out
}

/** A logger for commands whose stdout is data (tap, export, status, …): logs go to stderr. */
async function stderrLogger (): Promise<Logger> {
  const [{ pino }, { createLogger }] = await Promise.all([import('pino'), import('../log.ts')])
  return flushedAtExit(createLogger({ level: process.env.SYNTHQ_LOG_LEVEL || 'warn' }, pino.destination(2)))
}

async function main (rawArgv: string[]): Promise<number> {
  if (rawArgv.length === 1 && (rawArgv[0] === '--version' || rawArgv[0] === '-V')) {
    process.stdout.write(`synthq ${SYNTHQ_VERSION}\n`)
    return 0
  }
  // The config file fills the environment where it is silent: flags > env > file > defaults.
  const configPath = configPathFrom(rawArgv)
  if (configPath) (await import('../config/config-file.ts')).applyConfigFile(configPath)
  const argv = OWN_COMMANDS.has(rawArgv[0] ?? '') ? rawArgv : withoutConfigFlag(rawArgv)
  const rest = argv.slice(1)
  const embedded = { db: defaultDbPath() }
  // Commands with their own option parsers. Their stdout is data (tap, export, status, …): their logs go to stderr.
  switch (argv[0]) {
    case 'llm-sim': return await (await import('../llm/sim/cli.ts')).runLlmSim(rest)
    case 'index': return await (await import('../search/cli.ts')).runIndexCommand(rest)
    case 'tap': return await (await import('./tap.ts')).runTap(rest, embedded, await stderrLogger())
    case 'export': return await (await import('./export.ts')).runExport(rest, embedded, await stderrLogger())
    case 'sink': return await (await import('./export.ts')).runSinkStatus(rest, embedded, await stderrLogger())
    case 'ingest': return await (await import('./ingest.ts')).runIngest(rest, embedded, await stderrLogger())
    case 'dlq': return await (await import('./dlq.ts')).runDlq(rest, embedded, await stderrLogger())
    case 'dashboard': return await (await import('./dashboard.ts')).runDashboard(rest, embedded, await stderrLogger())
    case 'status': return await (await import('./status.ts')).runStatus(rest, embedded, await stderrLogger())
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prefix: { type: 'string' }, partitions: { type: 'string' }, replication: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      runner: { type: 'string' }, db: { type: 'string' }, 'until-idle': { type: 'boolean' }, concurrency: { type: 'string' },
      'at-least-once': { type: 'boolean' }, 'drain-timeout': { type: 'string' }, 'no-demo-data': { type: 'boolean' },
      config: { type: 'string' }, llm: { type: 'string' }, stage: { type: 'string', multiple: true },
      'resample-every': { type: 'string' }, 'seed-gate': { type: 'string' }, out: { type: 'string' },
      'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' }, 'no-metrics': { type: 'boolean' },
    },
  })
  const opts: Options = {
    prefix: prefixOf(values.prefix),
    partitions: positiveInt('partitions', values.partitions, 6),
    replication: positiveInt('replication', values.replication, 1),
  }
  const [cmd, sub] = positionals
  if (values.help || !cmd) {
    process.stdout.write((cmd && COMMAND_HELP[cmd]) || HELP)
    return 0
  }
  const { createLogger } = await import('../log.ts')
  const logger = flushedAtExit(createLogger({ level: process.env.SYNTHQ_LOG_LEVEL || 'warn' }))
  const config = values.config ?? process.env.SYNTHQ_CONFIG
  const llmMode = values.llm
  if (llmMode !== undefined && llmMode !== 'sim') throw new UsageError(`--llm takes only "sim" (the built-in simulator); configure real endpoints with --config or SYNTHQ_LLM_* variables`)
  const { DEFAULT_PIPELINE_OPTIONS, pipelineOptions } = await import('../topologies/options.ts')
  const pipeline = pipelineOptions(config, {
    ...(values['resample-every'] ? { demonstrations: { resampleEvery: positiveInt('resample-every', values['resample-every'], 50) } } : {}),
    ...(values['seed-gate'] !== undefined ? { seedGate: Number(values['seed-gate']) } : {}),
  })
  if (values['seed-gate'] !== undefined && !(Number.isInteger(pipeline.seedGate) && pipeline.seedGate! >= 0 && pipeline.seedGate! <= 7)) throw new UsageError(`--seed-gate must be an integer from 0 to 7, got "${values['seed-gate']}"`)
  if (cmd === 'start') {
    if (values.runner && values.runner !== 'embedded') throw new UsageError('synthq start runs on the embedded runner; use synthq run attribution|synthesis --runner kafka for Kafka')
    // Dead letters are summarised at the end; per-record warnings only when asked for.
    const quiet = process.env.SYNTHQ_LOG_LEVEL ? logger : flushedAtExit(createLogger({ level: 'error' }))
    const [{ startPipeline }, { metricsSettings }] = await Promise.all([import('./start.ts'), import('../metrics/process-endpoint.ts')])
    return await startPipeline({
      db: values.db ?? defaultDbPath(),
      prefix: opts.prefix,
      untilIdle: Boolean(values['until-idle']),
      drainTimeoutMs: positiveInt('drain-timeout', values['drain-timeout'], 30) * 1000,
      demoData: !values['no-demo-data'],
      ...(values.out ? { datasetDir: values.out } : {}),
      pipeline,
      metrics: metricsSettings({ host: values['metrics-host'], port: values['metrics-port'], disabled: values['no-metrics'] }),
      ...(values.concurrency ? { concurrency: positiveInt('concurrency', values.concurrency, 64) } : {}),
      ...(config ? { config } : {}),
    }, quiet)
  }
  if (cmd === 'run') {
    const runnerKind = runnerOf(values.runner)
    const topology = sub
    const [{ runTopology, TOPOLOGIES }, { metricsSettings }] = await Promise.all([import('./run.ts'), import('../metrics/process-endpoint.ts')])
    if (!topology) throw new UsageError(`synthq run needs a topology name, e.g. synthq run demo (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
    return runTopology({
      topology,
      runner: runnerKind,
      db: values.db ?? defaultDbPath(),
      prefix: opts.prefix,
      ...(values.concurrency ? { concurrency: positiveInt('concurrency', values.concurrency, 64) } : {}),
      mode: values['at-least-once'] ? 'at-least-once' : 'exactly-once',
      untilIdle: Boolean(values['until-idle']),
      demoData: false,
      drainTimeoutMs: positiveInt('drain-timeout', values['drain-timeout'], 30) * 1000,
      partitions: opts.partitions,
      replication: opts.replication,
      ...(config ? { config } : {}),
      ...(llmMode ? { llm: llmMode } : {}),
      ...(values.stage ? { stages: values.stage } : {}),
      pipeline,
      metrics: metricsSettings({ host: values['metrics-host'], port: values['metrics-port'], disabled: values['no-metrics'] }),
    }, logger)
  }
  if (cmd === 'llm' && sub === 'check') {
    const name = positionals[2]
    const { defaultSearchIndex, TOPOLOGIES } = await import('./run.ts')
    const { embeddingStages, llmStages } = await import('../topologies/topology.ts')
    const { readLlmConfigFile, resolveLlmSettings } = await import('../llm/config.ts')
    const { LlmClient } = await import('../llm/client.ts')
    const { describeProbe } = await import('../llm/dialect-probe.ts')
    const { isConstrained } = await import('../llm/dialects.ts')
    const make = name ? TOPOLOGIES[name] : undefined
    if (!make) throw new UsageError(`synthq llm check needs a topology name (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
    const topo = make({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: defaultSearchIndex() })
    const stages = llmStages(topo)
    const embedding = embeddingStages(topo)
    if (stages.length === 0) {
      process.stdout.write(`topology ${name} has no LLM stages\n`)
      return 0
    }
    const settings = resolveLlmSettings({ stages, embeddingStages: embedding, ...(config ? { file: readLlmConfigFile(config) } : {}) })
    const client = new LlmClient({ settings, logger })
    let probes: EndpointProbe[]
    try {
      await client.preflight({ probe: false })
      // Its outcome is printed below, once (not also logged).
      probes = await client.probeStructuredOutputs({ report: false })
    } finally {
      await client.close()
    }
    for (const st of stages) {
      if (!settings.stageNames.includes(st)) { process.stdout.write(`${st}  no embedding model configured: lexical vectors (llm.stages.${st}.model or SYNTHQ_LLM_${st.toUpperCase().replace(/-/g, '_')}_MODEL to use one)\n`); continue }
      const s = settings.stage(st)
      process.stdout.write(`${st}  ${s.endpoint.name} ${s.endpoint.baseUrl}  model ${s.model}  temperature ${s.temperature}  max_tokens ${s.maxTokens}  ok\n`)
    }
    let failed = false
    for (const p of probes) {
      failed ||= p.failed
      const how = p.failed ? 'probe FAILED' : isConstrained(p.dialect) ? 'constrained' : 'not enforced by the server: answers are checked and repaired'
      process.stdout.write(`endpoint ${p.endpoint} ${p.baseUrl}  model ${p.model}  structured outputs: ${p.dialect} (${how}) — ${describeProbe(p)}\n`)
    }
    return failed ? 1 : 0
  }
  if (cmd === 'llm' && sub === 'usage') {
    const { openLlmDatabase } = await import('../llm/store.ts')
    const { UsageLedger } = await import('../llm/usage.ts')
    const db = openLlmDatabase(values.db ?? defaultDbPath())
    try {
      const rows = new UsageLedger(db, new Map()).rows()
      if (rows.length === 0) process.stdout.write('no LLM usage recorded in this database\n')
      for (const r of rows) {
        process.stdout.write(`${r.stage}  ${r.model}@${r.endpoint}  calls ${r.calls} (cache hits ${r.cacheHits})  requests ${r.requests}  tokens ${r.promptTokens} in / ${r.completionTokens} out${r.estimatedRequests ? ` (${r.estimatedRequests} requests estimated)` : ''}  $${r.costUsd.toFixed(4)}\n`)
      }
    } finally {
      db.close()
    }
    return 0
  }
  if (cmd === 'topics' && !sub) {
    await printTopicMap(opts)
    return 0
  }
  if (cmd === 'topics' && sub === 'create') {
    const { kafkaConnectionFromEnv } = await import('../config/connection.ts')
    const { localInfraAddresses } = await import('../config/local-infra.ts')
    const { createKafka } = await import('../runtime/kafka/client.ts')
    const { ensureTopics } = await import('../runtime/kafka/topic-admin.ts')
    const conn = kafkaConnectionFromEnv(process.env, localInfraAddresses())
    const admin = createKafka(conn, logger).admin()
    await admin.connect()
    try {
      const created = await ensureTopics(admin, { prefix: opts.prefix, partitions: opts.partitions, replicationFactor: opts.replication })
      process.stdout.write(created.length ? `created ${created.join(', ')}\n` : 'all topics already exist\n')
    } finally {
      await admin.disconnect()
    }
    return 0
  }
  if (cmd === 'schemas' && (sub === 'register' || sub === 'check')) {
    const { registryConnectionFromEnv } = await import('../config/connection.ts')
    const { localInfraAddresses } = await import('../config/local-infra.ts')
    const { RegistryClient } = await import('../serde/registry-client.ts')
    const { SchemaCatalog } = await import('../serde/schema-catalog.ts')
    const { AvroSerde } = await import('../serde/avro-serde.ts')
    const { topicPlan } = await import('../runtime/kafka/topic-admin.ts')
    const { valueSubject } = await import('../topics.ts')
    const registry = new RegistryClient(registryConnectionFromEnv(process.env, localInfraAddresses()))
    const catalog = SchemaCatalog.load()
    const serde = new AvroSerde(registry, catalog, { prefix: opts.prefix })
    if (sub === 'register') {
      for (const [subject, id] of await serde.registerAll()) process.stdout.write(`${subject}  id ${id}\n`)
      return 0
    }
    let bad = 0
    for (const plan of topicPlan({ prefix: opts.prefix })) {
      const subject = valueSubject(plan.topic)
      const verdict = await registry.isCompatible(subject, catalog.get(plan.spec.recordName).schema)
      if (!verdict.compatible) bad++
      process.stdout.write(`${subject}  ${verdict.compatible ? 'compatible' : 'INCOMPATIBLE'}${verdict.messages.length ? `  ${verdict.messages.join('; ')}` : ''}\n`)
    }
    return bad ? 1 : 0
  }
  process.stderr.write(`synthq: unknown command "${positionals.join(' ')}" — synthq --help lists the commands\n`)
  return 2
}

// `synthq topics | head` closes stdout early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); else throw err })

// The exit code is final: the process exits with it (logs flushed, stdout drained) rather than
// waiting for the event loop to empty, which a timer or socket left open would delay forever.
main(process.argv.slice(2)).then(async (code) => { await exitProcess(code) }, async (err: unknown) => {
  const e = err as Error & { code?: unknown }
  // Codes are strings for synthq and Node errors, numbers for some libraries' (KafkaJS's protocol errors).
  const code = typeof e.code === 'string' ? e.code : ''
  // A command line that cannot run as written: exit 2, and point at the command's help.
  const usage = code === 'SYNTHQ_USAGE' || code.startsWith('ERR_PARSE_ARGS_')
  const command = process.argv[2] && !process.argv[2].startsWith('-') ? ` ${process.argv[2]}` : ''
  process.stderr.write(`synthq: ${e.message ?? String(err)}${code.startsWith('SYNTHQ_') ? ` [${code}]` : ''}${usage ? `\n(synthq${command} --help lists the options)` : ''}\n`)
  await exitProcess(usage ? 2 : 1)
})
