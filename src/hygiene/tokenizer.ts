/**
 * Token counting and token-accurate truncation, with the vocabulary of the model that will read
 * the text. The method truncates every document to 4,096 tokens and keeps the synthesis prompt
 * under 7,500; counting with the wrong vocabulary (or with characters / 4) either overflows the
 * model's context or throws away text that would have fitted.
 *
 * Families:
 *   llama3  Llama 3 / 3.1 / 3.2 / 3.3 vocabulary (llama3-tokenizer-js): exact for those models
 *           and for their fine-tunes; also the synthq simulator (`sim-*`). Used as an
 *           *approximation* for other open models (Mistral, Mixtral, Qwen, Gemma, DeepSeek, Phi,
 *           Llama 2 / 4 …), whose own vocabularies differ: their counts may be off by several per
 *           cent either way, so leave headroom or set the family explicitly. Unknown → llama3.
 *   o200k   gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, gpt-oss (gpt-tokenizer).
 *   cl100k  gpt-4, gpt-4-turbo, gpt-3.5 (gpt-tokenizer).
 *   approx  ceil(UTF-16 length / 4): an estimate (`exact: false`), no vocabulary loaded.
 *
 * Counts never include BOS/EOS or chat-template tokens: llama3-tokenizer-js adds BOS and EOS by
 * default, so it is always called with { bos: false, eos: false }. Text that spells a special
 * token: Llama 3 counts `<|eot_id|>` in a document as the one special token (as Hugging Face
 * tokenizers and servers do); the OpenAI families count `<|endoftext|>` as ordinary text (the
 * library would otherwise throw on it).
 *
 * Vocabularies are loaded lazily, once per process, on first use (measured on the 2-core
 * development machine, heap after GC: llama3 ≈ 0.35 s and ≈ 43 MiB, o200k ≈ 0.15–0.2 s and
 * ≈ 15 MiB, cl100k ≈ 0.06 s and ≈ 5 MiB more; see `tokenizerLoadStats()` and
 * bench/hygiene.bench.ts). They are loaded with a synchronous require of the packages'
 * CommonJS builds so that `count` and `truncate` stay synchronous; call `load()` in a
 * processor's init to keep that pause off the first record. Speed differs a lot:
 * llama3-tokenizer-js counts ≈ 0.4–0.6 M tokens/s, gpt-tokenizer ≈ 3 M tokens/s.
 *
 * Truncation (`truncate(text, n)`): the result is a prefix of `text` (minus trailing whitespace;
 * lone surrogates, which only unnormalised text has, come back as U+FFFD)
 * whose own token count — `count(result.text)`, re-encoded, not a position in the original
 * encoding — is ≤ n, and `result.tokens` is that exact count. The cut is never inside a
 * character or a grapheme cluster, and prefers a paragraph, line or sentence end, then a space,
 * within the last 32 tokens. Only a window of the text is encoded (≈ the first n tokens), so
 * truncating a 1 MB document to 4,096 tokens costs about as much as counting 4,096 tokens.
 *
 * Why not "chars ≤ limit ⇒ fits" or "chars / 8 > limit ⇒ too long" as fast paths: both are
 * false. One UTF-16 unit can be 2–3 tokens (龘 is 2 o200k tokens, 𝔘 is 3), so the exact upper
 * bound is the UTF-8 byte length (every token covers at least one byte) — truncate uses that
 * bound to skip the cut search for texts of at most maxTokens bytes; and one token can cover
 * dozens of characters (runs of '=' or spaces), so no character count proves a text is too
 * long. The windowed encoding gives the same saving without guessing.
 *
 * Library pitfall handled here: gpt-tokenizer 4.0.0's `decode` shares one streaming TextDecoder
 * across calls, so decoding a token prefix that ends inside a character silently drops the
 * partial bytes and prepends them to the *next* decode (garbling it). We therefore only ever
 * decode whole pre-token chunks from `encodeGenerator`, which always end on a character.
 */
