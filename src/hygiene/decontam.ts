/**
 * Benchmark decontamination: seeds and synthesized instructions must not contain, or be light
 * rewrites of, the prompts of the benchmarks the trained models are evaluated on (the method
 * reports Arena-Hard and AlpacaEval results). A contaminated instruction inflates those scores
 * without improving the model, so it is dropped before any LLM is paid for it.
 *
 * Benchmarks are JSONL files, one prompt per line. The prompt is read from `promptField` (a path
 * such as `turns[0].content`) or, by default, from the first of `prompt`, `question`,
 * `instruction`, `turns[0].content`, `turns[0]` that is a string; the id from `idField` or the
 * first of `uid`, `question_id`, `id` (else the line number). The benchmark's name is the file's
 * basename.
 *
 * A text is flagged (`check`) when, in this order:
 *   exact   its normalizeForHash form equals a prompt's (similarity 1);
 *   ngram   it shares a run of `ngram` words (default 13) with a prompt of at least that many
 *           words — the overlap test used for GPT-3's decontamination (Brown et al. 2020,
 *           "Language Models are Few-Shot Learners", appendix C). Catches a prompt pasted
 *           into a longer text. similarity = share of the prompt's n-grams found in the text;
 *   minhash its Jaccard similarity with a prompt, on word 3-shingles, is ≥ `jaccardThreshold`
 *           (default 0.6): a prompt rewritten with a few words changed, which breaks every
 *           13-gram but keeps most short shingles. For prompts shorter than `ngram` words (no
 *           13-gram exists) the bar is `shortJaccardThreshold` (default 0.7): short prompts
 *           are generic ("What is the best way to learn a new language?"), and one changed word
 *           already removes a third of their shingles, so only near-copies should match.
 * Why 3-shingles and not the 5 used for documents: breaking every 13-gram takes one changed
 * word per 13; each change removes k shingles, so Jaccard falls to about (1 − k/13)/(1 + k/13):
 * 0.44 for k = 5, below any useful threshold, and 0.63 for k = 3. Limit: swapping neighbouring
 * words removes about 4 shingles per swap (≈ 0.53), so a rewrite that reorders words every ~13
 * words mostly passes at 0.6. On the shipped data (600 C4 documents, 345 OpenAssistant seeds)
 * nothing is flagged even at 0.3 (0.4 for short prompts), so the threshold can be lowered.
 * Words are those of minhash.ts: normalised, lowercased, punctuation dropped. MinHash LSH
 * proposes candidates; their Jaccard is then computed exactly on the stored shingle sets, so
 * the reported similarity has no estimation noise. Jaccard cannot reach the threshold when the
 * shingle counts differ by more than that factor, so long texts skip that lookup.
 *
 * Cost: n-gram lookup is two hashes per word of the text. Measured: loading Arena-Hard's 500
 * prompts ≈ 0.1–0.2 s; ≈ 1,000 web documents or ≈ 18,000 user prompts checked per second
 * (bench/hygiene.bench.ts).
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { ConfigError } from '../errors.ts'
import { MinHasher, MinHashLsh, fnv1a32, murmurWords, shingleHashes, words } from './minhash.ts'
import { normalizeForHash, normalizeText } from './normalize.ts'

export interface DecontaminationOptions {
  /** Words in the shared run that flags a text (default 13). */
  ngram?: number
  /** Shingle Jaccard at or above which a text is a rewrite of a prompt (default 0.6). */
  jaccardThreshold?: number
  /** Same, for prompts shorter than `ngram` words (default 0.7). */
  shortJaccardThreshold?: number
  /** Words per shingle for the Jaccard test (default 3, see the header). */
  shingleSize?: number
  /** Where the prompt is in each JSON line, e.g. `turns[0].content` (default: see the header). */
  promptField?: string
  /** Where the id is (default: `uid`, `question_id`, `id`, else the line number). */
  idField?: string
  /** MinHash permutations and seed for candidate search (default 128, 0x5eed). */
  numPerm?: number
  seed?: number
}

