/**
 * The document gate: what can be decided about a web document before an LLM is paid for it.
 * A document passes normalised, cut to the token budget (the method: 4,096 tokens) with the
 * model's own tokenizer, and with its content hash (exact-duplicate key and content-derived id);
 * or it is rejected with a reason a person can act on, naming the figure that failed.
 *
 * Checks, cheapest first:
 *   oversize       raw length > maxChars (default 1,000,000): rejected before normalising or
 *                  tokenizing (a 50 MB log dump should not cost tokenizer time);
 *   empty          nothing left after normalisation;
 *   encoding       U+FFFD / lone surrogates above maxReplacementRatio (default 1 %): text
 *                  decoded with the wrong charset, which the model would read as noise;
 *   too short      fewer than minChars (default 200) characters after normalisation;
 *   non-text       letters below minLetterRatio (default 50 %) of non-space characters: tables
 *                  of numbers, base64, minified code. Formula-heavy math posts sit near the
 *                  limit: 2 of the 200 bundled math.stackexchange posts fall below 50 %
 *                  (lowest 32 %); lower it for math corpora.
 * Characters are code points. The hash is contentHash of the whole normalised text (before
 * truncation): two documents are the same document when all their text is the same.
 */
import { ConfigError } from '../errors.ts'
import { contentHash, normalizeText, textQuality } from './normalize.ts'
import type { Tokenizer } from './tokenizer.ts'

export interface DocumentGateOptions {
  /** Minimum characters after normalisation (default 200). */
  minChars?: number
  /** Maximum raw characters (default 1,000,000); longer documents are rejected unread. */
  maxChars?: number
  /** Token budget; longer documents are truncated (the method: 4096). */
  maxTokens: number
  tokenizer: Tokenizer
  /** Minimum share of letters among non-space characters (default 0.5). */
  minLetterRatio?: number
  /** Maximum share of replacement characters (default 0.01). */
  maxReplacementRatio?: number
}

export type DocumentGateResult =
  | { ok: true, text: string, tokens: number, truncated: boolean, hash: string }
  | { ok: false, reason: string }

export function checkDocument (text: string, opts: DocumentGateOptions): DocumentGateResult {
  const minChars = opts.minChars ?? 200
  const maxChars = opts.maxChars ?? 1_000_000
  const minLetterRatio = opts.minLetterRatio ?? 0.5
  const maxReplacementRatio = opts.maxReplacementRatio ?? 0.01
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) throw new ConfigError(`document maxTokens must be a positive integer, got ${opts.maxTokens}`)
  if (typeof text !== 'string') return { ok: false, reason: `not text: ${text === null ? 'null' : typeof text}` }
  if (text.length > maxChars) return { ok: false, reason: `oversize: ${size(text.length)} characters, maximum ${size(maxChars)}` }
  const normalized = normalizeText(text)
  if (!normalized) return { ok: false, reason: 'empty after normalisation' }
  const q = textQuality(normalized)
  if (q.replacementRatio > maxReplacementRatio) return { ok: false, reason: `encoding damage: ${percent(q.replacementRatio, 'up')} replacement characters, maximum ${percent(maxReplacementRatio)}` }
  if (q.chars < minChars) return { ok: false, reason: `too short: ${q.chars} characters, minimum ${minChars}` }
  if (q.letterRatio < minLetterRatio) return { ok: false, reason: `mostly non-text: ${percent(q.letterRatio)} letters, minimum ${percent(minLetterRatio)}` }
  const cut = opts.tokenizer.truncate(normalized, opts.maxTokens)
  return { ok: true, text: cut.text, tokens: cut.tokens, truncated: cut.truncated, hash: contentHash(normalized) }
}

/** "2.3 M", "1 M", "850 k", "57". */
function size (n: number): string {
  if (n >= 1_000_000) return `${trim(n / 1_000_000)} M`
  if (n >= 10_000) return `${trim(n / 1000)} k`
  return String(n)
}

function trim (x: number): string {
  return x.toFixed(1).replace(/\.0$/, '')
}

/**
 * "31 %", "0.5 %": whole percents, one decimal below 10 %; rounded towards the side that keeps
 * "31 % letters, minimum 50 %" and "1.2 % replacement characters, maximum 1 %" truthful.
 */
function percent (r: number, round: 'down' | 'up' = 'down'): string {
  const p = r * 100
  // The epsilon keeps 36 / 300 at "12 %" (0.12 × 100 is 12.000000000000002 in doubles).
  const f = round === 'down' ? (x: number) => Math.floor(x + 1e-9) : (x: number) => Math.ceil(x - 1e-9)
  return `${p >= 10 || p === 0 ? f(p) : trim(f(p * 10) / 10)} %`
}