import { packageRequire } from '../package-root.ts'
import type * as GptEncodingModule from 'gpt-tokenizer/encoding/o200k_base'
import type { Llama3Tokenizer } from 'llama3-tokenizer-js'
import { ConfigError } from '../errors.ts'
import { toWellFormed } from './normalize.ts'

export type TokenizerFamily = 'llama3' | 'o200k' | 'cl100k' | 'approx'
export const TOKENIZER_FAMILIES: readonly TokenizerFamily[] = ['llama3', 'o200k', 'cl100k', 'approx']

export interface TruncateResult {
  /** A prefix of the input (trailing whitespace removed when cut). */
  text: string
  /** Exact count of `text` in this family (an estimate for `approx`). */
  tokens: number
  /** True when text was removed. */
  truncated: boolean
}

export interface Tokenizer {
  readonly family: TokenizerFamily
  /** False for `approx` and for models whose own vocabulary is only approximated (see `note`). */
  readonly exact: boolean
  /** Why this family was chosen, e.g. "qwen2.5-7b: Llama 3 vocabulary as an approximation". */
  readonly note: string
  /** Tokens of `text`, without BOS/EOS. Encodes the whole text. */
  count (text: string): number
  /** The longest prefix of `text` of at most `maxTokens` tokens (see the header). */
  truncate (text: string, maxTokens: number): TruncateResult
  /** Loads the vocabulary now (e.g. in a processor's init) instead of on first use. */
  load (): void
}

export function isTokenizerFamily (s: string): s is TokenizerFamily {
  return (TOKENIZER_FAMILIES as readonly string[]).includes(s)
}

// ---------------------------------------------------------------------------------------------
// Model name → family

export interface FamilyChoice { family: TokenizerFamily, exact: boolean, note: string }

/** Which vocabulary counts tokens for `model` (an endpoint's model name, any provider prefix). */
export function tokenizerFamilyFor (model: string): FamilyChoice {
  const full = model.trim().toLowerCase()
  const name = full.slice(full.lastIndexOf('/') + 1)
  if (name.startsWith('sim-') || full.startsWith('sim-')) return { family: 'llama3', exact: true, note: `${model}: synthq simulator, Llama 3 vocabulary` }
  if (/llama/.test(full)) {
    if (/llama[-_ ]?(1|2|4)(?![.\d])|llama-?2-|llama4|codellama/.test(full)) {
      return { family: 'llama3', exact: false, note: `${model}: not a Llama 3 vocabulary; Llama 3's used as an approximation` }
    }
    return { family: 'llama3', exact: true, note: `${model}: Llama 3 vocabulary` }
  }
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4)(\b|[-_.]|$)/.test(name)) {
    return { family: 'o200k', exact: true, note: `${model}: OpenAI o200k_base` }
  }
  if (/^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada)/.test(name)) {
    return { family: 'cl100k', exact: true, note: `${model}: OpenAI cl100k_base` }
  }
  if (/mistral|mixtral|codestral|qwen|gemma|deepseek|phi-?\d|yi-|command|granite|olmo|falcon/.test(full)) {
    return { family: 'llama3', exact: false, note: `${model}: own vocabulary not bundled; Llama 3's used as an approximation` }
  }
  return { family: 'llama3', exact: false, note: `${model}: unknown model; Llama 3 vocabulary assumed` }
}

/**
 * The tokenizer for an endpoint's model, or for an explicit family (`override`, e.g. from
 * configuration). Cheap: vocabularies are shared and loaded on first use.
 */
export function tokenizerFor (model: string, override?: TokenizerFamily): Tokenizer {
  let choice: FamilyChoice
  if (override !== undefined) {
    if (!isTokenizerFamily(override)) throw new ConfigError(`unknown tokenizer family '${String(override)}': use one of ${TOKENIZER_FAMILIES.join(', ')}`)
    choice = { family: override, exact: override !== 'approx', note: `${model}: tokenizer family '${override}' set explicitly` }
  } else {
    choice = tokenizerFamilyFor(model)
  }
  const backend = backendFor(choice.family)
  return {
    family: choice.family,
    exact: choice.exact && choice.family !== 'approx',
    note: choice.family === 'approx' ? `${choice.note} (estimate: characters / 4)` : choice.note,
    count: (text) => backend.count(text),
    truncate: (text, maxTokens) => truncateWith(backend, text, maxTokens),
    load: () => backend.load(),
  }
}

