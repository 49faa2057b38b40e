/**
 * `synthq dlq`: the dead letters — records a stage could not process — listed, summarised,
 * shown in full, and replayed to their stage once the cause is fixed (src/ops/dlq.ts).
 *
 *   synthq dlq                          (= synthq dlq list)
 *   synthq dlq summary
 *   synthq dlq show 3f0c…
 *   synthq dlq replay --stage scoring --error RetriesExhausted --dry-run
 */
import { parseArgs } from 'node:util'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { decodeOriginal, hasSelector, readDeadLetters, replay, selectLetters, summarize, type DlqSelector, type ReplayOutcome, type StoredLetter } from '../ops/dlq.ts'
import { jsonReplacer, parseSince, renderTable, terminalWidth } from '../ops/tap/select.ts'
import { openSource, runnerKind } from '../ops/tap/source.ts'
import { DEFAULT_TOPIC_PREFIX, topicName } from '../topics.ts'

export const DLQ_HELP = `synthq dlq — dead letters: records a stage could not process, with the reason

usage:
  synthq dlq [list]        one line per dead letter: when, stage, source position, error, reason
  synthq dlq summary       counts by stage × error class, with the latest reason of each
  synthq dlq show <id>     one dead letter in full: raw model output, original key and value
                           (decoded when the bytes decode)
  synthq dlq replay        write the selected dead letters' original key and value back to the
                           topic their stage reads, so it processes them again (after you fixed
                           the cause: a model, a prompt, an endpoint). A dead letter is replayed
                           once; --force replays it again.

select (list, summary, replay):
  --id ID                  this dead letter (repeatable; its first 8 characters are enough)
  --stage S                dead letters of stage S
  --error CLASS            of this error class (Rejected, RetriesExhausted, DecodeError, …)
  --grep TEXT              whose message contains TEXT (case-insensitive)
  --since TIME             failed at or after TIME: ISO date/time or a duration back (10m, 2h, 1d)
  --limit N                list: at most N (oldest first)
  --all                    replay: every dead letter (required when no selector is given)

options:
  --json                   JSON lines instead of a table (list, summary, show, replay)
  --dry-run                replay: say what would be replayed, write nothing
  --force                  replay: also dead letters that were replayed before
  --runner R               embedded (default: the database of npm start) or kafka
  --db FILE                embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P               topic prefix (default synthq)
Kafka and the registry come from SYNTHQ_KAFKA_* / SYNTHQ_REGISTRY_* (else npm run infra:up's).

Replays are remembered: embedded, in the table dlq_replays of the same database (written in
the same transaction as the record); on Kafka, by the header synthq-replay-of: <dead letter id>
on the replayed record, which replay looks for before writing (docs/tap-and-dlq.md).

exit codes: 0 ok, 1 error, 2 usage, 3 some dead letters could not be read or replayed

examples:
  synthq dlq summary
  synthq dlq list --stage scoring --since 1h
  synthq dlq show 0b6d0e52-5d0e-4c1b-9a57-2f1f8b7e01aa
  synthq dlq replay --stage search-retrieval --error NoSearchResult --dry-run
  synthq dlq replay --all --runner kafka
`

export interface DlqIo {
  out: (text: string) => void
  err: (text: string) => void
}

const STD_IO: DlqIo = { out: (t) => { process.stdout.write(t) }, err: (t) => { process.stderr.write(t) } }

class UsageError extends Error {}

const iso = (ms: number): string => new Date(ms).toISOString()
const short = (ms: number): string => iso(ms).replace('T', ' ').slice(0, 19)
/** Ids in tables: their first 8 characters, which show, --id and replay accept (as git's short hashes). */
const shortId = (id: string): string => id.slice(0, 8)
const position = (l: { source_topic: string, source_partition: number | null, source_offset: number | null }): string =>
  `${l.source_topic}${l.source_partition === null ? '' : `[${l.source_partition}]`}${l.source_offset === null ? '' : `@${l.source_offset}`}`

function listJson (s: StoredLetter): Record<string, unknown> {
  const l = s.letter
  return {
    id: l.id, stage: l.stage, source_topic: l.source_topic, source_partition: l.source_partition, source_offset: l.source_offset,
    key: l.key?.toString('utf8') ?? null, error_class: l.error_class, error_code: l.error_code, message: l.message, attempts: l.attempts,
    failed_at: iso(l.failed_at), run_id: l.run_id, dlq_partition: s.partition, dlq_offset: s.offset,
  }
}

