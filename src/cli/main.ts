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
 *   synthq prompts [diff …]       the prompts' versions (live, file, hash); diff two versions
 *   synthq shadow <stage>         a second prompt version of a stage beside the live one
 *   synthq compare <stage>        the live and shadow versions side by side
 *   synthq shadow promote <stage> make the shadow's version live from chosen offsets
 *
 * Connection settings come from the environment (SYNTHQ_KAFKA_*, SYNTHQ_REGISTRY_*, see
 * src/config/connection.ts); without them the local infrastructure from `npm run infra:up` is
 * used when it is running.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { configPathFrom, defaultDbPath, prefixOf, runnerOf } from '../config/defaults.ts'
import { COMMAND_HELP, HELP } from './help.ts'
import { exitProcess, flushedAtExit } from './exit.ts'
import { SYNTHQ_VERSION } from '../version.ts'

// Everything else is imported by the command that needs it: `synthq --help` or `synthq tap`
// should not pay for loading KafkaJS, SQLite, the OpenAI client and every topology (~0.4 s).

function positiveInt (name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`)
  return n
}

/** Where a command without --db keeps its embedded log. */
interface Embedded { db: string }

/**
 * Commands with their own option parsers (and help beside their code). Their stdout is data
 * (tap, export, status, …): their logs go to stderr. They never see --config: main.ts applied it.
 */
const DATA_COMMANDS: Record<string, (args: string[], embedded: Embedded) => Promise<number>> = {
  'llm-sim': async (args) => await (await import('../llm/sim/cli.ts')).runLlmSim(args),
  index: async (args) => await (await import('../search/cli.ts')).runIndexCommand(args),
  tap: async (args, e) => await (await import('./tap.ts')).runTap(args, e, await stderrLogger()),
  export: async (args, e) => await (await import('./export.ts')).runExport(args, e, await stderrLogger()),
  sink: async (args, e) => await (await import('./export.ts')).runSinkStatus(args, e, await stderrLogger()),
  ingest: async (args, e) => await (await import('./ingest.ts')).runIngest(args, e, await stderrLogger()),
  dlq: async (args, e) => await (await import('./dlq.ts')).runDlq(args, e, await stderrLogger()),
  dashboard: async (args, e) => await (await import('./dashboard.ts')).runDashboard(args, e, await stderrLogger()),
  status: async (args, e) => await (await import('./status.ts')).runStatus(args, e, await stderrLogger()),
}

/** The options main.ts parses for the commands below (each uses those that concern it). */
const SHARED_OPTIONS = {
  prefix: { type: 'string' }, partitions: { type: 'string' }, replication: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  runner: { type: 'string' }, db: { type: 'string' }, 'until-idle': { type: 'boolean' }, concurrency: { type: 'string' },
  'at-least-once': { type: 'boolean' }, 'drain-timeout': { type: 'string' }, 'no-demo-data': { type: 'boolean' },
  config: { type: 'string' }, llm: { type: 'string' }, stage: { type: 'string', multiple: true },
  'resample-every': { type: 'string' }, 'seed-gate': { type: 'string' }, out: { type: 'string' },
  'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' }, 'no-metrics': { type: 'boolean' },
  'prompt-version': { type: 'string', multiple: true },
  through: { type: 'string' }, from: { type: 'string' }, json: { type: 'boolean' }, examples: { type: 'string' }, 'min-score': { type: 'string' },
} as const

type SharedValues = ReturnType<typeof parseArgs<{ options: typeof SHARED_OPTIONS, allowPositionals: true }>>['values']

/** What a command of the table below gets: the parsed options and a logger on stderr. */
interface CommandContext {
  values: SharedValues
  positionals: string[]
  prefix: string
  partitions: number
  replication: number
  /** The config file (--config or SYNTHQ_CONFIG). */
  config: string | undefined
  logger: Logger
}

/** The pipeline's options: the config file's, with --resample-every and --seed-gate on top. */
async function pipelineFrom (c: CommandContext): Promise<import('../topologies/options.ts').PipelineOptions> {
  const { pipelineOptions } = await import('../topologies/options.ts')
  const { values } = c
  const pipeline = pipelineOptions(c.config, {
    ...(values['resample-every'] ? { demonstrations: { resampleEvery: positiveInt('resample-every', values['resample-every'], 50) } } : {}),
    ...(values['seed-gate'] !== undefined ? { seedGate: Number(values['seed-gate']) } : {}),
    ...(values['prompt-version'] ? { prompts: (await import('./prompts.ts')).promptVersionArgs(values['prompt-version']) } : {}),
  })
  if (values['seed-gate'] !== undefined && !(Number.isInteger(pipeline.seedGate) && pipeline.seedGate! >= 0 && pipeline.seedGate! <= 7)) throw new UsageError(`--seed-gate must be an integer from 0 to 7, got "${values['seed-gate']}"`)
  return pipeline
}

async function metricsFrom (values: SharedValues): Promise<ReturnType<typeof import('../metrics/process-endpoint.ts').metricsSettings>> {
  const { metricsSettings } = await import('../metrics/process-endpoint.ts')
  return metricsSettings({ host: values['metrics-host'], port: values['metrics-port'], disabled: values['no-metrics'] })
}

async function start (c: CommandContext): Promise<number> {
  const { values } = c
  if (values.runner && values.runner !== 'embedded') throw new UsageError('synthq start runs on the embedded runner; use synthq run attribution|synthesis --runner kafka for Kafka')
  // Dead letters are summarised at the end; per-record warnings only when asked for.
  const { createLogger } = await import('../log.ts')
  const quiet = process.env.SYNTHQ_LOG_LEVEL ? c.logger : flushedAtExit(createLogger({ level: 'error' }))
  const { startPipeline } = await import('./start.ts')
  return await startPipeline({
    db: values.db ?? defaultDbPath(),
    prefix: c.prefix,
    untilIdle: Boolean(values['until-idle']),
    drainTimeoutMs: positiveInt('drain-timeout', values['drain-timeout'], 30) * 1000,
    demoData: !values['no-demo-data'],
    ...(values.out ? { datasetDir: values.out } : {}),
    pipeline: await pipelineFrom(c),
    metrics: await metricsFrom(values),
    ...(values.concurrency ? { concurrency: positiveInt('concurrency', values.concurrency, 64) } : {}),
    ...(c.config ? { config: c.config } : {}),
  }, quiet)
}

async function run (c: CommandContext): Promise<number> {
  const { values } = c
  const topology = c.positionals[1]
  const { runTopology, TOPOLOGIES } = await import('./run.ts')
  if (!topology) throw new UsageError(`synthq run needs a topology name, e.g. synthq run demo (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
  return await runTopology({ ...await runOptions(c), topology, ...(values.stage ? { stages: values.stage } : {}), pipeline: await pipelineFrom(c) }, c.logger)
}

/** What `synthq run` and `synthq shadow` take from the command line alike. */
async function runOptions (c: CommandContext): Promise<Omit<import('./run.ts').RunOptions, 'topology'>> {
  const { values } = c
  return {
    runner: runnerOf(values.runner),
    db: values.db ?? defaultDbPath(),
    prefix: c.prefix,
    ...(values.concurrency ? { concurrency: positiveInt('concurrency', values.concurrency, 64) } : {}),
    mode: values['at-least-once'] ? 'at-least-once' : 'exactly-once',
    untilIdle: Boolean(values['until-idle']),
    demoData: false,
    drainTimeoutMs: positiveInt('drain-timeout', values['drain-timeout'], 30) * 1000,
    partitions: c.partitions,
    replication: c.replication,
    ...(c.config ? { config: c.config } : {}),
    ...(values.llm === 'sim' ? { llm: 'sim' as const } : {}),
    metrics: await metricsFrom(values),
  }
}

/** `synthq shadow <stage>` (a run of the shadow) and `synthq shadow promote <stage>`. */
async function shadow (c: CommandContext): Promise<number> {
  const { values } = c
  const shadowCli = await import('./shadow.ts')
  const runner = runnerOf(values.runner)
  const db = values.db ?? defaultDbPath()
  // The shadow's version is its own: --prompt-version does not go into the pipeline's selection.
  const pipeline = await pipelineFrom({ ...c, values: { ...values, 'prompt-version': undefined } })
  if (c.positionals[1] === 'list') return await shadowCli.runShadowList({ runner, db, prefix: c.prefix, json: Boolean(values.json) }, c.logger)
  if (c.positionals[1] === 'promote') {
    const stage = c.positionals[2]
    shadowCli.topologyWithStage(stage, pipeline, 'synthq shadow promote')
    return await shadowCli.runPromote({ stage: stage!, version: shadowCli.versionArg(stage!, values['prompt-version'], 'synthq shadow promote'), from: values.from, runner, db, prefix: c.prefix, pipeline }, c.logger)
  }
  const stage = c.positionals[1]
  const topology = shadowCli.topologyWithStage(stage, pipeline, 'synthq shadow')
  if (values.stage) throw new UsageError('synthq shadow runs the shadowed stage and, with --through, the stages after it: --stage does not apply')
  const { runTopology } = await import('./run.ts')
  return await runTopology({
    ...await runOptions(c),
    topology: topology.name,
    pipeline,
    shadow: {
      plan: { stage: stage!, version: shadowCli.versionArg(stage!, values['prompt-version'], 'synthq shadow'), ...(values.through ? { through: values.through } : {}) },
      from: shadowCli.shadowStartArg(values.from),
    },
  }, c.logger)
}

async function compare (c: CommandContext): Promise<number> {
  const { values } = c
  const shadowCli = await import('./shadow.ts')
  const stage = c.positionals[1]
  const pipeline = await pipelineFrom({ ...c, values: { ...values, 'prompt-version': undefined } })
  shadowCli.topologyWithStage(stage, pipeline, 'synthq compare')
  const minScore = values['min-score'] === undefined ? 3 : Number(values['min-score'])
  if (!Number.isInteger(minScore) || minScore < 0 || minScore > 7) throw new UsageError(`--min-score must be an integer from 0 to 7, got "${values['min-score']}"`)
  return await shadowCli.runCompare({
    stage: stage!,
    version: shadowCli.versionArg(stage!, values['prompt-version'], 'synthq compare'),
    runner: runnerOf(values.runner),
    db: values.db ?? defaultDbPath(),
    prefix: c.prefix,
    pipeline,
    config: c.config,
    json: Boolean(values.json),
    examples: values.examples === undefined ? 3 : Number.parseInt(values.examples, 10) >= 0 ? Number.parseInt(values.examples, 10) : positiveInt('examples', values.examples, 3),
    minScore,
  }, c.logger)
}

/** The commands whose options main.ts parses, by name (and sub-command: "llm check"). */
const COMMANDS: Record<string, (c: CommandContext) => Promise<number>> = {
  start,
  run,
  describe: async (c) => await (await import('./topics.ts')).describeTopology(c.positionals[1]),
  topics: async (c) => await (await import('./topics.ts')).printTopicMap(c),
  'topics create': async (c) => await (await import('./topics.ts')).createTopics(c, c.logger),
  'schemas register': async (c) => await (await import('./schemas.ts')).registerSchemas(c.prefix),
  'schemas check': async (c) => await (await import('./schemas.ts')).checkSchemas(c.prefix),
  'llm check': async (c) => await (await import('./llm.ts')).checkLlm(c.positionals[2], c.config, c.logger),
  'llm usage': async (c) => await (await import('./llm.ts')).printLlmUsage(c.values.db ?? defaultDbPath()),
  prompts: async (c) => await (await import('./prompts.ts')).runPrompts(c.positionals),
  'prompts list': async (c) => await (await import('./prompts.ts')).runPrompts(c.positionals),
  'prompts diff': async (c) => await (await import('./prompts.ts')).runPrompts(c.positionals),
  shadow,
  compare,
}

/** Commands whose second word is an argument (a topology), not a sub-command. */
const TAKES_ARGUMENT = new Set(['run', 'describe', 'shadow', 'compare'])

/** The entry of COMMANDS a command line names: "cmd sub" when there is one, else "cmd". */
function commandOf (positionals: string[]): ((c: CommandContext) => Promise<number>) | undefined {
  const [cmd = '', sub] = positionals
  if (sub === undefined || TAKES_ARGUMENT.has(cmd)) return COMMANDS[cmd]
  return COMMANDS[`${cmd} ${sub}`]
}

/** Commands whose options main.ts parses itself (the others get argv without --config). */
const OWN_COMMANDS = new Set(['start', 'run', 'topics', 'schemas', 'llm', 'shadow', 'compare'])

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
  const data = DATA_COMMANDS[argv[0] ?? '']
  if (data) return await data(argv.slice(1), { db: defaultDbPath() })
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: SHARED_OPTIONS })
  const [cmd] = positionals
  if (values.help || !cmd) {
    process.stdout.write((cmd && COMMAND_HELP[cmd]) || HELP)
    return 0
  }
  if (values.llm !== undefined && values.llm !== 'sim') throw new UsageError(`--llm takes only "sim" (the built-in simulator); configure real endpoints with --config or SYNTHQ_LLM_* variables`)
  const command = commandOf(positionals)
  if (!command) {
    process.stderr.write(`synthq: unknown command "${positionals.join(' ')}" — synthq --help lists the commands\n`)
    return 2
  }
  const { createLogger } = await import('../log.ts')
  return await command({
    values,
    positionals,
    prefix: prefixOf(values.prefix),
    partitions: positiveInt('partitions', values.partitions, 6),
    replication: positiveInt('replication', values.replication, 1),
    config: values.config ?? process.env.SYNTHQ_CONFIG,
    logger: flushedAtExit(createLogger({ level: process.env.SYNTHQ_LOG_LEVEL || 'warn' })),
  })
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