// ---------------------------------------------------------------------------------------------
// Backends

interface Cut {
  /** The whole text has at most n tokens. */
  complete: boolean
  /** Exact count when complete. */
  tokens: number
  /** Char offset: end of the longest prefix made of (about) the first n tokens. */
  end: number
  /** Char offset: end of the prefix made of the first n - lookback tokens. */
  lookbackStart: number
}

interface Backend {
  readonly family: TokenizerFamily
  count (text: string): number
  /** Encodes only as much of `text` as needed to locate the n-token cut. */
  cut (text: string, n: number, lookback: number): Cut
  load (): void
}

export interface TokenizerLoadStat { family: TokenizerFamily, loadMs: number, heapBytes: number }
const loadStats = new Map<TokenizerFamily, TokenizerLoadStat>()

/** Load time and heap growth of each vocabulary loaded so far in this process. */
export function tokenizerLoadStats (): TokenizerLoadStat[] {
  return [...loadStats.values()]
}

const require = packageRequire

function timedLoad<T> (family: TokenizerFamily, load: () => T): T {
  const heap0 = process.memoryUsage().heapUsed
  const t0 = performance.now()
  const api = load()
  loadStats.set(family, { family, loadMs: performance.now() - t0, heapBytes: Math.max(0, process.memoryUsage().heapUsed - heap0) })
  return api
}

type GptApi = typeof GptEncodingModule
// Special-token text in documents is ordinary text (the default would throw on it).
const AS_TEXT = { disallowedSpecial: new Set<string>() }

class GptBackend implements Backend {
  readonly family: 'o200k' | 'cl100k'
  #api: GptApi | undefined

  constructor (family: 'o200k' | 'cl100k') {
    this.family = family
  }

  load (): void {
    this.#lib()
  }

  #lib (): GptApi {
    this.#api ??= timedLoad(this.family, () => require(this.family === 'o200k'
      ? 'gpt-tokenizer/encoding/o200k_base'
      : 'gpt-tokenizer/encoding/cl100k_base') as GptApi)
    return this.#api
  }

  count (text: string): number {
    return text ? this.#lib().countTokens(text, AS_TEXT) : 0
  }

  cut (text: string, n: number, lookback: number): Cut {
    const lib = this.#lib()
    const headMax = Math.max(0, n - lookback)
    const head: number[] = []
    const tail: number[] = []
    let total = 0
    let straddling: number[] | undefined
    // Each yielded array is one pre-token chunk (a regex match of whole code points): BPE never
    // merges across chunks, so the first chunks' tokens are the first tokens of the whole text,
    // and decoding whole chunks never ends inside a character.
    for (const chunk of lib.encodeGenerator(text, AS_TEXT)) {
      if (total + chunk.length > n) { straddling = chunk; break }
      const into = total + chunk.length <= headMax ? head : tail
      for (const t of chunk) into.push(t)
      total += chunk.length
    }
    if (!straddling) return { complete: true, tokens: total, end: text.length, lookbackStart: text.length }
    const headText = head.length ? lib.decode(head) : ''
    const tailText = tail.length ? lib.decode(tail) : ''
    let end = headText.length + tailText.length
    if (!text.startsWith(headText) || !text.startsWith(tailText, headText.length)) {
      // Not expected (the input had lone surrogates, or someone else left the shared decoder
      // mid-character): fall back to the longest common prefix.
      end = commonPrefixLength(text, headText + tailText)
      return { complete: false, tokens: total, end, lookbackStart: Math.min(end, headText.length) }
    }
    const remaining = n - total
    if (remaining > 0) {
      // Part of the straddling chunk: the longest code-point prefix that fits what is left.
      const chunkText = lib.decode(straddling)
      if (text.startsWith(chunkText, end)) end += longestPrefixWithin(chunkText, remaining, (s) => this.count(s))
    }
    return { complete: false, tokens: total, end, lookbackStart: headText.length }
  }
}

