/** Real texts shipped in data/ (see data/README.md), for the hygiene tests and bench. */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data')
export const ARENA_HARD = join(DATA, 'decontam', 'arena-hard-v0.1-questions.jsonl')

function jsonl<T> (rel: string): T[] {
  return readFileSync(join(DATA, rel), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T)
}

/** C4 English validation documents (600). */
export function c4 (): string[] {
  return jsonl<{ text: string }>('web/c4-en-validation-600.jsonl').map((r) => r.text)
}

/** math.stackexchange question + top answer (200), LaTeX-heavy. */
export function mathDocs (): string[] {
  return jsonl<{ input: string, output: string }>('math/math-stackexchange-200.jsonl').map((r) => `${r.input}\n\n${r.output}`)
}

/** physics.stackexchange question + answer (100). */
export function physicsDocs (): string[] {
  return jsonl<{ input: string, output: string }>('tech/physics-stackexchange-100.jsonl').map((r) => `${r.input}\n\n${r.output}`)
}

/** OpenAssistant volunteers' prompts (345). */
export function oasstPrompts (): Array<{ id: string, prompt: string }> {
  return jsonl<{ id: string, prompt: string }>('seeds/oasst-prompts-en.jsonl')
}

/** Arena-Hard v0.1 prompts (500). */
export function arenaHard (): Array<{ uid: string, prompt: string }> {
  return jsonl<{ uid: string, prompt: string }>('decontam/arena-hard-v0.1-questions.jsonl')
}

/** Non-Latin and astral-plane text: CJK, emoji with ZWJ and flags, math alphanumerics, combining marks. */
export const MIXED_SCRIPT = [
  '我们今天去公园散步，天气非常好。然后我们吃了午饭！',
  '東京都は日本の首都です。ひらがなとカタカナも使います。',
  '한국어 문장도 있습니다. 띄어쓰기가 있어요.',
  'Emoji: 😀👩‍💻🇫🇷🇩🇪👨‍👩‍👧‍👦 ✅ and skin tones 👍🏽.',
  'Math: ∮ E⋅da = Q, n → ∞, ∑_{i=1}^{n} i² = n(n+1)(2n+1)/6, x² ≤ ½, ℝ ⊂ ℂ.',
  'Fraktur 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and rare Han 𠀀𠀁𠀂 龘龘龘 and Devanagari हिन्दी and Arabic العربية.',
].join(' ')
