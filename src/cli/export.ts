/**
 * `synthq export` and `synthq sink`: the dataset as it stands, from the embedded database or
 * from Kafka, while the pipeline runs or after it stopped.
 *
 *   synthq export --format parquet --out ./dataset           (npm start's database)
 *   synthq export --runner kafka --out ./dataset --min-score 6
 *   synthq sink                                              (counts, topics, health)
 */
import { parseArgs } from 'node:util'
import { kafkaConnectionFromEnv, registryConnectionFromEnv } from '../config/connection.ts'
import { localInfraAddresses } from '../config/local-infra.ts'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { EmbeddedLog } from '../runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../runtime/embedded/embedded-registry.ts'
import { createKafka } from '../runtime/kafka/client.ts'
import { readTopicToEnd } from '../runtime/kafka/read-topic.ts'
import { AvroSerde } from '../serde/avro-serde.ts'
import { RegistryClient } from '../serde/registry-client.ts'
import { SchemaCatalog } from '../serde/schema-catalog.ts'
import { exportDataset, type DatasetFormat, type ExportResult } from '../sink/export/dataset.ts'
import { formatSinkReport, sinkReport, type SinkReport } from '../sink/report.ts'
import type { HealthCheck as PipelineCheck } from '../ops/status-model.ts'
import { deadLetterCheck, StatusCollector } from '../ops/status.ts'
import { datasetRows, readSinkContents, type RawKeyed, type SinkContents } from '../sink/sample-store.ts'
import { exportTrainable, readTrainable, type FileType, type TrainableContents, type TrainableExport, type TrainableFormat } from '../sink/export/trainable.ts'
import { topicName } from '../topics.ts'
import { prefixOf, runnerOf } from '../config/defaults.ts'

export const EXPORT_HELP = `synthq export — write the current sample as a dataset with its card

usage: synthq export --out DIR [options]

The sample is read as the sink's newest checkpoint lists it: export while the pipeline runs,
or after it stopped. The card (README.md) carries the sample's figures and health checks.

Formats:
  jsonl, parquet     the instructions with their scores, topics and lineage (default: jsonl)
  sft                trainable chat data: {messages: [{role: user}, {role: assistant}]} per
                     instruction of the sample that has its response (the response stage)
  alpaca             the same as Alpaca-style records: {instruction, input, output}
  dpo                preference pairs: {prompt, chosen, rejected} where the judge preferred one
                     response in both orders (ties and inconsistent verdicts are counted, not written)
  sft, alpaca and dpo are written as JSON lines, or Parquet with --file parquet; their card names
  the models, the judge's agreement and the counts.

options:
  --out DIR          where to write data/train.jsonl or data/train-00000.parquet and README.md (required)
  --format F         jsonl (default), parquet, sft, alpaca or dpo
  --file T           for sft, alpaca and dpo: jsonl (default) or parquet
  --min-score N      keep only rows whose total is at least N (0–7): sweep the threshold from one run
  --name NAME        dataset name in the card (default synthq-instructions)
  --runner R         embedded (default: the database of npm start) or kafka
  --db FILE          embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P         topic prefix (default synthq, or $SYNTHQ_PREFIX)

exit codes: 0 written · 3 written, but the sample is unhealthy (see the card) · 1 error · 2 usage

examples:
  synthq export --out ./dataset
  synthq export --out ./dataset-6 --format parquet --min-score 6
  synthq export --out ./sft --format sft --file parquet
  synthq export --out ./dpo --format dpo
  synthq export --runner kafka --prefix prod --out /data/synthq/$(date +%F)
`

export const SINK_HELP = `synthq sink — the sink's counts, topics, balance, diversity and health checks

usage: synthq sink [options]

options:
  --json             the report as one JSON object
  --runner R         embedded (default) or kafka
  --db FILE          embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P         topic prefix (default synthq, or $SYNTHQ_PREFIX)

exit codes: 0 healthy · 3 a health check failed · 1 no checkpoint yet, or an error · 2 usage

examples:
  synthq sink
  synthq sink --json | jq '.topics | length'
`

