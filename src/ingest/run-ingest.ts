/**
 * The ingest loop: for each input, open it (gzip by magic bytes), tell its format, read its
 * records, pick the preset (given, or detected from the first record), map, validate against
 * the topic's Avro schema, and write in batches to the target. Every record that cannot be
 * ingested is reported by position and reason, written to the rejects file and counted; the
 * run goes on. Per-file counts feed the summary.
 *
 * Batches never span two files, so each batch's written/duplicate counts belong to one file.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { SchemaCatalog } from '../serde/schema-catalog.ts'
import { topicSpec } from '../topics.ts'
import { openBytes, sniffFormat, type ByteCounter } from './byte-source.ts'
import { formatFromName, type InputFormat, type InputSource } from './input-files.ts'
import { readJsonArray } from './json-array-reader.ts'
import { readJsonLines } from './jsonl-reader.ts'
import { readParquetRows } from './parquet-reader.ts'
import { detectPreset, genericPreset, PRESETS, type Preset, type PresetName, type Target } from './presets.ts'
import { Progress, type ProgressStream } from './progress.ts'
import { formatPosition, type RawRecord } from './raw-record.ts'
import { mapRecord, type FieldOverrides } from './record-mapping.ts'
import type { RejectsFile } from './rejects-file.ts'
import type { IngestTarget, KeyedValue } from './target.ts'

export interface IngestOptions {
  target: Target
  /** --format: overrides what names and content say. */
  format?: InputFormat
  preset?: PresetName
  overrides: FieldOverrides
  corpus?: string
  license?: string
  maxBytes: number
  batchSize?: number
  /** How many rejects are printed before the rest only go to the rejects file. */
  reportLimit?: number
}

export interface IngestIO {
  stdin: Readable
  /** Rejects, notes and progress. */
  stderr: ProgressStream
  now?: () => number
  /** Set to stop after the batch in hand (Ctrl-C). */
  signal?: AbortSignal
}

export interface FileSummary {
  source: string
  format?: InputFormat
  gzip: boolean
  preset?: string
  presetDetected: boolean
  read: number
  ingested: number
  duplicates: number
  rejected: number
  empty: boolean
  /** The file could not be read at all (exit code 1). */
  error?: string
}

export interface IngestResult {
  files: FileSummary[]
  read: number
  ingested: number
  duplicates: number
  rejected: number
  errors: number
  seconds: number
  interrupted: boolean
  /** Rejects not printed on stderr (past the report limit); all are in the rejects file. */
  unreported?: number
}

