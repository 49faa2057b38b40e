/**
 * Writing the sample as a dataset a trainer or the Hugging Face Hub can load: the rows as JSON
 * lines or Parquet under `data/`, and a dataset card (`README.md` with Hugging Face's YAML
 * header) that says what is inside — counts, topics, scores, the run's configuration and
 * whether a simulator made any of it.
 *
 * Parquet is written by hyparquet-writer (pure JavaScript, no native build); nested fields
 * (criteria, query compositions, lineage) are JSON-typed columns, which pandas, pyarrow and
 * `datasets` read back as strings or structs.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parquetWriteBuffer } from 'hyparquet-writer'

export interface DatasetRow {
  id: string
  instruction: string
  scene: string
  query_compositions: Record<string, string>
  criteria: Record<string, { analysis: string, score: number }>
  total: number
  topic: number | string
  topic_label: string
  document_id: string
  document_url: string | null
  lineage: unknown
  simulated: boolean
}

export type DatasetFormat = 'jsonl' | 'parquet'

export interface DatasetStats {
  /** Scored instructions the sink read, and why the ones not kept were dropped. */
  seen: number
  dropped: Record<string, number>
  /** The sample's diversity figures, when computed. */
  vendi?: number
  topicEntropy?: number
  /** Max/min kept among topics that could fill their equal share. */
  balanceRatio?: number | null
  /** The sink's health checks when the sample was exported. */
  health?: { healthy: boolean, checks: Array<{ name: string, ok: boolean, message: string }> }
}

export interface ExportOptions {
  outDir: string
  format: DatasetFormat
  name?: string
  stats: DatasetStats
  /** The run's settings, printed in the card as given. */
  config: Record<string, unknown>
  /** Keep only rows with at least this total (`synthq export --min-score`). */
  minScore?: number
}

export interface ExportResult { rows: number, files: string[] }

function histogram (rows: DatasetRow[]): number[] {
  const h = new Array<number>(8).fill(0)
  for (const r of rows) h[Math.max(0, Math.min(7, r.total))]!++
  return h
}

function sizeCategory (n: number): string {
  if (n < 1_000) return 'n<1K'
  if (n < 10_000) return '1K<n<10K'
  if (n < 100_000) return '10K<n<100K'
  if (n < 1_000_000) return '100K<n<1M'
  return '1M<n<10M'
}