class Llama3Backend implements Backend {
  readonly family = 'llama3' as const
  #lib: Llama3Tokenizer | undefined

  load (): void {
    this.#tok()
  }

  #tok (): Llama3Tokenizer {
    this.#lib ??= timedLoad('llama3', () => (require('llama3-tokenizer-js/bundle/commonjs-llama3-tokenizer-with-baked-data.cjs') as { llama3Tokenizer: Llama3Tokenizer }).llama3Tokenizer)
    return this.#lib
  }

  #encode (text: string): number[] {
    return text ? this.#tok().encode(text, { bos: false, eos: false }) : []
  }

  count (text: string): number {
    return this.#encode(text).length
  }

  cut (text: string, n: number, lookback: number): Cut {
    // Encode a growing window of the text until it holds comfortably more than n tokens: the
    // tokens of the window equal those of the whole text except near the window's end.
    const margin = 64
    // English runs at ≈ 4.2 characters per Llama 3 token, code and LaTeX at ≈ 3: five per token
    // covers both in one pass; CJK (≈ 1.3) takes a second, resized pass.
    let w = Math.min(text.length, n * 5 + 256)
    let ids: number[]
    for (;;) {
      w = surrogateSafe(text, w)
      ids = this.#encode(w === text.length ? text : text.slice(0, w))
      if (w === text.length) {
        if (ids.length <= n) return { complete: true, tokens: ids.length, end: text.length, lookbackStart: text.length }
        break
      }
      if (ids.length >= n + margin) break
      w = Math.min(text.length, Math.ceil(w * ((n + margin) / Math.max(1, ids.length)) * 1.25) + 256)
    }
    const end = this.#prefixEnd(text, ids, n)
    // Only the window for the boundary search: its start need not be exact to the character.
    const lookbackStart = Math.max(0, end - this.#tok().decode(ids.slice(Math.max(0, n - lookback), n)).length)
    return { complete: false, tokens: n, end, lookbackStart }
  }

  /** Char length of the decoded first k tokens, backing off tokens that end inside a character. */
  #prefixEnd (text: string, ids: number[], k: number): number {
    const tok = this.#tok()
    let decoded = ''
    // A UTF-8 character is at most 4 bytes, so at most 3 tokens can hold a partial one; the
    // decoder turns the partial bytes into U+FFFD, which the startsWith check rejects.
    for (let back = 0; back <= 4 && k - back >= 0; back++) {
      decoded = tok.decode(ids.slice(0, k - back))
      if (text.startsWith(decoded)) return decoded.length
    }
    return commonPrefixLength(text, decoded)
  }
}

class ApproxBackend implements Backend {
  readonly family = 'approx' as const
  load (): void {}
  count (text: string): number {
    return Math.ceil(text.length / 4)
  }

  cut (text: string, n: number, lookback: number): Cut {
    if (text.length <= n * 4) return { complete: true, tokens: this.count(text), end: text.length, lookbackStart: text.length }
    const end = surrogateSafe(text, n * 4)
    return { complete: false, tokens: n, end, lookbackStart: surrogateSafe(text, Math.max(0, n - lookback) * 4) }
  }
}

const backends = new Map<TokenizerFamily, Backend>()

function backendFor (family: TokenizerFamily): Backend {
  let b = backends.get(family)
  if (!b) {
    b = family === 'llama3' ? new Llama3Backend() : family === 'approx' ? new ApproxBackend() : new GptBackend(family)
    backends.set(family, b)
  }
  return b
}

// ---------------------------------------------------------------------------------------------
// Truncation

/** Tokens before the exact cut in which a paragraph, line, sentence or word end is preferred. */
export const BOUNDARY_LOOKBACK_TOKENS = 32