interface Source { runner: string, db: string, prefix: string }

/** Reads the sample and the sink's latest checkpoint from the embedded database or Kafka. */
export async function readSink (src: Source, logger: Logger): Promise<SinkContents> {
  if (src.runner === 'embedded') {
    const log = new EmbeddedLog(src.db)
    try {
      const serde = new AvroSerde(new EmbeddedRegistry(log.db, src.db), SchemaCatalog.load(), { prefix: src.prefix })
      // One read transaction: the sample and the state as of the same commit.
      const { sample, state } = log.db.transaction(() => ({ sample: [...log.scan(topicName('sample', src.prefix))], state: [...log.scan(topicName('sinkState', src.prefix))] }))()
      return await readSinkContents(serde, src.prefix, sample, state)
    } finally {
      log.close()
    }
  }
  if (src.runner !== 'kafka') throw new ConfigError(`--runner must be embedded or kafka, got "${src.runner}"`)
  const local = localInfraAddresses()
  const kafka = createKafka(kafkaConnectionFromEnv(process.env, local.brokers ? { brokers: local.brokers } : {}), logger)
  const serde = new AvroSerde(new RegistryClient(registryConnectionFromEnv(process.env, local.url ? { url: local.url } : {})), SchemaCatalog.load(), { prefix: src.prefix })
  // State first: the sample read after it holds every row the state lists (or a later tombstone).
  const state = await readTopicToEnd(kafka, topicName('sinkState', src.prefix))
  const sample = await readTopicToEnd(kafka, topicName('sample', src.prefix))
  return await readSinkContents(serde, src.prefix, sample, state)
}

/** The sink's contents with the responses and preferences topics, read together (sft, alpaca, dpo). */
export async function readTrainableSource (src: Source, logger: Logger): Promise<{ contents: SinkContents, trainable: TrainableContents }> {
  const names = ['sinkState', 'sample', 'responses', 'preferences'] as const
  let raw: Record<typeof names[number], RawKeyed[]>
  let serde: AvroSerde
  let log: EmbeddedLog | undefined
  try {
    if (src.runner === 'embedded') {
      log = new EmbeddedLog(src.db)
      serde = new AvroSerde(new EmbeddedRegistry(log.db, src.db), SchemaCatalog.load(), { prefix: src.prefix })
      const l = log
      // One read transaction: every topic as of the same commit.
      raw = l.db.transaction(() => Object.fromEntries(names.map((n) => [n, [...l.scan(topicName(n, src.prefix))]])))() as unknown as typeof raw
    } else if (src.runner === 'kafka') {
      const local = localInfraAddresses()
      const kafka = createKafka(kafkaConnectionFromEnv(process.env, local.brokers ? { brokers: local.brokers } : {}), logger)
      serde = new AvroSerde(new RegistryClient(registryConnectionFromEnv(process.env, local.url ? { url: local.url } : {})), SchemaCatalog.load(), { prefix: src.prefix })
      // In the order things are written: the state, the sample, then what follows from the sample.
      raw = {} as typeof raw
      for (const n of names) raw[n] = await readTopicToEnd(kafka, topicName(n, src.prefix)).catch((err: unknown) => { if (n === 'responses' || n === 'preferences') return []; throw err })
    } else throw new ConfigError(`--runner must be embedded or kafka, got "${src.runner}"`)
    const contents = await readSinkContents(serde, src.prefix, raw.sample, raw.sinkState)
    const trainable = await readTrainable(serde, src.prefix, contents.rows, { sample: raw.sample, responses: raw.responses, preferences: raw.preferences })
    return { contents, trainable }
  } finally {
    log?.close()
  }
}

/** Writes an sft, alpaca or dpo dataset (see EXPORT_HELP) from what readTrainableSource read. */
export function exportTrainableContents (t: TrainableContents, o: { outDir: string, format: TrainableFormat, file: FileType, minScore?: number, name?: string }): TrainableExport {
  return exportTrainable(t, o)
}

