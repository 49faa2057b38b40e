/**
 * `synthq ingest`: reads real corpora (JSON lines, JSON arrays, Parquet, gzip'd or not; files,
 * directories or stdin), maps their fields to synthq Documents or seed RealInstructions with a
 * preset or --map, and appends them to the pipeline's input topic on the embedded runner or on
 * Kafka — each record once, however often the same files are ingested. See docs/ingest.md.
 *
 * Output: the summary on stdout (--json for a machine-readable one); rejects, notes and the
 * progress bar on stderr. Connection settings come from the environment and are never printed.
 */
import type { Readable } from 'node:stream'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { kafkaConnectionFromEnv, registryConnectionFromEnv } from '../config/connection.ts'
import { localInfraAddresses } from '../config/local-infra.ts'
import { prefixOf, runnerOf } from '../config/defaults.ts'
import { ConfigError, SynthqError, UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { EmbeddedTarget } from '../runtime/embedded/ingest-target.ts'
import { expandInputs, INPUT_FORMATS, type InputFormat } from '../ingest/input-files.ts'
import { KafkaTarget } from '../runtime/kafka/ingest-target.ts'
import { PRESET_NAMES, PRESETS, type PresetName, type Target } from '../ingest/presets.ts'
import type { ProgressStream } from '../ingest/progress.ts'
import { MAPPABLE_FIELDS, type FieldOverrides, type MappableField } from '../ingest/record-mapping.ts'
import { RejectsFile } from '../ingest/rejects-file.ts'
import { ingestSources, type IngestResult } from '../ingest/run-ingest.ts'
import { formatSummary } from '../ingest/summary.ts'
import { DryRunTarget, type IngestTarget } from '../ingest/target.ts'
import { AvroSerde } from '../serde/avro-serde.ts'
import { RegistryClient } from '../serde/registry-client.ts'
import { SchemaCatalog } from '../serde/schema-catalog.ts'
import { DEFAULT_TOPIC_PREFIX, topicName, type TopicName } from '../topics.ts'

export const INGEST_HELP = `synthq ingest <path>... — put real documents (or seed prompts) into the pipeline's input topic

<path> is a file, a directory (read recursively, in sorted order, files ending in .jsonl,
.ndjson, .json or .parquet, each optionally .gz) or - for standard input. gzip is also
recognised by its magic bytes, whatever the name.

formats (from the name, else from the content; --format to say):
  jsonl     one JSON object per line (.jsonl, .ndjson)
  json      a JSON array of objects (.json), streamed element by element
  parquet   Apache Parquet (.parquet), read one row group at a time

options:
  --to T            documents (default; topic <prefix>.documents, synthq.Document) or seeds
                    (topic <prefix>.instructions.real, synthq.RealInstruction); --preset seeds
                    implies --to seeds
  --preset P        field mapping of a known corpus: ${PRESET_NAMES.join(', ')}
                    (default: detected from each file's first record, and said so)
  --map F=PATH      take field F from the dotted PATH of each record (repeatable); F is one of
                    ${MAPPABLE_FIELDS.join(', ')} (for seeds: text is the prompt, corpus the source);
                    without --preset the other fields keep their usual names and every other
                    scalar field goes to metadata
  --corpus NAME     the corpus of every document (default: the preset's name, or the record's
                    "corpus" field, or the file's name); for seeds: their source
  --license L       the licence of every document (default: the preset's, when the corpus has
                    one: fineweb ODC-By 1.0, c4 ODC-BY, stackexchange CC BY-SA; unarXive per paper)
  --format F        jsonl, json or parquet: read every input as F (needed for a stdin whose
                    first byte does not tell)
  --max-bytes N     reject records over N bytes (default 1MiB; suffixes k, m: 512k, 4m)
  --rejects FILE    where rejected records go, one JSON line each (default
                    .synthq/rejects/ingest-<time>.jsonl; created only when something is rejected)
  --dry-run         read, validate, map and count; write no topic (no server needed)
  --no-dedup        do not check the topic for keys it already holds (Kafka: saves reading the
                    topic once; duplicates are then caught within this run only)
  --runner R        embedded (default, or $SYNTHQ_RUNNER) or kafka
  --db FILE         embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P        topic prefix (default $SYNTHQ_PREFIX, else ${DEFAULT_TOPIC_PREFIX})
  --partitions N    kafka: partitions when the topic is created (default 6)
  --replication N   kafka: replication factor when the topic is created (default 1)
  --batch N         records per write (one SQLite or Kafka transaction; default 500)
  --json            print the summary as JSON on stdout
  -h, --help        this help

Keys: the corpus's own id when it has a stable one, else sha256:<hex> of the normalised text;
ingesting the same records again adds nothing (the embedded database indexes the topic's
keys; on Kafka the topic's keys are read once per run).

Kafka and the registry are found as for every synthq command: SYNTHQ_KAFKA_BROKERS,
SYNTHQ_REGISTRY_URL (and their TLS/SASL settings), else the local infrastructure of
npm run infra:up.

examples:
  synthq ingest data/web data/math                       C4 and Stack Exchange, presets detected
  synthq ingest --preset fineweb fineweb/*.parquet --runner kafka
  zcat dump.jsonl.gz | synthq ingest - --format jsonl --map text=content --map id=meta.doc_id --corpus mydump
  synthq ingest --to seeds data/seeds/oasst-prompts-en.jsonl
  synthq ingest --dry-run --rejects /tmp/bad.jsonl corpus/

exit codes:
  0  every record was ingested, or was already there (nothing new)
  3  finished, but some records were rejected (see the rejects file)
  1  error: an input that cannot be read, Kafka or the registry unreachable, bad configuration
  2  usage error (unknown option, bad value)
  4  Kafka: another synthq ingest into the same topic took over (fenced); run again after it
  130 interrupted (Ctrl-C): batches written so far stay; run again to add the rest
`

export interface IngestCliIO {
  stdin?: Readable
  stdout?: { write: (s: string) => unknown }
  stderr?: ProgressStream
  env?: NodeJS.ProcessEnv
  now?: () => number
  signal?: AbortSignal
}

function parseSize (name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(v.trim())
  if (!m) throw new UsageError(`--${name} must be a size in bytes (e.g. 1048576, 512k, 4m), got "${v}"`)
  const unit = (m[2] ?? '').toLowerCase()[0]
  const n = Math.floor(Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1))
  if (n < 1) throw new UsageError(`--${name} must be at least 1 byte`)
  return n
}

