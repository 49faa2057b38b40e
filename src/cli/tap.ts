/**
 * `synthq tap <topic>`: prints the records of any topic, decoded from Avro with the schema their
 * bytes name — from the embedded database or from Kafka — as JSON lines, a table or a count;
 * from the beginning, the end, an offset or a time; once or following new records until Ctrl-C.
 * Reading never disturbs the pipeline: the embedded log is opened read-only, and on Kafka a
 * throwaway group (named synthq-tap-…) seeks, commits nothing and is deleted at the end
 * (src/ops/tap/read.ts).
 *
 *   synthq tap synthq.instructions.scored --limit 3
 *   synthq tap scoredInstructions --runner kafka --follow --where total=7 --table
 */
import { parseArgs } from 'node:util'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { DEFAULT_TOPIC_PREFIX, parseShadowTopic, TOPICS, topicName, type TopicName } from '../topics.ts'
import { fitWidths, getPath, jsonReplacer, matches, parseOffsets, parseSince, parseWhere, project, renderTable, scalarText, tableLines, terminalWidth, type Filter, type RecordMeta, type StartPosition } from '../ops/tap/select.ts'
import { openSource, resolveTopic, runnerKind } from '../ops/tap/source.ts'
import type { TapRecord } from '../runtime/transport.ts'

export const TAP_HELP = `synthq tap <topic> — print a topic's records, decoded from Avro (JSON lines, a table or a count)

<topic> is a topic name (synthq.instructions.scored) or a logical name (scoredInstructions).
Reading never disturbs the pipeline: the embedded database is opened read-only; on Kafka a
throwaway consumer group (synthq-tap-…) commits nothing and is deleted when tap ends.

where to start (one of; default --from-beginning):
  --from-beginning     every record still in the topic
  --latest             only records written from now on (implies --follow)
  --offset N           from offset N in every partition; --offset P:N from N in partition P
                       (repeatable; with only P:N given, only those partitions are read)
  --since TIME         records written at or after TIME: an ISO date/time (2026-11-26T10:00Z)
                       or a duration back from now (30s, 10m, 2h, 1d)
  -f, --follow         keep printing new records until Ctrl-C (exit 0)

what to print:
  --where PATH=VALUE   only records whose field equals VALUE (repeatable: all must hold).
                       PATH is a dotted path into the value (document.id, criteria.clarity);
                       @key @offset @partition @timestamp @headers.NAME reach the record.
                       Also PATH!=VALUE, PATH~REGEX, PATH!~REGEX ((?i)REGEX ignores case).
                       An array field matches when any element does.
  --limit N            stop after N matching records
  --fields A,B.C       print only these paths (JSON: one object keyed by the paths)
  --table              an aligned table for a terminal (columns: --fields or the topic's
                       usual ones), cells cut to the terminal width
  --count              print only the number of matching records

where to read:
  --runner R           embedded (default: the database of npm start) or kafka
  --db FILE            embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P           topic prefix for logical names (default synthq)
Kafka and the registry come from SYNTHQ_KAFKA_* / SYNTHQ_REGISTRY_* (else npm run infra:up's).

JSON lines: {"topic","partition","offset","timestamp","key","value"[, "headers"]}; a tombstone's
value is null; bytes are base64. A record that cannot be decoded is reported on stderr (topic,
partition, offset, reason) and skipped.

exit codes: 0 ok, 1 error, 2 usage, 3 some records could not be decoded

examples:
  synthq tap synthq.instructions.scored --limit 3
  synthq tap scoredInstructions --where total=7 --fields id,total,instruction --table
  synthq tap synthq.dlq --since 1h --where stage=scoring --count
  synthq tap documents --runner kafka --offset 2:100 --limit 10
  synthq tap situations --latest --table            (new records as they come; Ctrl-C stops)
  synthq tap concepts --where 'intention~(?i)recipe' --fields instruction_id,keywords
`