/** Exports `contents` (see EXPORT_HELP); the card carries the sink's figures and health. */
export function exportContents (contents: SinkContents, o: { outDir: string, format: DatasetFormat, minScore?: number, name?: string, config?: Record<string, unknown>, pipelineChecks?: PipelineCheck[] }): { result: ExportResult, report: SinkReport | null, health: { healthy: boolean, checks: PipelineCheck[] } | undefined } {
  const report = contents.state ? sinkReport(contents.state) : null
  // The pipeline's own checks (dead letters per stage) join the sink's: the card and the exit code say both.
  const checks: PipelineCheck[] = [...(o.pipelineChecks ?? []), ...(report?.health.checks ?? [])]
  const health = report || checks.length ? { healthy: checks.every((c) => c.ok), checks } : undefined
  const result = exportDataset(datasetRows(contents), {
    outDir: o.outDir,
    format: o.format,
    ...(o.name ? { name: o.name } : {}),
    ...(o.minScore !== undefined ? { minScore: o.minScore } : {}),
    config: o.config ?? (contents.state ? { sink: contents.state.options, vectors: contents.state.vectors } : {}),
    stats: {
      seen: report?.seen ?? contents.rows.length,
      dropped: report?.dropped ?? {},
      ...(report?.vendi ? { vendi: report.vendi.score } : {}),
      ...(report ? { topicEntropy: report.topicEntropy.nats, balanceRatio: report.balanceRatio } : {}),
      ...(health ? { health } : {}),
    },
  })
  return { result, report, health }
}

export async function runExport (argv: string[], defaults: { db: string }, logger: Logger): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { out: { type: 'string' }, format: { type: 'string' }, file: { type: 'string' }, 'min-score': { type: 'string' }, name: { type: 'string' }, runner: { type: 'string' }, db: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { process.stdout.write(EXPORT_HELP); return 0 }
  if (!values.out) throw new ConfigError('synthq export needs --out DIR (see synthq export --help)')
  const format = values.format ?? 'jsonl'
  if (!['jsonl', 'parquet', 'sft', 'alpaca', 'dpo'].includes(format)) throw new ConfigError(`--format must be jsonl, parquet, sft, alpaca or dpo, got "${format}"`)
  const file = values.file ?? 'jsonl'
  if (file !== 'jsonl' && file !== 'parquet') throw new ConfigError(`--file must be jsonl or parquet, got "${file}"`)
  if (values.file !== undefined && (format === 'jsonl' || format === 'parquet')) throw new ConfigError(`--file goes with --format sft, alpaca or dpo; for the instructions, --format ${values.file} says it`)
  let minScore: number | undefined
  if (values['min-score'] !== undefined) {
    minScore = Number(values['min-score'])
    if (!Number.isInteger(minScore) || minScore < 0 || minScore > 7) throw new ConfigError(`--min-score must be an integer from 0 to 7, got "${values['min-score']}"`)
  }
  if (format === 'sft' || format === 'alpaca' || format === 'dpo') {
    const { contents, trainable } = await readTrainableSource({ runner: runnerOf(values.runner), db: values.db ?? defaults.db, prefix: prefixOf(values.prefix) }, logger)
    if (!contents.state) process.stderr.write('synthq export: the sink has not checkpointed yet (no state found); exporting what the sample topic holds\n')
    const r = exportTrainableContents(trainable, { outDir: values.out, format, file, ...(minScore !== undefined ? { minScore } : {}), ...(values.name ? { name: values.name } : {}) })
    process.stdout.write(`synthq export: ${r.rows} ${format === 'dpo' ? 'preference pairs' : 'instruction–response rows'} → ${r.files.map((f) => `${values.out}/${f}`).join(', ')}\n`)
    process.stdout.write(`${formatTrainableStats(r, format)}\n`)
    if (r.rows === 0) {
      process.stderr.write(format === 'dpo'
        ? 'synthq export: no preference pairs yet: run synthesis with pipeline.responses.preferences: true (on in npm start), see docs/pipeline.md#responses\n'
        : 'synthq export: no responses yet: run synthesis with pipeline.responses.enabled: true (on in npm start), see docs/pipeline.md#responses\n')
      return 3
    }
    return 0
  }
  const contents = await readSink({ runner: runnerOf(values.runner), db: values.db ?? defaults.db, prefix: prefixOf(values.prefix) }, logger)
  if (!contents.state) process.stderr.write('synthq export: the sink has not checkpointed yet (no state found); exporting what the sample topic holds\n')
  const pipelineChecks = await stageDeadLetterChecks({ runner: runnerOf(values.runner), db: values.db ?? defaults.db, prefix: prefixOf(values.prefix) }, logger)
  const { result, report, health } = exportContents(contents, { outDir: values.out, format: format as DatasetFormat, ...(minScore !== undefined ? { minScore } : {}), ...(values.name ? { name: values.name } : {}), pipelineChecks })
  process.stdout.write(`synthq export: ${result.rows} rows → ${result.files.map((f) => `${values.out}/${f}`).join(', ')}${contents.missing ? ` (${contents.missing} sample members were committed while reading; export again for them)` : ''}\n`)
  if (report) process.stdout.write(`${formatSinkReport(report)}\n`)
  for (const c of pipelineChecks) process.stdout.write(`  FAIL ${c.name}: ${c.message}\n`)
  return health && !health.healthy ? 3 : 0
}

