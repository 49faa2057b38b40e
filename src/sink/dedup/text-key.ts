/**
 * The key two instructions share when they are "the same text": Unicode-normalised, lowercased,
 * punctuation and symbols dropped, whitespace runs collapsed. "Explain TCP slow start." and
 * "explain tcp slow-start" collide; "Explain TCP fast retransmit" does not.
 */
import { normalizeText } from '../../hygiene/normalize.ts'

export function textKey (text: string): string {
  return normalizeText(text).normalize('NFKC').toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
}