export async function runDlq (argv: string[], defaults: { db: string }, logger: Logger, io: DlqIo = STD_IO): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        runner: { type: 'string' }, db: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        id: { type: 'string', multiple: true }, stage: { type: 'string' }, error: { type: 'string' }, grep: { type: 'string' }, since: { type: 'string' },
        limit: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, force: { type: 'boolean' },
      },
    })
  } catch (err) {
    io.err(`synthq dlq: ${(err as Error).message}\n\n${DLQ_HELP}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.out(DLQ_HELP)
    return 0
  }
  const sub = positionals[0] ?? 'list'
  const prefix = values.prefix ?? DEFAULT_TOPIC_PREFIX
  let selector: DlqSelector
  let limit = Infinity
  try {
    if (!['list', 'summary', 'show', 'replay'].includes(sub)) throw new UsageError(`unknown subcommand "${sub}" (list, summary, show, replay)`)
    if (sub === 'show' ? positionals.length !== 2 : positionals.length > 1) throw new UsageError(sub === 'show' ? 'synthq dlq show takes one dead-letter id' : `unexpected ${positionals.slice(1).join(' ')}`)
    runnerKind(values.runner)
    selector = {
      ...(values.id ? { ids: values.id } : {}),
      ...(values.stage !== undefined ? { stage: values.stage } : {}),
      ...(values.error !== undefined ? { errorClass: values.error } : {}),
      ...(values.grep !== undefined ? { grep: values.grep } : {}),
      ...(values.since !== undefined ? { since: parseSince(values.since) } : {}),
    }
    if (values.limit !== undefined) {
      limit = Number(values.limit)
      if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit must be an integer ≥ 0, got "${values.limit}"`)
    }
    if (sub === 'replay' && !values.all && !hasSelector(selector)) throw new UsageError('synthq dlq replay needs a selector (--id, --stage, --error, --grep, --since) or --all')
    if (sub === 'replay' && values.all && hasSelector(selector)) throw new UsageError('--all replays every dead letter: leave out the selectors, or --all')
    if (sub !== 'replay' && (values.all || values['dry-run'] || values.force)) throw new UsageError('--all, --dry-run and --force are for synthq dlq replay')
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.err(`synthq dlq: ${err.message}\n(synthq dlq --help for the options)\n`)
      return 2
    }
    throw err
  }
  const db = values.db ?? defaults.db
  const runner = runnerKind(values.runner)
  const source = openSource({ runner, db, prefix }, logger)
  let letters: StoredLetter[]
  let undecodable
  try {
    ({ letters, undecodable } = await readDeadLetters(source, prefix, selector.since !== undefined ? { since: selector.since } : {}))
  } catch (err) {
    await source.close()
    throw err
  }
  const dlqTopic = topicName('deadLetters', prefix)
  for (const u of undecodable) io.err(`synthq dlq: cannot decode ${dlqTopic} partition ${u.partition} offset ${u.offset}: ${u.reason}\n`)
  const partial = undecodable.length ? 3 : 0
  // --id and show take an id or its first 8+ characters, when that names one dead letter.
  const resolveId = (id: string): string[] => letters.filter((s) => s.letter.id === id || (id.length >= 8 && s.letter.id.startsWith(id))).map((s) => s.letter.id)
  if (selector.ids) {
    const full: string[] = []
    for (const id of selector.ids) {
      const found = [...new Set(resolveId(id))]
      if (found.length > 1) {
        await source.close()
        io.err(`synthq dlq: ${found.length} dead letters start with ${id}: ${found.join(', ')}\n`)
        return 2
      }
      full.push(...(found.length ? found : [id]))
    }
    selector = { ...selector, ids: full }
  }
  try {
    if (sub === 'show') {
      const id = positionals[1]!
      const ids = new Set(resolveId(id))
      const found = letters.filter((s) => ids.has(s.letter.id))
      if (found.length === 0) {
        io.err(`synthq dlq: no dead letter with id ${id} in ${dlqTopic}\n`)
        return 1
      }
      if (found.length > 1) {
        io.err(`synthq dlq: ${found.length} dead letters start with ${id}: ${found.map((s) => s.letter.id).join(', ')}\n`)
        return 2
      }
      await show(found[0]!, source.serde, dlqTopic, values.json === true, io)
      return partial
    }
    const selected = selectLetters(letters, selector)
    if (sub === 'list') {
      const shown = selected.slice(0, limit)
      if (values.json) {
        for (const s of shown) io.out(JSON.stringify(listJson(s), jsonReplacer) + '\n')
      } else if (shown.length === 0) {
        io.out(letters.length === 0 ? `no dead letters in ${dlqTopic}\n` : `no dead letters match (of ${letters.length} in ${dlqTopic})\n`)
      } else {
        // Source topics without the prefix: the reason gets the room.
        const bare = (t: string): string => (t.startsWith(`${prefix}.`) ? t.slice(prefix.length + 1) : t)
        const rows = shown.map(({ letter: l }) => [shortId(l.id), short(l.failed_at), l.stage, position({ ...l, source_topic: bare(l.source_topic) }), l.error_class, String(l.attempts), l.message])
        io.out(renderTable(['id', 'failed at (UTC)', 'stage', 'source', 'error', 'attempts', 'reason'], rows, terminalWidth(), [Infinity, Infinity, 10, 10, 10, Infinity, 24]).join('\n') + '\n')
        io.out(`${shown.length}${shown.length < selected.length ? ` of ${selected.length}` : ''} dead letter(s)${selected.length < letters.length ? ` (${letters.length} in ${dlqTopic})` : ''}; full record: synthq dlq show <id>\n`)
      }
      return partial
    }
    if (sub === 'summary') {
      const rows = summarize(selected)
      if (values.json) {
        for (const r of rows) io.out(JSON.stringify({ stage: r.stage, error_class: r.errorClass, count: r.count, example: r.example, first_failed_at: iso(r.first), last_failed_at: iso(r.last) }) + '\n')
      } else if (rows.length === 0) {
        io.out(letters.length === 0 ? `no dead letters in ${dlqTopic}\n` : `no dead letters match (of ${letters.length} in ${dlqTopic})\n`)
      } else {
        io.out(renderTable(['stage', 'error', 'count', 'last failed (UTC)', 'example reason'], rows.map((r) => [r.stage, r.errorClass, String(r.count), short(r.last), r.example]), terminalWidth(), [10, 10, Infinity, Infinity, 24]).join('\n') + '\n')
        io.out(`${selected.length} dead letter(s) in ${rows.length} group(s); list them: synthq dlq list --stage S --error CLASS\n`)
      }
      return partial
    }
    // replay
    const opts = { prefix, force: Boolean(values.force), dryRun: Boolean(values['dry-run']) }
    const outcomes = await replay(source, selected, opts)
    reportReplay(outcomes, opts.dryRun, values.json === true, io)
    const missing = (selector.ids ?? []).filter((id) => !letters.some((s) => s.letter.id === id))
    for (const id of missing) io.err(`synthq dlq: no dead letter with id ${id} in ${dlqTopic}\n`)
    if (selected.length === 0) io.err(`synthq dlq: no dead letters match (of ${letters.length} in ${dlqTopic})\n`)
    return missing.length || outcomes.some((o) => o.status === 'not-replayable' || o.status === 'replayed-before') ? 3 : partial
  } finally {
    await source.close()
  }
}

