/**
 * The work every system in `npm run bench:peers` does: the same cleaned documents, synthq's own
 * three prompts and JSON schemas, the same max_tokens. Written once per run to a folder:
 *
 *   spec.json          model, max_tokens, and per step: system prompt, user template, schema
 *   work.jsonl         {"id", "document"}: cleaned documents, cut to synthq's document budget
 *   synthq-input.jsonl the same documents as synthq ingests them ({"id", "text", "url", "corpus"})
 *
 * The user templates are synthq's prompts with their inputs as placeholders ({document}, {scene},
 * {compositions}, {query}); a peer fills them in one pass. `compositions` is the JSON of step 1's
 * `query_compositions` written without spaces (JSON.stringify, Python's separators=(",", ":")),
 * as synthq writes it, so every system sends byte-identical requests and the simulator, whose
 * answers are a function of the request, gives every system the same answers and token counts.
 *
 *   tsx bench/peers/work.ts OUT_DIR [--docs 500]
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkDocument } from '../../src/hygiene/document-gate.ts'
import { tokenizerFor } from '../../src/hygiene/tokenizer.ts'
import { INSTRUCTION_PROMPT } from '../../src/processors/instruction/prompt.ts'
import { CRITERIA, SCORING_PROMPT } from '../../src/processors/scoring/prompt.ts'
import { ENVISIONING_PROMPT } from '../../src/processors/situation/envisioning-prompt.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import type { Prompt } from '../../src/processors/prompt.ts'

export const CORPUS_FILE = new URL('../../data/web/c4-en-validation-600.jsonl', import.meta.url)
export const MODEL = 'sim-chat-8b'
export const MAX_TOKENS = 2048

export interface StepSpec { name: string, system: string, user_template: string, schema: object, schema_name: string }
export interface WorkSpec { model: string, max_tokens: number, steps: StepSpec[], criteria: readonly string[] }
export interface PreparedWork { dir: string, documents: number, rawDocuments: number, rejected: number, duplicates: number }

/** A prompt's user message with its inputs replaced by `{name}` placeholders. */
function template<In> (p: Prompt<In>, input: In): { system: string, user: string } {
  const m = p.messages(input)
  const system = m.find((x) => x.role === 'system')?.content
  const user = m.find((x) => x.role === 'user')?.content
  if (typeof system !== 'string' || typeof user !== 'string' || m.length !== 2) throw new Error(`prompt ${p.id}: expected one system and one user message`)
  return { system, user }
}

export function workSpec (): WorkSpec {
  const s1 = template(ENVISIONING_PROMPT, { demonstrations: '', document: '{document}' })
  const s2 = template(INSTRUCTION_PROMPT, { demonstrations: '', document: '{document}', scene: '{scene}', compositions: '{compositions}' })
  const s3 = template(SCORING_PROMPT, { query: '{query}' })
  return {
    model: MODEL,
    max_tokens: MAX_TOKENS,
    steps: [
      { name: 'situation', system: s1.system, user_template: s1.user, schema: ENVISIONING_PROMPT.schema, schema_name: ENVISIONING_PROMPT.id },
      { name: 'instruction', system: s2.system, user_template: s2.user, schema: INSTRUCTION_PROMPT.schema, schema_name: INSTRUCTION_PROMPT.id },
      { name: 'scoring', system: s3.system, user_template: s3.user, schema: SCORING_PROMPT.schema, schema_name: SCORING_PROMPT.id },
    ],
    criteria: CRITERIA,
  }
}

/** The first `docs` C4 pages through synthq's document gate (normalise, reject, cut) and exact dedup. */
export function prepareWork (dir: string, docs = 500): PreparedWork {
  mkdirSync(dir, { recursive: true })
  const lines = readFileSync(CORPUS_FILE, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, docs)
  const tokenizer = tokenizerFor('llama3')
  tokenizer.load()
  const seen = new Set<string>()
  const work: string[] = []
  const input: string[] = []
  let rejected = 0
  let duplicates = 0
  lines.forEach((line, i) => {
    const raw = JSON.parse(line) as { text: string, url?: string }
    const checked = checkDocument(raw.text, { maxTokens: DEFAULT_PIPELINE_OPTIONS.budget.documentTokens, tokenizer, minChars: DEFAULT_PIPELINE_OPTIONS.hygiene.minChars })
    if (!checked.ok) { rejected++; return }
    if (seen.has(checked.hash)) { duplicates++; return }
    seen.add(checked.hash)
    const id = `c4-${String(i).padStart(4, '0')}-${createHash('sha256').update(checked.text).digest('hex').slice(0, 8)}`
    work.push(JSON.stringify({ id, document: checked.text }))
    input.push(JSON.stringify({ id, text: checked.text, url: raw.url ?? null, corpus: 'c4' }))
  })
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(workSpec(), null, 2) + '\n')
  writeFileSync(join(dir, 'work.jsonl'), work.join('\n') + '\n')
  writeFileSync(join(dir, 'synthq-input.jsonl'), input.join('\n') + '\n')
  return { dir, documents: work.length, rawDocuments: lines.length, rejected, duplicates }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = (s: string): void => { process.stdout.write(s + '\n') }
  const err = (s: string): void => { process.stderr.write(s + '\n') }
  const dir = process.argv[2]
  if (!dir) {
    err('usage: tsx bench/peers/work.ts OUT_DIR [--docs N]')
    process.exit(2)
  }
  const at = process.argv.indexOf('--docs')
  const r = prepareWork(dir, at > 0 ? Number(process.argv[at + 1]) : 500)
  out(`${r.documents} documents of ${r.rawDocuments} (${r.rejected} rejected, ${r.duplicates} duplicates) → ${dir}`)
}
