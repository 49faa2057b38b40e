/**
 * The trainable datasets: `synthq export --format sft` (supervised fine-tuning: each instruction
 * of the sample with its response, as chat messages or Alpaca-style records) and `--format dpo`
 * (preference pairs: prompt, chosen, rejected), each as JSON lines or Parquet with its dataset
 * card (models, judge agreement, counts).
 *
 * What is in them is decided by the current sample: an SFT row for each sample member whose
 * response has arrived, a DPO row for each sample member whose pair the judge preferred in both
 * orders. The histories of the topics (upserts and tombstones) give the counts of the card:
 * instructions evicted before their response, responses deleted with their instruction, ties and
 * inconsistent verdicts.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parquetWriteBuffer } from 'hyparquet-writer'
import type { PreferenceValue } from '../../processors/response/judge.ts'
import type { ResponseValue } from '../../processors/response/response.ts'
import type { SampleRowValue } from '../../processors/sink/types.ts'
import type { AvroSerde } from '../../serde/avro-serde.ts'
import { topicName } from '../../topics.ts'
import type { RawKeyed } from '../sample-store.ts'

export type TrainableFormat = 'sft' | 'alpaca' | 'dpo'
export type FileType = 'jsonl' | 'parquet'

export interface TrainableContents {
  /** The sample's members (as export reads them: sample-store.ts). */
  sample: SampleRowValue[]
  /** Latest response per instruction id. */
  responses: Map<string, ResponseValue>
  /** Latest verdict per instruction id. */
  preferences: Map<string, PreferenceValue>
  /** From the topics' histories. */
  history: {
    /** Instructions that left the sample. */
    evicted: number
    /** … of which never had a response (not called for, or the call dropped in flight). */
    evictedBeforeResponse: number
    /** Responses tombstoned when their instruction left the sample. */
    responsesDeleted: number
  }
}

/** Decodes the responses and preferences topics and counts what their histories say. */
export async function readTrainable (serde: AvroSerde, prefix: string, sample: SampleRowValue[], raw: { sample: Iterable<RawKeyed>, responses: Iterable<RawKeyed>, preferences: Iterable<RawKeyed> }): Promise<TrainableContents> {
  const latest = (rows: Iterable<RawKeyed>): Map<string, Buffer | null> => {
    const m = new Map<string, Buffer | null>()
    for (const r of rows) if (r.key !== null) m.set(r.key, r.value)
    return m
  }
  const evicted = new Set<string>()
  for (const r of raw.sample) if (r.key !== null && r.value === null) evicted.add(r.key)
  const everAnswered = new Set<string>()
  let responsesDeleted = 0
  const responseRows = [...raw.responses]
  const answeredNow = new Set<string>()
  for (const r of responseRows) {
    if (r.key === null) continue
    if (r.value !== null) { everAnswered.add(r.key); answeredNow.add(r.key) } else if (answeredNow.delete(r.key)) responsesDeleted++
  }
  const responsesTopic = topicName('responses', prefix)
  const preferencesTopic = topicName('preferences', prefix)
  const responses = new Map<string, ResponseValue>()
  for (const [k, v] of latest(responseRows)) if (v) responses.set(k, await serde.decode<ResponseValue>(responsesTopic, v))
  const preferences = new Map<string, PreferenceValue>()
  for (const [k, v] of latest(raw.preferences)) if (v) preferences.set(k, await serde.decode<PreferenceValue>(preferencesTopic, v))
  return {
    sample,
    responses,
    preferences,
    history: { evicted: evicted.size, evictedBeforeResponse: [...evicted].filter((k) => !everAnswered.has(k)).length, responsesDeleted },
  }
}

export interface SftRow {
  id: string
  messages: Array<{ role: 'user' | 'assistant', content: string }>
  total: number
  topic_label: string
  model: string
  document_id: string
  simulated: boolean
}

export interface AlpacaRow {
  id: string
  instruction: string
  input: string
  output: string
  total: number
  model: string
  simulated: boolean
}

export interface DpoRow {
  id: string
  prompt: string
  chosen: string
  rejected: string
  chosen_model: string
  rejected_model: string
  reason: string
  total: number
  simulated: boolean
}