/** The columns a --table shows by default, per topic. */
const TABLE_COLUMNS: Record<TopicName, string[]> = {
  realInstructions: ['id', 'source', 'prompt'],
  documents: ['id', 'corpus', 'title', 'text'],
  cleanDocuments: ['id', 'corpus', 'tokens', 'truncated', 'text'],
  documentFingerprints: ['content_hash', 'document_id'],
  concepts: ['instruction_id', 'intention', 'keywords'],
  groundedInstructions: ['instruction_id', 'document.id', 'prompt'],
  demonstrations: ['instruction_id', 'document.id', 'scene'],
  situations: ['id', 'document.id', 'scene'],
  synthesizedInstructions: ['id', 'document.id', 'instruction'],
  scoredInstructions: ['id', 'total', 'instruction'],
  sample: ['id', 'total', 'topic_label', 'instruction'],
  promptPromotions: ['stage', 'version', 'previous_version', 'offsets'],
  sinkState: ['@key', 'generation', 'part', 'parts', 'written_at'],
  deadLetters: ['stage', 'source_topic', 'source_offset', 'error_class', 'message'],
  responses: ['id', 'model.name', 'completion_tokens', 'response'],
  responsePairs: ['id', 'a.model.name', 'b.model.name', 'instruction'],
  preferences: ['id', 'outcome', 'chosen_model', 'reason'],
}

class UsageError extends Error {}

