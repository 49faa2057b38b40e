/**
 * The end-of-run summary: per file what was read, ingested, already there, rejected; the rate;
 * the topic and where it lives; where the rejects went. Numbers with thousands separators,
 * columns aligned, so a long run's result is read at a glance.
 */
import type { IngestResult } from './run-ingest.ts'

export interface SummaryInput extends IngestResult {
  topic: string
  where: string
  dedup: string
  dryRun: boolean
  rejectsFile: string | null
}

const n = (x: number): string => new Intl.NumberFormat('en-US').format(x)

export function formatSummary (s: SummaryInput): string {
  const rate = s.seconds > 0 ? Math.round(s.read / s.seconds) : s.read
  const header = ['file', 'format', 'preset', 'read', 'ingested', 'duplicates', 'rejected']
  const rows = s.files.map((f) => [
    f.source,
    f.format ? `${f.format}${f.gzip ? '.gz' : ''}` : '-',
    f.preset ? `${f.preset}${f.presetDetected ? ' (detected)' : ''}` : '-',
    n(f.read), n(f.ingested), n(f.duplicates), n(f.rejected),
  ])
  if (s.files.length > 1) rows.push(['total', '', '', n(s.read), n(s.ingested), n(s.duplicates), n(s.rejected)])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => '  ' + cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  const out = [
    `synthq ingest: ${s.dryRun ? 'DRY RUN — nothing written; ' : ''}${n(s.read)} record(s) from ${s.files.length} input(s) in ${s.seconds.toFixed(1)} s (${n(rate)} records/s)${s.interrupted ? ' — INTERRUPTED, run again to add the rest' : ''}`,
    line(header),
    ...rows.map(line),
  ]
  for (const f of s.files) {
    if (f.error) out.push(`  ${f.source}: NOT READ — ${f.error}`)
    else if (f.empty) out.push(`  ${f.source}: empty`)
  }
  out.push(s.dryRun ? `target: ${s.topic} — not written (dry run): ${n(s.ingested)} would be new, ${n(s.duplicates)} repeated within this run` : `target: ${s.topic} in ${s.where}: ${n(s.ingested)} new, ${n(s.duplicates)} already there`)
  out.push(`dedup: ${s.dedup}`)
  out.push(s.rejectsFile ? `rejects: ${n(s.rejected)} record(s) → ${s.rejectsFile} (one JSON line each: source, line, reason, raw)` : 'rejects: none')
  if (s.unreported) out.push(`  (${n(s.unreported)} more rejects than shown above are in that file)`)
  return out.join('\n') + '\n'
}