const byId = <T extends { id: string }>(rows: T[]): T[] => rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
const modelOf = (r: ResponseValue): string => `${r.model.endpoint}/${r.model.name}@${r.model.temperature}`

/** SFT rows: the sample's members that have their response. */
export function sftRows (c: TrainableContents): SftRow[] {
  const out: SftRow[] = []
  for (const row of c.sample) {
    const r = c.responses.get(row.id)
    if (!r) continue
    out.push({
      id: row.id,
      messages: [{ role: 'user', content: row.instruction }, { role: 'assistant', content: r.response }],
      total: row.total,
      topic_label: row.topic_label,
      model: modelOf(r),
      document_id: row.document.id,
      simulated: row.lineage.simulated || r.lineage.simulated,
    })
  }
  return byId(out)
}

/** The Alpaca-style variant: instruction, input (empty), output. */
export function alpacaRows (c: TrainableContents): AlpacaRow[] {
  return sftRows(c).map((r) => ({ id: r.id, instruction: r.messages[0]!.content, input: '', output: r.messages[1]!.content, total: r.total, model: r.model, simulated: r.simulated }))
}

/** DPO rows: the sample's members whose pair the judge preferred in both orders. */
export function dpoRows (c: TrainableContents): DpoRow[] {
  const out: DpoRow[] = []
  for (const row of c.sample) {
    const p = c.preferences.get(row.id)
    if (!p || p.outcome !== 'preferred' || p.chosen === null || p.rejected === null) continue
    out.push({ id: row.id, prompt: row.instruction, chosen: p.chosen, rejected: p.rejected, chosen_model: p.chosen_model ?? '', rejected_model: p.rejected_model ?? '', reason: p.reason, total: row.total, simulated: row.lineage.simulated || p.lineage.simulated })
  }
  return byId(out)
}

export interface TrainableStats {
  sample: number
  withResponse: number
  missingResponse: number
  responseModels: Record<string, number>
  evicted: number
  evictedBeforeResponse: number
  responsesDeleted: number
  judged: number
  preferred: number
  ties: number
  inconsistent: number
  /** Preferred / (preferred + inconsistent): how often the two orders agreed when neither was a tie. */
  agreement: number | null
  judges: Record<string, number>
  pairModels: Record<string, number>
}

export function trainableStats (c: TrainableContents): TrainableStats {
  const members = new Set(c.sample.map((r) => r.id))
  const responseModels: Record<string, number> = {}
  let withResponse = 0
  for (const id of members) {
    const r = c.responses.get(id)
    if (!r) continue
    withResponse++
    responseModels[modelOf(r)] = (responseModels[modelOf(r)] ?? 0) + 1
  }
  let preferred = 0; let ties = 0; let inconsistent = 0
  const judges: Record<string, number> = {}
  const pairModels: Record<string, number> = {}
  for (const [id, p] of c.preferences) {
    if (!members.has(id)) continue
    if (p.outcome === 'preferred') preferred++
    else if (p.outcome === 'tie') ties++
    else inconsistent++
    const j = `${p.judge.endpoint}/${p.judge.name}`
    judges[j] = (judges[j] ?? 0) + 1
    if (p.chosen_model && p.rejected_model) {
      const k = `${p.chosen_model} over ${p.rejected_model}`
      pairModels[k] = (pairModels[k] ?? 0) + 1
    }
  }
  return {
    sample: members.size,
    withResponse,
    missingResponse: members.size - withResponse,
    responseModels,
    evicted: c.history.evicted,
    evictedBeforeResponse: c.history.evictedBeforeResponse,
    responsesDeleted: c.history.responsesDeleted,
    judged: preferred + ties + inconsistent,
    preferred,
    ties,
    inconsistent,
    agreement: preferred + inconsistent > 0 ? preferred / (preferred + inconsistent) : null,
    judges,
    pairModels,
  }
}

const list = (m: Record<string, number>): string => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => `\`${k}\` (${n})`).join(', ') || 'none'

function sizeCategory (n: number): string {
  return n < 1_000 ? 'n<1K' : n < 10_000 ? '1K<n<10K' : n < 100_000 ? '10K<n<100K' : n < 1_000_000 ? '100K<n<1M' : '1M<n<10M'
}

