/**
 * What the simulator "reads" in a prompt: the distinctive words and phrases of a text (term
 * frequency minus stop words, with repeated two-word phrases first), a short excerpt to quote,
 * and a token estimate. Cheap statistics, no model: enough that different documents give
 * different keywords, scenes and instructions, and that the answers visibly come from the input.
 */

/** Token estimate used for every usage figure: about four characters per token. */
export function estimateTokens (text: string): number {
  return Math.ceil(text.length / 4)
}

// Common English function words plus words every prompt uses; they never become keywords.
const STOP = 'a about above after again against all also am an and any are as at be because been before being below ' +
  'between both but by can could did do does doing done down during each either else even ever every few for from ' +
  'further get gets got had has have having he her here hers herself him himself his how however i if in into is it ' +
  'its itself just least less let like made make many may me might more most much must my myself neither no nor not ' +
  'now of off often on once one only or other others our ours ourselves out over own per quite rather really said ' +
  'same say says see seen she should since so some still such than that the their theirs them themselves then there ' +
  'these they this those though through thus to too under until up upon us use used using very via was way we well ' +
  'were what whatever when where whether which while who whom whose why will with within without would yet you your ' +
  'yours yourself yourselves another around across along already always among anyone anything back become came come ' +
  'comes due etc first going good great into last later let lot lots new next old put second several something ' +
  'sometimes take takes thing things three two upon want wants way ways year years day days time times know need ' +
  'answer answers json schema object document documents text write instruction instructions query user following ' +
  'given return output respond response please question questions example examples based must best better find ' +
  'found available wonderful beautiful amazing free page post click read here today top full big small large right ' +
  'left part including include includes able sure whole give gives gave tell'
export const STOPWORDS: ReadonlySet<string> = new Set(STOP.split(' '))

const WORD = /[\p{L}\p{N}]+(?:['’\-.][\p{L}\p{N}]+)*/gu

export interface TextAnalysis {
  /** The text analysed (already trimmed). */
  text: string
  /** Distinctive words and phrases, most distinctive first, in their usual capitalisation. */
  keywords: string[]
  /** Sentences of the text (whitespace normalised), in order. */
  sentences: string[]
}

interface Count { n: number, first: number, forms: Map<string, number> }

function bump (counts: Map<string, Count>, key: string, form: string, pos: number): void {
  let c = counts.get(key)
  if (!c) counts.set(key, c = { n: 0, first: pos, forms: new Map() })
  c.n++
  c.forms.set(form, (c.forms.get(form) ?? 0) + 1)
}

function usualForm (c: Count): string {
  let best = ''
  let bestN = -1
  for (const [form, n] of c.forms) if (n > bestN) { best = form; bestN = n }
  return best
}

function isContent (lower: string): boolean {
  return lower.length >= 3 && !STOPWORDS.has(lower) && !/^[\d.,'’-]+$/.test(lower)
}

/**
 * Keywords: two-word phrases seen at least twice come first (at most two), then single words by
 * frequency, longer words winning ties and earlier ones after that. Words already inside a chosen
 * phrase are skipped so the list does not repeat itself.
 */
export function analyze (raw: string, maxKeywords = 12): TextAnalysis {
  const text = raw.trim()
  const sentences = text.split(/(?<=[.!?])\s+|\n+/).map((s) => s.replace(/\s+/g, ' ').trim()).filter((s) => s.length > 0)
  const words = new Map<string, Count>()
  const pairs = new Map<string, Count>()
  let pos = 0
  for (const sentence of sentences) {
    let prev: { lower: string, form: string } | undefined
    for (const m of sentence.matchAll(WORD)) {
      const form = m[0].replace(/['’]s$/, '')
      const lower = form.toLowerCase()
      pos++
      if (!isContent(lower)) { prev = undefined; continue }
      bump(words, lower, form, pos)
      if (prev) bump(pairs, `${prev.lower} ${lower}`, `${prev.form} ${form}`, pos)
      prev = { lower, form }
    }
  }
  const rank = (a: [string, Count], b: [string, Count]): number =>
    (b[1].n + Math.min(b[0].length, 12) / 24) - (a[1].n + Math.min(a[0].length, 12) / 24) || a[1].first - b[1].first
  const keywords: string[] = []
  const used = new Set<string>()
  for (const [key, c] of [...pairs].filter(([, c]) => c.n >= 2).sort(rank).slice(0, 2)) {
    keywords.push(usualForm(c))
    for (const w of key.split(' ')) used.add(w)
  }
  for (const [key, c] of [...words].sort(rank)) {
    if (keywords.length >= maxKeywords) break
    if (used.has(key)) continue
    keywords.push(usualForm(c))
    used.add(key)
  }
  return { text, keywords, sentences }
}

/** Cuts `s` to at most `max` characters at a word boundary when one is near. */
export function clip (s: string, max: number): string {
  const chars = Array.from(s)
  if (chars.length <= max) return s
  const cut = chars.slice(0, max).join('')
  const space = cut.lastIndexOf(' ')
  if (space <= max * 0.6) return cut.replace(/[\s,;:–—-]+$/, '')
  // Do not end on a dangling connective ("… gave and").
  return cut.slice(0, space).replace(/(?:[\s,;:–—-]+(?:and|or|of|the|to|in|a|an|with|for))+$/i, '').replace(/[\s,;:–—-]+$/, '')
}

/**
 * A short quotable excerpt: the first sentence that mentions `keyword` (or the first sentence),
 * cut to a window of words around the keyword when the sentence is long.
 */
export function excerpt (a: TextAnalysis, keyword: string | undefined, maxChars = 140): string {
  const lower = keyword?.toLowerCase()
  const sentence = (lower ? a.sentences.find((s) => s.toLowerCase().includes(lower)) : undefined) ?? a.sentences[0] ?? ''
  if (sentence.length <= maxChars) return sentence.replace(/["“”]/g, "'")
  const words = sentence.split(' ')
  const at = lower ? Math.max(0, words.findIndex((w) => w.toLowerCase().includes(lower.split(' ')[0]!))) : 0
  let start = Math.max(0, at - 6)
  let out = ''
  for (let i = start; i < words.length; i++) {
    const next = out ? `${out} ${words[i]}` : words[i]!
    if (next.length > maxChars) break
    out = next
  }
  if (!out) { out = clip(sentence, maxChars); start = 0 }
  return `${start > 0 ? '…' : ''}${out}…`.replace(/["“”]/g, "'")
}