function nonNegativeInt (name: string, v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be an integer ≥ 0, got "${v}"`)
  return n
}

function startOf (values: { 'from-beginning'?: boolean, latest?: boolean, offset?: string[], from?: string, since?: string }): StartPosition {
  const given = [values['from-beginning'] && '--from-beginning', values.latest && '--latest', (values.offset?.length || values.from !== undefined) && '--offset', values.since !== undefined && '--since'].filter(Boolean)
  if (given.length > 1) throw new UsageError(`choose one start position, not ${given.join(' and ')}`)
  if (values.latest) return { kind: 'latest' }
  if (values.since !== undefined) return { kind: 'time', at: parseSince(values.since) }
  // --from N: the embedded offset option of earlier versions, the same as --offset N.
  const offsets = [...(values.offset ?? []), ...(values.from !== undefined ? [values.from] : [])]
  if (offsets.length) return parseOffsets(offsets)
  return { kind: 'beginning' }
}

/**
 * Ends a read early, cleanly (on Kafka the throwaway group is still deleted): Ctrl-C or SIGTERM
 * (a second one exits at once), or stdout closed by its reader (`synthq tap … | head`: EPIPE,
 * which tap handles itself while it reads, instead of the command line's exit-at-once).
 */
function stopSignal (): { signal: AbortSignal, piped: () => boolean, dispose: () => void } {
  const ac = new AbortController()
  let piped = false
  const onSignal = (): void => {
    if (ac.signal.aborted) process.exit(130)
    ac.abort()
  }
  const onPipeError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') throw err
    piped = true
    ac.abort()
  }
  const previous = process.stdout.listeners('error') as Array<(err: Error) => void>
  process.stdout.removeAllListeners('error')
  process.stdout.on('error', onPipeError)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: ac.signal,
    piped: () => piped,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.stdout.off('error', onPipeError)
      for (const l of previous) process.stdout.on('error', l)
    },
  }
}

/** Writes to stdout, waiting when the pipe is full (a large topic into `less`) unless `signal` ends the read. */
async function out (text: string, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return
  if (process.stdout.write(text)) return
  await new Promise<void>((resolve) => {
    const done = (): void => { process.stdout.off('drain', done); signal?.removeEventListener('abort', done); resolve() }
    process.stdout.once('drain', done)
    signal?.addEventListener('abort', done, { once: true })
  })
}

export async function runTap (argv: string[], defaults: { db: string }, logger: Logger): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        runner: { type: 'string' }, db: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        'from-beginning': { type: 'boolean' }, latest: { type: 'boolean' }, offset: { type: 'string', multiple: true }, from: { type: 'string' }, since: { type: 'string' },
        follow: { type: 'boolean', short: 'f' }, where: { type: 'string', multiple: true }, limit: { type: 'string' }, fields: { type: 'string' },
        table: { type: 'boolean' }, count: { type: 'boolean' },
      },
    })
  } catch (err) {
    process.stderr.write(`synthq tap: ${(err as Error).message}\n\n${TAP_HELP}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(TAP_HELP)
    return 0
  }
  let topic: string
  let start: StartPosition
  let filters: Filter[]
  let limit: number
  let fields: string[] | undefined
  const prefix = values.prefix ?? DEFAULT_TOPIC_PREFIX
  try {
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'name the topic to tap' : `one topic at a time, got ${positionals.join(' ')}`)
    runnerKind(values.runner)
    topic = resolveTopic(positionals[0]!, prefix)
    start = startOf(values)
    filters = (values.where ?? []).map(parseWhere)
    limit = values.limit === undefined ? Infinity : nonNegativeInt('limit', values.limit)
    fields = values.fields === undefined ? undefined : values.fields.split(',').map((f) => f.trim()).filter(Boolean)
    if (fields && fields.length === 0) throw new UsageError('--fields needs at least one path')
    if (values.count && (values.table || fields)) throw new UsageError('--count prints only a number: leave out --table and --fields')
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`synthq tap: ${err.message}\n${positionals.length === 0 ? `\n${TAP_HELP}` : '(synthq tap --help for the options)\n'}`)
      return 2
    }
    throw err
  }
  const follow = Boolean(values.follow || values.latest)
  const source = openSource({ runner: values.runner ?? 'embedded', db: values.db ?? defaults.db, prefix }, logger)
  const logical = TOPICS.find((t) => topicName(t.name, prefix) === topic)?.name ?? parseShadowTopic(topic, prefix)!.name
  const tableColumns = !values.table ? [] : fields ?? [...(source.kind === 'kafka' ? ['@partition'] : []), '@offset', ...TABLE_COLUMNS[logical]]
  const width = terminalWidth()
  // A followed table cannot wait for every row to size its columns: they share the width.
  const fixed = (c: string): boolean => c === '@offset' || c === '@partition'
  const mins = tableColumns.map((c) => (fixed(c) ? Infinity : 6))
  const streamWidths = fitWidths(tableColumns.map((c) => (fixed(c) ? 10 : 1000)), width, 6, mins)
  const tableRows: string[][] = []
  let matched = 0
  let undecodable = 0
  const stop = stopSignal()
  const emit = async (text: string): Promise<void> => await out(text, stop.signal)
  const onRecord = async (r: TapRecord): Promise<void | 'stop'> => {
    let value: unknown = null
    if (r.value !== null) {
      try {
        value = (await source.serde.decodeAny(r.value)).value
      } catch (err) {
        undecodable++
        process.stderr.write(`synthq tap: cannot decode ${r.topic} partition ${r.partition} offset ${r.offset} (key ${JSON.stringify(r.key)}): ${(err as Error).message}\n`)
        return
      }
    }
    const meta: RecordMeta = { topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, headers: r.headers }
    if (filters.length && !matches(value, meta, filters)) return
    matched++
    if (values.count) {
      // nothing to print per record
    } else if (values.table) {
      const row = tableColumns.map((c) => scalarText(getPath(value, meta, c)).slice(0, width))
      if (r.value === null && row.length) row[row.length - 1] = '(tombstone)'
      if (follow) {
        if (matched === 1) await emit(tableLines(tableColumns, [], streamWidths).join('\n') + '\n')
        await emit(tableLines(tableColumns, [row], streamWidths).slice(2).join('\n') + '\n')
      } else {
        tableRows.push(row)
      }
    } else if (fields) {
      await emit(JSON.stringify(project(value, meta, fields), jsonReplacer) + '\n')
    } else {
      await emit(JSON.stringify({ topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value, ...(Object.keys(r.headers).length ? { headers: r.headers } : {}) }, jsonReplacer) + '\n')
    }
    if (matched >= limit) return 'stop'
  }
  try {
    // Following, stderr says from where (stdout stays data only).
    const onStart = (starts: ReadonlyArray<{ partition: number, offset: number }>): void => {
      if (follow) process.stderr.write(`synthq tap: following ${topic} from ${starts.length ? starts.map((s) => (source.kind === 'kafka' ? `${s.partition}:${s.offset}` : `offset ${s.offset}`)).join(' ') : 'the named partitions (none)'} (Ctrl-C to stop)\n`)
    }
    if (limit > 0) await source.read({ topic, start, follow, onStart, signal: stop.signal }, onRecord)
  } finally {
    stop.dispose()
    await source.close()
  }
  if (stop.piped()) return 0
  if (values.count) await out(`${matched}\n`)
  else if (values.table && !follow) await out(renderTable(tableColumns, tableRows, width, mins).join('\n') + '\n')
  if (undecodable) process.stderr.write(`synthq tap: ${undecodable} record(s) of ${topic} could not be decoded (see above)\n`)
  return undecodable ? 3 : 0
}