/** The dataset card of an SFT or DPO export. */
export function trainableCard (format: TrainableFormat, rows: number, simulated: number, s: TrainableStats, file: string, name: string): string {
  const dpo = format === 'dpo'
  const fields = dpo
    ? '`id`, `prompt` (the instruction), `chosen`, `rejected`, `chosen_model`, `rejected_model`, `reason` (the judge\'s reasons in both orders), `total` (the instruction\'s score, 0–7), `simulated`'
    : format === 'alpaca'
      ? '`id`, `instruction`, `input` (empty: the instruction is self-contained), `output` (the response), `total`, `model`, `simulated`'
      : '`id`, `messages` (`[{role: user, content: instruction}, {role: assistant, content: response}]`), `total` (0–7), `topic_label`, `model` (endpoint/model@temperature of the responder), `document_id`, `simulated`'
  return [
    '---',
    'language:',
    '- en',
    'task_categories:',
    '- text-generation',
    'size_categories:',
    `- ${sizeCategory(rows)}`,
    'configs:',
    '- config_name: default',
    '  data_files:',
    '  - split: train',
    `    path: ${file}`,
    'tags:',
    '- synthetic',
    '- synthq',
    ...(dpo ? ['- dpo', '- preference'] : ['- sft', '- instruction-tuning']),
    ...(simulated ? ['- simulated'] : []),
    '---',
    '',
    `# ${name}`,
    '',
    dpo
      ? 'Preference pairs for DPO on synthetic instructions synthesized with attributed grounding (Zhu et al., *From Real to Synthetic*, ACL 2025, arXiv 2506.03968) by synthq: two responders answered each instruction of the topic-balanced sample, and an LLM judge compared the two answers pairwise in both orders; a pair is kept only when both orders chose the same answer.'
      : 'Supervised fine-tuning data: synthetic instructions synthesized with attributed grounding (Zhu et al., *From Real to Synthetic*, ACL 2025, arXiv 2506.03968) by synthq, each with a responder model\'s answer. The responder saw the instruction only, not the document the instruction was grounded in (unless `pipeline.responses.showDocument` was set).',
    '',
    ...(simulated ? [`> **${simulated} of ${rows} rows were produced with synthq's LLM simulator, not a real model** (\`simulated: true\`): they show the pipeline working and are not training data.`, ''] : []),
    '## Contents',
    '',
    `- rows: ${rows}`,
    `- instructions in the sample: ${s.sample}; with a response: ${s.withResponse}; response still to come: ${s.missingResponse}`,
    `- responders (the response stage): ${list(s.responseModels)}`,
    `- instructions evicted from the sample: ${s.evicted}; of these, evicted before their response (no response kept, none paid for after the eviction): ${s.evictedBeforeResponse}; responses deleted with their instruction: ${s.responsesDeleted}`,
    ...(dpo || s.judged > 0
      ? [
          `- judge: ${list(s.judges)}; pairs judged: ${s.judged} — preferred in both orders: ${s.preferred}, ties: ${s.ties}, inconsistent across orders (dropped): ${s.inconsistent}`,
          `- judge agreement across the two orders: ${s.agreement === null ? 'n/a' : `${(100 * s.agreement).toFixed(1)} %`} (preferred / (preferred + inconsistent))`,
          ...(dpo ? [`- chosen over rejected: ${list(s.pairModels)}`] : []),
        ]
      : []),
    '',
    `Fields: ${fields}.`,
    '',
    '## Licence',
    '',
    'Each instruction derives from a source document (see the instruction dataset\'s `document_id`/`document_url`); the licence of the source corpus applies to the excerpts quoted, and the responding models\' terms to their answers.',
    '',
  ].join('\n')
}

export interface TrainableExport { rows: number, files: string[], stats: TrainableStats }