export type DecontaminationMethod = 'exact' | 'ngram' | 'minhash'

export interface DecontaminationHit {
  /** File basename of the benchmark. */
  benchmark: string
  /** The benchmark prompt's id. */
  id: string
  /** 1 for exact; share of the prompt's n-grams found (ngram); Jaccard similarity (minhash). */
  similarity: number
  method: DecontaminationMethod
  /** The shared words (ngram), or the start of the benchmark prompt (exact, minhash). */
  excerpt: string
}

interface Prompt {
  benchmark: string
  id: string
  text: string
  /** Distinct n-grams (0 for short prompts). */
  ngrams: number
  /** Fewer words than `ngram`: judged by shortJaccardThreshold. */
  short: boolean
  /** Distinct shingle hashes. */
  shingles: Set<number>
}

const DEFAULT_PROMPT_FIELDS = ['prompt', 'question', 'instruction', 'turns[0].content', 'turns[0]']
const DEFAULT_ID_FIELDS = ['uid', 'question_id', 'id']
const EXCERPT_CHARS = 200
const SEED_A = 0x13579bdf
const SEED_B = 0x2468ace0
const TWO21 = 2097152

export class Decontaminator {
  readonly ngram: number
  readonly jaccardThreshold: number
  readonly shortJaccardThreshold: number
  readonly #opts: DecontaminationOptions
  readonly #prompts: Prompt[] = []
  readonly #exact = new Map<string, number>()
  readonly #ngrams = new Map<number, number>()
  readonly #hasher: MinHasher
  readonly #lsh: MinHashLsh
  #maxShingles = 0
  #shortPrompts = 0
  #skipped = 0
  readonly #benchmarks = new Set<string>()

  constructor (opts: DecontaminationOptions = {}) {
    this.#opts = opts
    this.ngram = opts.ngram ?? 13
    this.jaccardThreshold = opts.jaccardThreshold ?? 0.6
    this.shortJaccardThreshold = opts.shortJaccardThreshold ?? 0.7
    if (!Number.isInteger(this.ngram) || this.ngram < 2) throw new ConfigError(`decontamination ngram must be an integer ≥ 2, got ${opts.ngram}`)
    for (const [name, v] of [['jaccardThreshold', this.jaccardThreshold], ['shortJaccardThreshold', this.shortJaccardThreshold]] as const) {
      if (!(v > 0 && v < 1)) throw new ConfigError(`decontamination ${name} must be in (0, 1), got ${v}`)
    }
    const numPerm = opts.numPerm ?? 128
    this.#hasher = new MinHasher({ shingleSize: opts.shingleSize ?? 3, numPerm, ...(opts.seed !== undefined ? { seed: opts.seed } : {}) })
    // Candidates are verified exactly, so the LSH is tuned a little below the lower threshold:
    // a candidate whose estimate is low by noise is still looked at.
    this.#lsh = new MinHashLsh({ numPerm, threshold: Math.max(0.05, this.#minThreshold - 0.1) })
  }

  /** Loads benchmark JSONL files (synchronously: this runs once, at start). */
  static fromFiles (paths: readonly string[], opts: DecontaminationOptions = {}): Decontaminator {
    const d = new Decontaminator(opts)
    for (const p of paths) {
      let text: string
      try {
        text = readFileSync(p, 'utf8')
      } catch (err) {
        throw new ConfigError(`cannot read decontamination benchmark ${p}: ${(err as Error).message}`, { cause: err })
      }
      const added = d.addJsonl(basename(p), text, p)
      if (added === 0) throw new ConfigError(`no prompts found in decontamination benchmark ${p}: set promptField to where each line keeps its prompt`)
    }
    return d
  }