export async function ingestSources (sources: readonly InputSource[], target: IngestTarget, rejects: RejectsFile, opts: IngestOptions, io: IngestIO): Promise<IngestResult> {
  const now = io.now ?? Date.now
  const started = now()
  const batchSize = opts.batchSize ?? 500
  const reportLimit = opts.reportLimit ?? 20
  const totalBytes = sources.every((s) => s.size !== undefined) ? sources.reduce((a, s) => a + s.size!, 0) : undefined
  const progress = new Progress({ stream: io.stderr, ...(totalBytes !== undefined ? { totalBytes } : {}), now })
  const type = SchemaCatalog.load().get(topicSpec(opts.target === 'seeds' ? 'realInstructions' : 'documents').recordName).type
  const counter: ByteCounter = { bytes: 0 }
  const files: FileSummary[] = []
  let reported = 0
  let records = 0
  const note = (line: string): void => progress.line(`synthq ingest: ${line}`)

  const reject = (file: FileSummary, at: RawRecord['at'], reason: string, raw: RawRecord['raw'], bytes: number): void => {
    file.rejected++
    rejects.add(file.source, at, reason, raw, bytes)
    if (reported++ < reportLimit) progress.line(`${formatPosition(file.source, at)}: ${reason}`)
  }

  for (const source of sources) {
    if (io.signal?.aborted) break
    const file: FileSummary = { source: source.name, gzip: false, presetDetected: false, read: 0, ingested: 0, duplicates: 0, rejected: 0, empty: false }
    files.push(file)
    const bytesBefore = counter.bytes
    let spoolDir: string | undefined
    try {
      let opened
      try {
        opened = await openBytes(source.path !== undefined ? { path: source.path } : { stdin: io.stdin }, counter)
      } catch (err) {
        file.error = `cannot read: ${(err as Error).message}`
        note(`${source.name}: ${file.error}`)
        continue
      }
      file.gzip = opened.gzip
      if (opened.head.length === 0) {
        file.empty = true
        note(`${source.name}: empty${opened.gzip ? ' (after gunzip)' : ''}, nothing to ingest`)
        continue
      }
      const inner = source.path !== undefined ? source.name.replace(/\.gz$/i, '') : ''
      const format = opts.format ?? formatFromName(inner) ?? sniffFormat(opened.head)
      if (!format) {
        file.error = 'cannot tell the format (not gzip, Parquet, a JSON array or JSON lines): give --format jsonl|json|parquet'
        note(`${source.name}: ${file.error}`)
        continue
      }
      file.format = format
      let rows: AsyncIterable<RawRecord>
      if (format === 'parquet') {
        let path = source.path
        let parquetCounter = counter
        if (opened.gzip || path === undefined) {
          // Parquet needs random access (its index is at the end): spool the stream to a file.
          spoolDir = mkdtempSync(join(tmpdir(), 'synthq-ingest-'))
          path = join(spoolDir, 'input.parquet')
          await pipeline(opened.chunks, createWriteStream(path))
          parquetCounter = { bytes: 0 } // the input's bytes are already counted
        }
        rows = readParquetRows(path, { maxBytes: opts.maxBytes, counter: parquetCounter })
      } else {
        rows = format === 'json' ? readJsonArray(opened.chunks, { maxBytes: opts.maxBytes }) : readJsonLines(opened.chunks, { maxBytes: opts.maxBytes })
      }

      let preset: Preset | undefined = opts.preset ? PRESETS[opts.preset] : Object.keys(opts.overrides).length ? genericPreset(opts.target) : undefined
      if (preset) file.preset = preset.name
      let batch: KeyedValue[] = []
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return
        const r = await target.write(batch)
        file.ingested += r.written
        file.duplicates += r.duplicates.length
        batch = []
      }
      for await (const rec of rows) {
        if (io.signal?.aborted) break
        if (rec.wholeFile) {
          file.error = rec.reject ?? 'unreadable'
          note(`${source.name}: ${file.error}`)
          break
        }
        file.read++
        records++
        if (rec.reject !== undefined || rec.value === undefined) {
          reject(file, rec.at, rec.reject ?? 'unreadable', rec.raw, rec.bytes)
          if (rec.fatal) break // the input ends here (truncated gzip, broken array): on to the next file
          continue
        }
        if (!preset) {
          preset = detectPreset(rec.value, opts.target)
          if (!preset) {
            // One record is enough: the records of a file share their shape, and twenty
            // identical reasons would only bury the one hint that matters.
            const fields = Object.keys(rec.value).slice(0, 8).join(', ') || 'none'
            const hint = opts.target === 'documents' && typeof rec.value.prompt === 'string' ? 'it looks like seed prompts: ingest them with --to seeds' : 'give --preset, or --map text=FIELD'
            file.error = `cannot tell the corpus from the fields of ${formatPosition(source.name, rec.at)} (${fields}): ${hint}`
            file.read--
            records--
            note(`${source.name}: ${file.error}; file skipped`)
            break
          }
          file.preset = preset.name
          file.presetDetected = true
          note(`${source.name}: preset ${preset.name} (detected from the fields of ${formatPosition(source.name, rec.at)})`)
        }
        const mapped = mapRecord(rec.value, preset, { target: opts.target, overrides: opts.overrides, ...(opts.corpus ? { corpus: opts.corpus } : {}), ...(opts.license ? { license: opts.license } : {}), now: now() }, { source: source.name })
        if ('reject' in mapped) { reject(file, rec.at, mapped.reject, rec.raw, rec.bytes); continue }
        const paths: string[] = []
        if (!type.isValid(mapped.value, { errorHook: (p: string[]) => paths.push(p.join('.')) })) {
          reject(file, rec.at, `does not fit ${type.name}: invalid field(s) ${paths.join(', ')}`, rec.raw, rec.bytes)
          continue
        }
        batch.push(mapped)
        if (batch.length >= batchSize) await flush()
        progress.update(records, counter.bytes, source.name)
      }
      await flush()
      if (file.read === 0 && file.rejected === 0 && !file.error) {
        file.empty = true
        note(`${source.name}: no records (only blank lines), nothing to ingest`)
      }
    } finally {
      if (spoolDir) rmSync(spoolDir, { recursive: true, force: true })
      if (source.size !== undefined) counter.bytes = bytesBefore + source.size // whatever was skipped still counts as done
      progress.update(records, counter.bytes, source.name)
    }
  }
  progress.done()
  const sum = (k: 'read' | 'ingested' | 'duplicates' | 'rejected'): number => files.reduce((a, f) => a + f[k], 0)
  return {
    files,
    read: sum('read'),
    ingested: sum('ingested'),
    duplicates: sum('duplicates'),
    rejected: sum('rejected'),
    errors: files.filter((f) => f.error).length,
    seconds: (now() - started) / 1000,
    interrupted: Boolean(io.signal?.aborted),
    ...(reported > reportLimit ? { unreported: reported - reportLimit } : {}),
  }
}