/** Writes `data/train.jsonl` or `data/train-00000.parquet` and `README.md` under `outDir`. */
export function exportTrainable (c: TrainableContents, o: { outDir: string, format: TrainableFormat, file: FileType, name?: string, minScore?: number }): TrainableExport {
  const keep = <T extends { total: number }>(rows: T[]): T[] => (o.minScore === undefined ? rows : rows.filter((r) => r.total >= o.minScore!))
  mkdirSync(join(o.outDir, 'data'), { recursive: true })
  const rel = o.file === 'jsonl' ? 'data/train.jsonl' : 'data/train-00000.parquet'
  const path = join(o.outDir, rel)
  let n: number
  let simulated: number
  const str = (data: unknown[], name: string) => ({ name, data, type: 'STRING' as const })
  if (o.format === 'dpo') {
    const rows = keep(dpoRows(c))
    n = rows.length
    simulated = rows.filter((r) => r.simulated).length
    if (o.file === 'jsonl') writeJsonl(path, rows)
    else {
      writeFileSync(path, Buffer.from(parquetWriteBuffer({
        columnData: [str(rows.map((r) => r.id), 'id'), str(rows.map((r) => r.prompt), 'prompt'), str(rows.map((r) => r.chosen), 'chosen'), str(rows.map((r) => r.rejected), 'rejected'), str(rows.map((r) => r.chosen_model), 'chosen_model'), str(rows.map((r) => r.rejected_model), 'rejected_model'), str(rows.map((r) => r.reason), 'reason'), { name: 'total', data: rows.map((r) => r.total), type: 'INT32' }, { name: 'simulated', data: rows.map((r) => r.simulated), type: 'BOOLEAN' }],
      })))
    }
  } else if (o.format === 'alpaca') {
    const rows = keep(alpacaRows(c))
    n = rows.length
    simulated = rows.filter((r) => r.simulated).length
    if (o.file === 'jsonl') writeJsonl(path, rows)
    else {
      writeFileSync(path, Buffer.from(parquetWriteBuffer({
        columnData: [str(rows.map((r) => r.id), 'id'), str(rows.map((r) => r.instruction), 'instruction'), str(rows.map((r) => r.input), 'input'), str(rows.map((r) => r.output), 'output'), { name: 'total', data: rows.map((r) => r.total), type: 'INT32' }, str(rows.map((r) => r.model), 'model'), { name: 'simulated', data: rows.map((r) => r.simulated), type: 'BOOLEAN' }],
      })))
    }
  } else {
    const rows = keep(sftRows(c))
    n = rows.length
    simulated = rows.filter((r) => r.simulated).length
    if (o.file === 'jsonl') writeJsonl(path, rows)
    else writeFileSync(path, Buffer.from(sftParquet(rows)))
  }
  const stats = trainableStats(c)
  writeFileSync(join(o.outDir, 'README.md'), trainableCard(o.format, n, simulated, stats, rel, o.name ?? (o.format === 'dpo' ? 'synthq-dpo' : 'synthq-sft')))
  return { rows: n, files: [rel, 'README.md'], stats }
}

function writeJsonl (path: string, rows: unknown[]): void {
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''))
}

/**
 * SFT rows as Parquet with `messages` a real list of structs (`list<struct<role, content>>`, the
 * layout `datasets` and TRL expect for chat data), not a JSON string.
 */
export function sftParquet (rows: SftRow[]): ArrayBuffer {
  const utf8 = { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' } as const
  return parquetWriteBuffer({
    columnData: [
      { name: 'id', data: rows.map((r) => r.id) },
      { name: 'messages', data: rows.map((r) => r.messages) },
      { name: 'total', data: rows.map((r) => r.total) },
      { name: 'topic_label', data: rows.map((r) => r.topic_label) },
      { name: 'model', data: rows.map((r) => r.model) },
      { name: 'document_id', data: rows.map((r) => r.document_id) },
      { name: 'simulated', data: rows.map((r) => r.simulated) },
    ],
    schema: [
      { name: 'root', num_children: 7 },
      { name: 'id', ...utf8 },
      { name: 'messages', repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', repetition_type: 'REQUIRED', num_children: 2 },
      { name: 'role', ...utf8 },
      { name: 'content', ...utf8 },
      { name: 'total', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'topic_label', ...utf8 },
      { name: 'model', ...utf8 },
      { name: 'document_id', ...utf8 },
      { name: 'simulated', type: 'BOOLEAN', repetition_type: 'REQUIRED' },
    ],
  })
}
