/**
 * Text normalisation before anything is counted, hashed or paid for. Web documents and user
 * prompts arrive with Windows line endings, byte-order marks, zero-width spaces, stray control
 * bytes, runs of spaces and decomposed accents; two copies of the same text that differ only in
 * those would get different hashes, different token counts and different prompts.
 *
 * Unicode form: NFC, not NFKC. NFC only composes canonically equivalent sequences (e + U+0301 →
 * é), which never changes meaning. NFKC also folds compatibility characters and would rewrite
 * the content of math and technical documents: x² → x2, ℝ → R, ½ → 1⁄2, ﬁ → fi, ⅓, ㎏ …
 *
 * Deliberately kept: ZWJ (U+200D) and ZWNJ (U+200C), which carry meaning in emoji sequences
 * (👩‍💻), Persian and Indic scripts, and bidirectional marks. Removed: ZWSP (U+200B), word
 * joiner (U+2060), BOM / ZWNBSP (U+FEFF), soft hyphen (U+00AD) and C0/C1 control characters
 * other than \n and \t. Lone UTF-16 surrogates (text damaged by a bad cut or a bad decoder)
 * become U+FFFD so the result is always well-formed and the damage stays visible to
 * `textQuality`.
 *
 * Lines are trimmed, which removes indentation: fine for prose, lossy for code (Python). With
 * `keepIndentation: true` each line's leading whitespace is kept verbatim; trailing whitespace
 * is still removed and inner runs still collapse to one space.
 */
import { createHash } from 'node:crypto'

export interface NormalizeOptions {
  /** Keep each line's leading whitespace (code); default false: lines are fully trimmed. */
  keepIndentation?: boolean
}

// Lone surrogates: a high surrogate not followed by a low one, or a low one not preceded by a high one.
const SURROGATE = /[\uD800-\uDFFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
// Every line break convention → \n: CRLF, CR, NEL (U+0085), VT, FF, LINE / PARAGRAPH SEPARATOR.
// eslint-disable-next-line no-control-regex -- VT and FF are what this maps
const LINE_BREAKS = /\r\n?|[\u0085\u000B\u000C\u2028\u2029]/g
// C0 and C1 controls except \t and \n (line breaks were already mapped), DEL, and the invisible
// characters listed in the header.
// eslint-disable-next-line no-control-regex -- control characters are what this removes
const INVISIBLE = /[\u0000-\u0008\u000E-\u001F\u007F-\u009F\u00AD\u200B\u2060\uFEFF]+/g
// Horizontal whitespace: space, tab, NBSP and the Unicode space separators.
const HSPACE_RUN = /[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+/g
const HSPACE_EDGES = /^[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+|[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+$/gm
const HSPACE_TRAILING = /[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+$/gm
// Inner runs only (a run preceded by a non-space on the same line): keeps indentation.
const HSPACE_INNER_RUN = /(?<=[^\s\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000])[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+/g
const BLANK_LINES = /\n{3,}/g

/** Replaces lone surrogates with U+FFFD (what String.prototype.toWellFormed does in ES2024). */
export function toWellFormed (s: string): string {
  return SURROGATE.test(s) ? s.replace(LONE_SURROGATE, '\uFFFD') : s
}

/**
 * The canonical form of a text: well-formed, NFC, \n line endings, no control or zero-width
 * characters, one space between words, lines trimmed, at most one blank line in a row, trimmed.
 * Idempotent: normalizeText(normalizeText(s)) === normalizeText(s).
 */
export function normalizeText (s: string, opts: NormalizeOptions = {}): string {
  // Removal happens before NFC: removing a character between a base letter and a combining
  // mark afterwards would leave an uncomposed pair and break idempotence.
  let t = toWellFormed(s).replace(LINE_BREAKS, '\n').replace(INVISIBLE, '').normalize('NFC')
  if (opts.keepIndentation) {
    t = t.replace(HSPACE_TRAILING, '').replace(HSPACE_INNER_RUN, ' ')
  } else {
    t = t.replace(HSPACE_EDGES, '').replace(HSPACE_RUN, ' ')
  }
  t = t.replace(BLANK_LINES, '\n\n')
  // Leading blank lines (and, with keepIndentation, the first line's indentation is kept).
  return opts.keepIndentation ? t.replace(/^\n+/, '').replace(/\s+$/, '') : t.trim()
}

/** normalizeText, lowercased, every whitespace run (newlines included) collapsed to one space. */
export function normalizeForHash (s: string): string {
  return normalizeText(s).toLowerCase().replace(/\s+/g, ' ')
}

/**
 * SHA-256 (hex) of normalizeForHash(s): equal for texts that differ only in case, whitespace,
 * line endings, invisible characters or Unicode composition. Used for exact deduplication and
 * as a content-derived record id.
 */
export function contentHash (s: string): string {
  return createHash('sha256').update(normalizeForHash(s), 'utf8').digest('hex')
}

export interface TextQuality {
  /** Code points (a surrogate pair counts once). */
  chars: number
  /** U+FFFD and lone surrogates per code point: encoding damage. */
  replacementRatio: number
  /** C0/C1 control characters other than \n, \r, \t per code point: binary garbage. */
  controlRatio: number
  /** Letters (and combining marks) per non-whitespace code point; 0 when there is none. */
  letterRatio: number
}

const LETTER = /[\p{L}\p{M}]/u
const WHITESPACE = /\s/u

/** Quality signals of a text, raw or normalised. Never throws, whatever the input. */
export function textQuality (s: string): TextQuality {
  let chars = 0
  let replacement = 0
  let control = 0
  let nonSpace = 0
  let letters = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    chars++
    if (c < 0x80) {
      // ASCII fast path.
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue
      if (c < 0x20 || c === 0x7f) { control++; nonSpace++; continue }
      nonSpace++
      if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) letters++
      continue
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++
        nonSpace++
        if (LETTER.test(String.fromCharCode(c, d))) letters++
      } else {
        replacement++
        nonSpace++
      }
      continue
    }
    if (c >= 0xdc00 && c <= 0xdfff) { replacement++; nonSpace++; continue }
    if (c === 0xfffd) { replacement++; nonSpace++; continue }
    if (c <= 0x9f) { control++; nonSpace++; continue }
    const ch = String.fromCharCode(c)
    if (WHITESPACE.test(ch)) continue
    nonSpace++
    if (LETTER.test(ch)) letters++
  }
  return {
    chars,
    replacementRatio: chars ? replacement / chars : 0,
    controlRatio: chars ? control / chars : 0,
    letterRatio: nonSpace ? letters / nonSpace : 0,
  }
}