  get stats (): { benchmarks: string[], prompts: number, shortPrompts: number, ngrams: number, skippedLines: number } {
    return {
      benchmarks: [...this.#benchmarks],
      prompts: this.#prompts.length,
      shortPrompts: this.#shortPrompts,
      ngrams: this.#ngrams.size,
      skippedLines: this.#skipped,
    }
  }

  /** Adds the prompts of one JSONL text; returns how many. `source` names it in errors. */
  addJsonl (benchmark: string, jsonl: string, source = benchmark): number {
    let added = 0
    const lines = jsonl.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim()
      if (!line) continue
      let obj: unknown
      try {
        obj = JSON.parse(line)
      } catch (err) {
        throw new ConfigError(`${source}:${i + 1}: not JSON (${(err as Error).message})`, { cause: err })
      }
      const prompt = firstString(obj, this.#opts.promptField ? [this.#opts.promptField] : DEFAULT_PROMPT_FIELDS)
      if (prompt === undefined || !normalizeText(prompt)) { this.#skipped++; continue }
      const id = firstString(obj, this.#opts.idField ? [this.#opts.idField] : DEFAULT_ID_FIELDS) ?? firstNumber(obj, this.#opts.idField ? [this.#opts.idField] : DEFAULT_ID_FIELDS) ?? `line ${i + 1}`
      this.addPrompt(benchmark, id, prompt)
      added++
    }
    return added
  }

  addPrompt (benchmark: string, id: string, prompt: string): void {
    this.#benchmarks.add(benchmark)
    const index = this.#prompts.length
    const ws = words(prompt)
    const text = normalizeText(prompt)
    const key = normalizeForHash(prompt)
    if (!this.#exact.has(key)) this.#exact.set(key, index)
    const short = ws.length < this.ngram
    let ngrams = 0
    if (!short) {
      const keys = ngramKeys(ws, this.ngram)
      for (const k of keys) if (!this.#ngrams.has(k)) this.#ngrams.set(k, index)
      ngrams = new Set(keys).size
    } else {
      this.#shortPrompts++
    }
    const shingles = new Set(shingleHashes(ws, this.#hasher.shingleSize, this.#hasher.seed))
    this.#prompts.push({ benchmark, id, text, ngrams, short, shingles })
    if (shingles.size > 0) {
      this.#maxShingles = Math.max(this.#maxShingles, shingles.size)
      this.#lsh.add(String(index), this.#hasher.signatureOfHashes([...shingles]))
    }
  }

  get #minThreshold (): number {
    return Math.min(this.jaccardThreshold, this.shortJaccardThreshold)
  }

  /** The benchmark prompt `text` resembles, or undefined (see the header for the rules). */
  check (text: string): DecontaminationHit | undefined {
    const exact = this.#exact.get(normalizeForHash(text))
    if (exact !== undefined) return this.#hit(exact, 'exact', 1, this.#prompts[exact]!.text)
    const ws = words(text)
    if (ws.length === 0) return undefined
    const ngram = this.#checkNgrams(ws)
    if (ngram) return ngram
    return this.#checkJaccard(ws)
  }

  #checkNgrams (ws: string[]): DecontaminationHit | undefined {
    if (ws.length < this.ngram || this.#ngrams.size === 0) return undefined
    const keys = ngramKeys(ws, this.ngram)
    // Per matched prompt: distinct matched n-grams and the positions they start at.
    let found: Map<number, { keys: Set<number>, positions: number[] }> | undefined
    for (let i = 0; i < keys.length; i++) {
      const p = this.#ngrams.get(keys[i]!)
      if (p === undefined) continue
      found ??= new Map()
      let f = found.get(p)
      if (!f) found.set(p, f = { keys: new Set(), positions: [] })
      f.keys.add(keys[i]!)
      f.positions.push(i)
    }
    if (!found) return undefined
    let best: { p: number, share: number, positions: number[] } | undefined
    for (const [p, f] of found) {
      const share = Math.min(1, f.keys.size / Math.max(1, this.#prompts[p]!.ngrams))
      if (!best || share > best.share) best = { p, share, positions: f.positions }
    }
    const { p, share, positions } = best!
    // Excerpt: the longest run of consecutive matching n-grams, as words.
    let runStart = positions[0]!
    let bestRun = [runStart, runStart]
    for (let j = 1; j <= positions.length; j++) {
      const cur = positions[j]
      if (cur !== undefined && cur === positions[j - 1]! + 1) continue
      const end = positions[j - 1]!
      if (end - runStart > bestRun[1]! - bestRun[0]!) bestRun = [runStart, end]
      if (cur !== undefined) runStart = cur
    }
    const excerpt = ws.slice(bestRun[0], bestRun[1]! + this.ngram).join(' ')
    return this.#hit(p, 'ngram', share, excerpt)
  }

  #checkJaccard (ws: string[]): DecontaminationHit | undefined {
    if (this.#lsh.size === 0) return undefined
    const shingles = new Set(shingleHashes(ws, this.#hasher.shingleSize, this.#hasher.seed))
    // Jaccard ≤ |smaller| / |larger|: a text with many more shingles than any prompt cannot match.
    if (shingles.size * this.#minThreshold > this.#maxShingles) return undefined
    let best: { p: number, j: number } | undefined
    for (const c of this.#lsh.query(this.#hasher.signatureOfHashes([...shingles]))) {
      const p = Number(c.id)
      const prompt = this.#prompts[p]!
      const j = jaccard(shingles, prompt.shingles)
      if (j >= (prompt.short ? this.shortJaccardThreshold : this.jaccardThreshold) && (!best || j > best.j)) best = { p, j }
    }
    return best ? this.#hit(best.p, 'minhash', best.j, this.#prompts[best.p]!.text) : undefined
  }

  #hit (p: number, method: DecontaminationMethod, similarity: number, excerpt: string): DecontaminationHit {
    const prompt = this.#prompts[p]!
    const e = excerpt.length > EXCERPT_CHARS ? `${excerpt.slice(0, EXCERPT_CHARS - 1)}…` : excerpt
    return { benchmark: prompt.benchmark, id: prompt.id, similarity, method, excerpt: e }
  }
}

/** Convenience for topologies: one Decontaminator over the given benchmark files. */
export function loadDecontaminator (files: readonly string[], opts: DecontaminationOptions = {}): Decontaminator {
  return Decontaminator.fromFiles(files, opts)
}

/** Hash keys of every word n-gram: two independent 32-bit hashes folded into one safe integer (53 bits). */
function ngramKeys (ws: readonly string[], n: number): number[] {
  const wh = new Uint32Array(ws.length)
  for (let i = 0; i < ws.length; i++) wh[i] = fnv1a32(ws[i]!)
  const out: number[] = []
  for (let i = 0; i + n <= ws.length; i++) {
    out.push(murmurWords(wh, i, n, SEED_A) * TWO21 + (murmurWords(wh, i, n, SEED_B) >>> 11))
  }
  return out
}

function jaccard (a: Set<number>, b: Set<number>): number {
  if (a.size === 0 && b.size === 0) return 0
  const [small, large] = a.size <= b.size ? [a, b] : [b, a]
  let inter = 0
  for (const x of small) if (large.has(x)) inter++
  return inter / (a.size + b.size - inter)
}

/** Reads `a.b[0].c`-style paths. */
function getPath (obj: unknown, path: string): unknown {
  let cur: unknown = obj
  for (const part of path.split(/\.|\[(\d+)\]/).filter((s) => s !== undefined && s !== '')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = /^\d+$/.test(part) && Array.isArray(cur) ? cur[Number(part)] : (cur as Record<string, unknown>)[part]
  }
  return cur
}

function firstString (obj: unknown, paths: readonly string[]): string | undefined {
  for (const p of paths) {
    const v = getPath(obj, p)
    if (typeof v === 'string') return v
  }
  return undefined
}

function firstNumber (obj: unknown, paths: readonly string[]): string | undefined {
  for (const p of paths) {
    const v = getPath(obj, p)
    if (typeof v === 'number') return String(v)
  }
  return undefined
}