function truncateWith (backend: Backend, input: string, maxTokens: number): TruncateResult {
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new ConfigError(`maxTokens must be a non-negative integer, got ${maxTokens}`)
  if (input === '') return { text: '', tokens: 0, truncated: false }
  // Lone surrogates are encoded as U+FFFD by every tokenizer here; making that explicit keeps
  // the decoded prefixes comparable with the text.
  const text = toWellFormed(input)
  if (maxTokens === 0) return { text: '', tokens: 0, truncated: true }
  // Exact fast path: every token covers at least one UTF-8 byte (special-token text covers
  // many), so a text of at most maxTokens bytes cannot need cutting: a plain count will do.
  if (text.length <= maxTokens && Buffer.byteLength(text, 'utf8') <= maxTokens) return { text, tokens: backend.count(text), truncated: false }
  let target = maxTokens
  for (;;) {
    const c = backend.cut(text, target, BOUNDARY_LOOKBACK_TOKENS)
    if (c.complete) return { text, tokens: c.tokens, truncated: false }
    const at = preferredCut(text, c.lookbackStart, c.end)
    const out = text.slice(0, at).trimEnd()
    const tokens = backend.count(out)
    if (tokens <= maxTokens) return { text: out, tokens, truncated: true }
    // Re-encoding the prefix on its own gave more tokens than its position in the whole text
    // (a word cut in two, a trailing space run): aim lower and cut again. Rare; terminates
    // because the target strictly decreases.
    target = Math.max(0, target - (tokens - maxTokens))
    if (target === 0) return { text: '', tokens: 0, truncated: true }
  }
}

const SENTENCE_END = /[.!?…]["'”’)\]]*(?=\s)|[。！？][」』”’)）]*|\n/g

/** Where to cut in text[from, to]: after the last sentence / line end, else at the last space, else at `to`. */
function preferredCut (text: string, from: number, to: number): number {
  if (to <= 0) return 0
  if (from < to) {
    const window = text.slice(from, to)
    let strong = -1
    for (const m of window.matchAll(SENTENCE_END)) {
      const i = m.index
      strong = m[0] === '\n' ? i : i + m[0].length
    }
    if (strong >= 0 && from + strong > 0) return from + strong
    for (let i = window.length - 1; i >= 0 && from + i > 0; i--) {
      if (isSpace(window.charCodeAt(i))) return from + i
    }
  }
  return graphemeSafe(text, to)
}

function isSpace (c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || c === 0xa0 || c === 0x3000 || (c >= 0x2000 && c <= 0x200a)
}

let segmenter: Intl.Segmenter | undefined

/** The last grapheme boundary at or before `at` (no dangling ZWJ, combining mark or half flag). */
function graphemeSafe (text: string, at: number): number {
  if (at >= text.length) return text.length
  const from = Math.max(0, at - 64)
  segmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' })
  let best = from
  for (const seg of segmenter.segment(text.slice(from, Math.min(text.length, at + 16)))) {
    const b = from + seg.index
    if (b > at) break
    best = b
  }
  return best > 0 || from === 0 ? best : surrogateSafe(text, at)
}

/** `at`, moved back by one if it would split a surrogate pair. */
function surrogateSafe (text: string, at: number): number {
  if (at <= 0 || at >= text.length) return Math.max(0, Math.min(at, text.length))
  const c = text.charCodeAt(at - 1)
  return c >= 0xd800 && c <= 0xdbff ? at - 1 : at
}

function commonPrefixLength (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++
  return surrogateSafe(a, i)
}

/** Largest code-point prefix length of `s` whose count is ≤ budget (binary search). */
function longestPrefixWithin (s: string, budget: number, count: (s: string) => number): number {
  const bounds: number[] = [0]
  for (let i = 0; i < s.length;) {
    const c = s.charCodeAt(i)
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1
    bounds.push(i)
  }
  let lo = 0
  let hi = bounds.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (count(s.slice(0, bounds[mid])) <= budget) lo = mid
    else hi = mid - 1
  }
  return bounds[lo]!
}