async function show (s: StoredLetter, serde: Parameters<typeof decodeOriginal>[0], dlqTopic: string, json: boolean, io: DlqIo): Promise<void> {
  const l = s.letter
  const original = await decodeOriginal(serde, l)
  if (json) {
    io.out(JSON.stringify({
      ...listJson(s), schema_id: l.schema_id, headers: l.headers, raw_output: l.raw_output,
      value_base64: l.value?.toString('base64') ?? null,
      ...('value' in original ? { value: original.value } : { value_decode_error: original.error }),
    }, jsonReplacer) + '\n')
    return
  }
  const lines = [
    `id           ${l.id}`,
    `stage        ${l.stage}`,
    `source       ${l.source_topic} partition ${l.source_partition ?? '?'} offset ${l.source_offset ?? '?'}`,
    `key          ${l.key === null ? '(none)' : l.key.toString('utf8')}`,
    `error        ${l.error_class}${l.error_code ? ` (${l.error_code})` : ''} after ${l.attempts} attempt(s)`,
    `message      ${l.message}`,
    `failed at    ${iso(l.failed_at)}`,
    `run          ${l.run_id ?? '(unknown)'}`,
    `schema id    ${l.schema_id ?? '(none)'}`,
    `headers      ${Object.keys(l.headers).length ? JSON.stringify(l.headers) : '(none)'}`,
    `dead letter  ${dlqTopic} partition ${s.partition} offset ${s.offset}`,
    '',
    `raw output:${l.raw_output === null ? ' (none)' : `\n${l.raw_output}`}`,
    '',
    'value' in original
      ? `original value (decoded):\n${JSON.stringify(original.value, jsonReplacer, 2)}`
      : `original value does not decode: ${original.error}`,
    `original value bytes (base64, ${l.value?.length ?? 0} bytes): ${l.value?.toString('base64') ?? '(none)'}`,
  ]
  io.out(lines.join('\n') + '\n')
}

function reportReplay (outcomes: readonly ReplayOutcome[], dryRun: boolean, json: boolean, io: DlqIo): void {
  if (json) {
    for (const o of outcomes) io.out(JSON.stringify(o) + '\n')
    return
  }
  const done = outcomes.filter((o) => o.status === 'replayed' || o.status === 'would-replay')
  const groups = new Map<string, ReplayOutcome[]>()
  for (const o of done) {
    const k = `${o.stage} → ${o.topic}`
    groups.set(k, [...(groups.get(k) ?? []), o])
  }
  io.out(`${dryRun ? 'would replay' : 'replayed'} ${done.length} dead letter(s)${done.length ? ':' : ''}\n`)
  for (const [k, os] of groups) {
    const where = dryRun ? '' : `  (${os.map((o) => `${o.partition}@${o.offset}`).slice(0, 10).join(', ')}${os.length > 10 ? ', …' : ''})`
    io.out(`  ${k}: ${os.length}${where}\n`)
  }
  const before = outcomes.filter((o) => o.status === 'replayed-before')
  if (before.length) {
    io.out(`refused ${before.length}: replayed before (--force to replay again):\n`)
    for (const o of before) io.out(`  ${o.id} (${o.stage}): ${o.reason}\n`)
  }
  const bad = outcomes.filter((o) => o.status === 'not-replayable')
  if (bad.length) {
    io.out(`not replayable ${bad.length}:\n`)
    for (const o of bad) io.out(`  ${o.id} (${o.stage}): ${o.reason}\n`)
  }
}