function positiveInt (name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`)
  return n
}

function oneOf<T extends string> (name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`)
  return v as T
}

function parseMaps (maps: readonly string[]): FieldOverrides {
  const out: FieldOverrides = {}
  for (const m of maps) {
    const eq = m.indexOf('=')
    const field = m.slice(0, eq)
    const path = m.slice(eq + 1)
    if (eq < 1 || !path) throw new UsageError(`--map takes FIELD=PATH (e.g. --map text=content), got "${m}"`)
    if (!(MAPPABLE_FIELDS as readonly string[]).includes(field)) throw new UsageError(`--map: unknown field "${field}"; fields: ${MAPPABLE_FIELDS.join(', ')}`)
    out[field as MappableField] = path
  }
  return out
}

function defaultRejectsPath (now: number): string {
  return join(process.cwd(), '.synthq', 'rejects', `ingest-${new Date(now).toISOString().replace(/[:.]/g, '-')}.jsonl`)
}

export async function runIngest (argv: string[], defaults: { db: string }, logger: Logger, io: IngestCliIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout
  const stderr = io.stderr ?? process.stderr
  const env = io.env ?? process.env
  const now = io.now ?? Date.now
  const say = (line: string): void => { stderr.write(`synthq ingest: ${line}\n`) }

  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        to: { type: 'string' }, format: { type: 'string' }, preset: { type: 'string' }, map: { type: 'string', multiple: true },
        corpus: { type: 'string' }, license: { type: 'string' }, 'max-bytes': { type: 'string' }, rejects: { type: 'string' },
        'dry-run': { type: 'boolean' }, 'no-dedup': { type: 'boolean' }, runner: { type: 'string' }, db: { type: 'string' },
        prefix: { type: 'string' }, partitions: { type: 'string' }, replication: { type: 'string' }, batch: { type: 'string' },
        json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    say(`${(err as Error).message} (synthq ingest --help lists the options)`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    stdout.write(INGEST_HELP)
    return 0
  }

  let opts
  try {
    if (positionals.length === 0) throw new UsageError('give at least one file, directory, or - for standard input (synthq ingest --help)')
    const preset = oneOf<PresetName>('preset', values.preset, PRESET_NAMES)
    const to = oneOf<Target>('to', values.to, ['documents', 'seeds'])
    const target: Target = to ?? (preset ? PRESETS[preset].target : 'documents')
    if (preset && PRESETS[preset].target !== target) throw new UsageError(`--preset ${preset} is for ${PRESETS[preset].target}, not --to ${target}`)
    if (target === 'seeds' && (values.license !== undefined)) throw new UsageError('--license applies to documents only (seed records have no licence field)')
    const runner = runnerOf(values.runner, env)
    opts = {
      target,
      preset,
      runner,
      format: oneOf<InputFormat>('format', values.format, INPUT_FORMATS),
      overrides: parseMaps(values.map ?? []),
      maxBytes: values['max-bytes'] !== undefined ? parseSize('max-bytes', values['max-bytes']) : 1024 * 1024,
      batchSize: positiveInt('batch', values.batch, 500),
      partitions: positiveInt('partitions', values.partitions, 6),
      replication: positiveInt('replication', values.replication, 1),
      prefix: prefixOf(values.prefix, env),
      db: values.db ?? defaults.db,
      dryRun: Boolean(values['dry-run']),
      dedup: !values['no-dedup'],
      rejects: values.rejects ?? defaultRejectsPath(now()),
    }
    if (values.corpus !== undefined && values.corpus.trim() === '') throw new UsageError('--corpus must not be empty')
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    say(err.message)
    return 2
  }

  // Ctrl-C: finish the batch in hand, print the summary, exit 130; a second Ctrl-C exits at once.
  let signal = io.signal
  let onSigint: (() => void) | undefined
  if (!signal) {
    const controller = new AbortController()
    signal = controller.signal
    onSigint = (): void => {
      if (controller.signal.aborted) process.exit(130)
      say('stopping after the batch in hand (Ctrl-C again to stop at once; committed batches stay)…')
      controller.abort()
    }
    process.on('SIGINT', onSigint)
  }

  const name: TopicName = opts.target === 'seeds' ? 'realInstructions' : 'documents'
  const topic = topicName(name, opts.prefix)
  const rejects = new RejectsFile(opts.rejects)
  let target: IngestTarget | undefined
  let result: IngestResult
  try {
    // Paths first: a typo should fail before any server is contacted.
    const { sources, skipped } = expandInputs(positionals)
    if (skipped.length) say(`left out ${skipped.length} file(s) in the given directories whose names do not end in .jsonl, .ndjson, .json or .parquet (optionally .gz), e.g. ${skipped[0]}`)
    if (sources.length === 0) throw new ConfigError(`no input files: the directories given hold no .jsonl, .ndjson, .json or .parquet files`)
    if (opts.dryRun) target = new DryRunTarget(topic)
    else if (opts.runner === 'embedded') target = new EmbeddedTarget({ db: opts.db, topic, prefix: opts.prefix, dedup: opts.dedup })
    else {
      const local = localInfraAddresses()
      const connection = kafkaConnectionFromEnv(env, local.brokers ? { brokers: local.brokers } : {})
      const serde = new AvroSerde(new RegistryClient(registryConnectionFromEnv(env, local.url ? { url: local.url } : {})), SchemaCatalog.load(), { prefix: opts.prefix })
      if (opts.dedup) say(`reading the keys already in ${topic} (once per run; --no-dedup skips this)…`)
      // KafkaJS logs transient coordinator errors it retries; real failures reach us as errors.
      const kafkaLogger = env.SYNTHQ_LOG_LEVEL ? logger : logger.child({}, { level: 'silent' })
      const kafkaTarget = await KafkaTarget.open({ connection, serde, logger: kafkaLogger, prefix: opts.prefix, name, topic, dedup: opts.dedup, partitions: opts.partitions, replicationFactor: opts.replication })
      if (opts.dedup) say(`${topic} holds ${kafkaTarget.existing} key(s)`)
      target = kafkaTarget
    }
    result = await ingestSources(sources, target, rejects, {
      target: opts.target, ...(opts.format ? { format: opts.format } : {}), ...(opts.preset ? { preset: opts.preset } : {}),
      overrides: opts.overrides, ...(values.corpus ? { corpus: values.corpus } : {}), ...(values.license ? { license: values.license } : {}),
      maxBytes: opts.maxBytes, batchSize: opts.batchSize,
    }, { stdin: io.stdin ?? process.stdin, stderr, now, signal })
  } catch (err) {
    const e = err as Error & { code?: string }
    say(`${e.message}${e instanceof SynthqError && e.code === 'SYNTHQ_REGISTRY_UNAVAILABLE' ? ' — start the registry (npm run infra:up) or point SYNTHQ_REGISTRY_URL at yours' : ''}`)
    if (rejects.count) say(`rejects so far: ${rejects.count} in ${rejects.path}`)
    return e instanceof SynthqError && e.code === 'SYNTHQ_STATE_FENCED' ? 4 : 1
  } finally {
    rejects.close()
    await target?.close()
    if (onSigint) process.off('SIGINT', onSigint)
  }

  if (result.unreported) say(`… ${result.unreported} more in ${rejects.path}`)
  const summary = { ...result, topic, where: target.where, dedup: target.dedupNote, dryRun: opts.dryRun, rejectsFile: rejects.count ? rejects.path : null }
  if (values.json) stdout.write(JSON.stringify(summary) + '\n')
  else stdout.write(formatSummary(summary))
  if (result.interrupted) return 130
  if (result.errors) return 1
  return result.rejected ? 3 : 0
}