/** The counts an sft/dpo export prints (its card has them too). */
export function formatTrainableStats (r: TrainableExport, format: TrainableFormat): string {
  const s = r.stats
  const lines = [
    `  sample: ${s.sample} instructions; with a response ${s.withResponse}, still to come ${s.missingResponse}; responders: ${Object.entries(s.responseModels).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`,
    `  evicted from the sample: ${s.evicted}, of which before their response ${s.evictedBeforeResponse}; responses deleted with their instruction ${s.responsesDeleted}`,
  ]
  if (format === 'dpo' || s.judged > 0) lines.push(`  judge: ${s.judged} pairs judged in both orders — preferred ${s.preferred}, ties ${s.ties}, inconsistent ${s.inconsistent} (dropped); agreement ${s.agreement === null ? 'n/a' : `${(100 * s.agreement).toFixed(1)} %`}`)
  return lines.join('\n')
}

/**
 * Each stage's dead-letter verdict, from the pipeline's status (what each stage committed and
 * dead-lettered): a sample is not healthy when most of what fed it was dead-lettered.
 */
async function stageDeadLetterChecks (src: Source, logger: Logger): Promise<PipelineCheck[]> {
  const collector = new StatusCollector({ runner: src.runner as 'embedded' | 'kafka', db: src.db, prefix: src.prefix }, logger)
  try {
    const snap = await collector.collect()
    return snap.stages.flatMap((st) => deadLetterCheck(st.stage, st.committed ?? 0, st.deadLetters, st.deadLetterReasons[0]?.errorClass) ?? [])
  } catch (err) {
    process.stderr.write(`synthq export: dead-letter shares not checked: ${(err as Error).message}\n`)
    return []
  } finally {
    await collector.close()
  }
}

export async function runSinkStatus (argv: string[], defaults: { db: string }, logger: Logger): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, runner: { type: 'string' }, db: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { process.stdout.write(SINK_HELP); return 0 }
  const contents = await readSink({ runner: runnerOf(values.runner), db: values.db ?? defaults.db, prefix: prefixOf(values.prefix) }, logger)
  if (!contents.state) { process.stdout.write('sink: no checkpoint yet (has synthesis run?)\n'); return 1 }
  const report = sinkReport(contents.state)
  process.stdout.write(values.json ? `${JSON.stringify({ generation: contents.generation, ...report })}\n` : `${formatSinkReport(report)}\n`)
  return report.health.healthy ? 0 : 3
}
