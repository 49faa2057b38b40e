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
import { datasetRows, readSinkContents, type SinkContents } from '../sink/sample-store.ts'
import { topicName } from '../topics.ts'
import { prefixOf, runnerOf } from '../config/defaults.ts'

export const EXPORT_HELP = `synthq export — write the current sample as a dataset with its card

usage: synthq export --out DIR [options]

The sample is read as the sink's newest checkpoint lists it: export while the pipeline runs,
or after it stopped. The card (README.md) carries the sample's figures and health checks.

options:
  --out DIR          where to write data/train.jsonl or data/train-00000.parquet and README.md (required)
  --format F         jsonl (default) or parquet
  --min-score N      keep only rows whose total is at least N (0–7): sweep the threshold from one run
  --name NAME        dataset name in the card (default synthq-instructions)
  --runner R         embedded (default: the database of npm start) or kafka
  --db FILE          embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P         topic prefix (default synthq, or $SYNTHQ_PREFIX)

exit codes: 0 written · 3 written, but the sample is unhealthy (see the card) · 1 error · 2 usage

examples:
  synthq export --out ./dataset
  synthq export --out ./dataset-6 --format parquet --min-score 6
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
  const { values } = parseArgs({ args: argv, options: { out: { type: 'string' }, format: { type: 'string' }, 'min-score': { type: 'string' }, name: { type: 'string' }, runner: { type: 'string' }, db: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) { process.stdout.write(EXPORT_HELP); return 0 }
  if (!values.out) throw new ConfigError('synthq export needs --out DIR (see synthq export --help)')
  const format = values.format ?? 'jsonl'
  if (format !== 'jsonl' && format !== 'parquet') throw new ConfigError(`--format must be jsonl or parquet, got "${format}"`)
  let minScore: number | undefined
  if (values['min-score'] !== undefined) {
    minScore = Number(values['min-score'])
    if (!Number.isInteger(minScore) || minScore < 0 || minScore > 7) throw new ConfigError(`--min-score must be an integer from 0 to 7, got "${values['min-score']}"`)
  }
  const contents = await readSink({ runner: runnerOf(values.runner), db: values.db ?? defaults.db, prefix: prefixOf(values.prefix) }, logger)
  if (!contents.state) process.stderr.write('synthq export: the sink has not checkpointed yet (no state found); exporting what the sample topic holds\n')
  const pipelineChecks = await stageDeadLetterChecks({ runner: runnerOf(values.runner), db: values.db ?? defaults.db, prefix: prefixOf(values.prefix) }, logger)
  const { result, report, health } = exportContents(contents, { outDir: values.out, format, ...(minScore !== undefined ? { minScore } : {}), ...(values.name ? { name: values.name } : {}), pipelineChecks })
  process.stdout.write(`synthq export: ${result.rows} rows → ${result.files.map((f) => `${values.out}/${f}`).join(', ')}${contents.missing ? ` (${contents.missing} sample members were committed while reading; export again for them)` : ''}\n`)
  if (report) process.stdout.write(`${formatSinkReport(report)}\n`)
  for (const c of pipelineChecks) process.stdout.write(`  FAIL ${c.name}: ${c.message}\n`)
  return health && !health.healthy ? 3 : 0
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
