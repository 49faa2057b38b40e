/**
 * The chaos run's input: real documents (C4 web pages, math and physics Stack Exchange) and real
 * user prompts (OpenAssistant) from data/, cycled until there are enough, each copy with an id of
 * its own and a last line naming it — so its normalised text, and with it its content hash, is
 * unique: document hygiene drops exact duplicates silently (that is its job), which would read
 * as a lost record.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_DATA } from '../../src/data-paths.ts'

interface BaseDoc { text: string, url: string | null, title: string | null, corpus: string }
interface BasePrompt { prompt: string, source: string }

function jsonl<T> (file: string): T[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T)
}

function baseDocuments (): BaseDoc[] {
  const docs: BaseDoc[] = []
  for (const r of jsonl<{ text: string, url?: string }>(join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'))) {
    docs.push({ text: r.text, url: r.url ?? null, title: null, corpus: 'c4' })
  }
  const se = (file: string, site: string): void => {
    for (const r of jsonl<{ input: string, output: string, meta?: { post_id?: number | string, post_title?: string } }>(join(REPO_DATA, file))) {
      docs.push({ text: `${r.input}\n\n${r.output}`, url: r.meta?.post_id !== undefined ? `https://${site}/questions/${r.meta.post_id}` : null, title: r.meta?.post_title ?? null, corpus: 'stackexchange' })
    }
  }
  se(join('math', 'math-stackexchange-200.jsonl'), 'math.stackexchange.com')
  se(join('tech', 'physics-stackexchange-100.jsonl'), 'physics.stackexchange.com')
  return docs
}

function basePrompts (): BasePrompt[] {
  return jsonl<{ prompt: string, source?: string }>(join(REPO_DATA, 'seeds', 'oasst-prompts-en.jsonl')).map((r) => ({ prompt: r.prompt, source: r.source ?? 'oasst' }))
}

export interface InputPlan {
  seeds: number
  documents: number
  /** Per chunk: the files to ingest and the ids in them. */
  chunks: Array<{ seedsFile: string | null, documentsFile: string | null, seedIds: string[], documentIds: string[] }>
}

/** Splits `records` into seeds (`seedShare`) and documents and writes them as `shares.length` JSONL chunks. */
export function writeInputs (dir: string, records: number, seedShare: number, shares: number[]): InputPlan {
  const docsBase = baseDocuments()
  const promptsBase = basePrompts()
  const seeds = Math.max(1, Math.round(records * seedShare))
  const documents = Math.max(1, records - seeds)
  const total = shares.reduce((a, b) => a + b, 0)
  const cut = (n: number): number[] => {
    const bounds = [0]
    let acc = 0
    for (const s of shares) { acc += s; bounds.push(Math.round((n * acc) / total)) }
    return bounds
  }
  const seedBounds = cut(seeds)
  const docBounds = cut(documents)
  const chunks: InputPlan['chunks'] = []
  for (let c = 0; c < shares.length; c++) {
    const seedIds: string[] = []
    const seedLines: string[] = []
    for (let i = seedBounds[c]!; i < seedBounds[c + 1]!; i++) {
      const b = promptsBase[i % promptsBase.length]!
      const id = `chaos-seed-${String(i).padStart(7, '0')}`
      seedIds.push(id)
      seedLines.push(JSON.stringify({ id, prompt: `${b.prompt}\n\n(request ${id})`, source: b.source }))
    }
    const documentIds: string[] = []
    const docLines: string[] = []
    for (let i = docBounds[c]!; i < docBounds[c + 1]!; i++) {
      const b = docsBase[i % docsBase.length]!
      const id = `chaos-doc-${String(i).padStart(7, '0')}`
      documentIds.push(id)
      docLines.push(JSON.stringify({ id, text: `${b.text}\n\n(copy ${Math.floor(i / docsBase.length)} · ${id})`, url: b.url, title: b.title, corpus: b.corpus }))
    }
    const seedsFile = seedLines.length ? join(dir, `seeds-${c}.jsonl`) : null
    const documentsFile = docLines.length ? join(dir, `documents-${c}.jsonl`) : null
    if (seedsFile) writeFileSync(seedsFile, seedLines.join('\n') + '\n')
    if (documentsFile) writeFileSync(documentsFile, docLines.join('\n') + '\n')
    chunks.push({ seedsFile, documentsFile, seedIds, documentIds })
  }
  return { seeds, documents, chunks }
}
