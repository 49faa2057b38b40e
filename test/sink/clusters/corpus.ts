/**
 * Labelled real text for topic-quality tests and the topic-quality benchmark: the shipped
 * corpora, each document tagged with the corpus it came from — C4 web pages (600), math
 * Stack Exchange questions (200), physics Stack Exchange questions (100). The corpus is the
 * ground truth topics are scored against (NMI, purity): web pages are varied, so they will split
 * over several topics; math and physics questions should each stay in few, mostly their own.
 *
 * Text: a web page's first 1,000 characters; a question's title and body. The order is a seeded
 * interleaving of the three corpora, so a warm-up window sees all of them, as a live stream of
 * mixed instructions would.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_DATA } from '../../../src/data-paths.ts'
import type { Assignment, OnlineTopicModel } from '../../../src/sink/clusters/online-clustering.ts'
import { seededRandom } from '../../../src/sink/clusters/vectors.ts'

export type CorpusName = 'web' | 'math' | 'physics'

export interface LabelledDoc {
  id: string
  corpus: CorpusName
  text: string
}

function lines (path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
}

function question (r: Record<string, unknown>): string {
  const meta = r.meta as { post_title?: string } | undefined
  return `${meta?.post_title ?? ''}\n${String(r.input)}`
}

/** All 900 documents, in a seeded interleaved order. */
export function loadCorpus (seed = 1): LabelledDoc[] {
  const docs: LabelledDoc[] = [
    ...lines(join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl')).map((r, i) => ({ id: `web-${i}`, corpus: 'web' as const, text: String(r.text).slice(0, 1000) })),
    ...lines(join(REPO_DATA, 'math', 'math-stackexchange-200.jsonl')).map((r, i) => ({ id: `math-${i}`, corpus: 'math' as const, text: question(r) })),
    ...lines(join(REPO_DATA, 'tech', 'physics-stackexchange-100.jsonl')).map((r, i) => ({ id: `physics-${i}`, corpus: 'physics' as const, text: question(r) })),
  ]
  const rand = seededRandom(seed)
  for (let i = docs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = docs[i]!
    docs[i] = docs[j]!
    docs[j] = t
  }
  return docs
}

/** Feeds (id, vector) pairs through a model, then finish(); every assignment by id, in emission order. */
export function assignStream (model: OnlineTopicModel, items: ReadonlyArray<{ id: string, vector: ArrayLike<number> }>): Map<string, Assignment> {
  const out = new Map<string, Assignment>()
  for (const { id, vector } of items) for (const a of model.assign(id, vector)) out.set(a.id, a)
  for (const a of model.finish()) out.set(a.id, a)
  return out
}

/** Lorem-ipsum pages: a real kind of web filler, and a cluster whose words no English corpus shares. */
export function loremPages (count: number, seed = 5): string[] {
  const words = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed eiusmod tempor incididunt labore dolore magna aliqua ' +
    'enim minim veniam quis nostrud exercitation ullamco laboris nisi aliquip commodo consequat duis aute irure reprehenderit ' +
    'voluptate velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat proident sunt culpa officia deserunt ' +
    'mollit anim laborum').split(' ')
  const rand = seededRandom(seed)
  return Array.from({ length: count }, () => Array.from({ length: 60 }, () => words[Math.floor(rand() * words.length)]!).join(' '))
}