/** The dataset card: YAML header for the Hub, then what the dataset is and how it was made. */
export function datasetCard (rows: DatasetRow[], o: ExportOptions, files: string[]): string {
  const topics = new Map<string, { label: string, n: number }>()
  for (const r of rows) {
    const t = topics.get(String(r.topic)) ?? { label: r.topic_label, n: 0 }
    t.n++
    topics.set(String(r.topic), t)
  }
  const simulated = rows.filter((r) => r.simulated).length
  const h = histogram(rows)
  const name = o.name ?? 'synthq-instructions'
  const lines = [
    '---',
    'language:',
    '- en',
    'task_categories:',
    '- text-generation',
    'size_categories:',
    `- ${sizeCategory(rows.length)}`,
    'configs:',
    '- config_name: default',
    '  data_files:',
    '  - split: train',
    `    path: ${files.map((f) => f.replace(/\\/g, '/')).join(', ')}`,
    'tags:',
    '- synthetic',
    '- instruction-tuning',
    '- synthq',
    ...(simulated ? ['- simulated'] : []),
    '---',
    '',
    `# ${name}`,
    '',
    'Synthetic user instructions synthesized from real documents with attributed grounding (Zhu et al., *From Real to Synthetic*, ACL 2025, arXiv 2506.03968) by synthq: each instruction was written for a situation envisioned from a web document, guided by real instructions attributed to their documents, scored on seven criteria, and sampled to balance topics.',
    '',
    ...(simulated
      ? [`> **${simulated} of ${rows.length} rows were produced with synthq's LLM simulator, not a real model** (\`simulated: true\`): they show the pipeline working and are not training data.`, '']
      : []),
    '## Contents',
    '',
    `- rows: ${rows.length}${o.minScore !== undefined ? ` (total ≥ ${o.minScore})` : ''}`,
    `- topics: ${topics.size}${o.stats.topicEntropy !== undefined ? `, entropy ${o.stats.topicEntropy.toFixed(3)} nats` : ''}${o.stats.vendi !== undefined ? `; Vendi score ${o.stats.vendi.toFixed(2)}` : ''}`,
    `- scored instructions read: ${o.stats.seen}; dropped: ${Object.entries(o.stats.dropped).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    ...(o.stats.balanceRatio !== undefined ? [`- topic balance (max/min kept among topics that filled their share): ${o.stats.balanceRatio === null ? 'n/a (no topic capped yet)' : o.stats.balanceRatio.toFixed(3)}`] : []),
    ...(o.stats.health
      ? [`- health: ${o.stats.health.healthy ? 'healthy' : '**UNHEALTHY**'}`, ...o.stats.health.checks.map((c) => `  - ${c.ok ? 'ok' : '**failed**'} ${c.name}: ${c.message}`)]
      : []),
    '',
    'Fields: `id`, `instruction`, `scene`, `query_compositions`, `criteria` (seven `{analysis, score}`), `total` (0–7), `topic`, `topic_label`, `document_id`, `document_url`, `lineage` (the records, prompts, models and demonstrations behind the row), `simulated`.',
    '',
    '## Score histogram',
    '',
    '| total | rows |',
    '|---|---|',
    ...h.map((n, i) => `| ${i} | ${n} |`),
    '',
    '## Topics',
    '',
    '| topic | label | rows |',
    '|---|---|---|',
    ...[...topics].sort((a, b) => b[1].n - a[1].n).map(([t, v]) => `| ${t} | ${v.label} | ${v.n} |`),
    '',
    '## Configuration of the run',
    '',
    '```json',
    JSON.stringify(o.config, null, 2),
    '```',
    '',
    '## Licence',
    '',
    'Each row derives from the document named in `document_id`/`document_url`; the licence of the source corpus applies to the excerpts quoted in instructions.',
    '',
  ]
  return lines.join('\n')
}

/** Writes `data/train.jsonl` or `data/train-00000.parquet` and `README.md` under `outDir`. */
export function exportDataset (all: DatasetRow[], o: ExportOptions): ExportResult {
  const rows = o.minScore === undefined ? all : all.filter((r) => r.total >= o.minScore!)
  mkdirSync(join(o.outDir, 'data'), { recursive: true })
  const rel = o.format === 'jsonl' ? 'data/train.jsonl' : 'data/train-00000.parquet'
  const path = join(o.outDir, rel)
  if (o.format === 'jsonl') {
    writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''))
  } else {
    const col = <K extends keyof DatasetRow>(k: K): Array<DatasetRow[K]> => rows.map((r) => r[k])
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: col('id'), type: 'STRING' },
        { name: 'instruction', data: col('instruction'), type: 'STRING' },
        { name: 'scene', data: col('scene'), type: 'STRING' },
        { name: 'query_compositions', data: col('query_compositions'), type: 'JSON' },
        { name: 'criteria', data: col('criteria'), type: 'JSON' },
        { name: 'total', data: col('total'), type: 'INT32' },
        { name: 'topic', data: rows.map((r) => String(r.topic)), type: 'STRING' },
        { name: 'topic_label', data: col('topic_label'), type: 'STRING' },
        { name: 'document_id', data: col('document_id'), type: 'STRING' },
        { name: 'document_url', data: col('document_url'), type: 'STRING' },
        { name: 'lineage', data: col('lineage'), type: 'JSON' },
        { name: 'simulated', data: col('simulated'), type: 'BOOLEAN' },
      ],
    })
    writeFileSync(path, Buffer.from(buf))
  }
  writeFileSync(join(o.outDir, 'README.md'), datasetCard(rows, o, [rel]))
  return { rows: rows.length, files: [rel, 'README.md'] }
}
