/**
 * The simulator's answers to synthq's response and judge prompts (src/processors/response/):
 * templates, like every simulated answer, but shaped like the real thing so the trainable
 * datasets have something to show.
 *
 * - A **response** (`assistant_response`) addresses the instruction: it names the instruction's
 *   distinctive words, lays out numbered steps and closes with a summary. How many steps and how
 *   many of the instruction's words it covers depend on the model and temperature asked
 *   (`variant`), so two responders (llm.stages.response and response-b) answer differently.
 * - A **verdict** (`better_response`, `judge_reason`) compares the two responses shown under
 *   "### Response A" / "### Response B": each scores the instruction words it covers plus its
 *   steps, and the judge leans towards the response shown first by a fixed amount — a position
 *   bias like real judges', which synthq's both-orders judging must catch. Close calls therefore
 *   come out as ties or as inconsistent verdicts across the two orders.
 */
import { hash32, pick, rng } from './hash.ts'
import { analyze, STOPWORDS } from './text.ts'

const OPENERS = [
  'Here is a structured answer.',
  'Let us work through this step by step.',
  'Short answer first, then the details.',
  'This needs a careful look at a few points.',
  'Good question; the answer depends on a few things.',
]
const STEPS: Array<(w: string, v: string) => string> = [
  (w, v) => `**Pin down ${w}.** Say precisely what ${w} means here and which facts about it the request relies on; everything after depends on it, including ${v}.`,
  (w, v) => `**Examine ${w}.** Look at how ${w} behaves in the situation described, and note where it interacts with ${v}.`,
  (w, v) => `**Compare ${w} with ${v}.** List what each offers and costs; the trade-off is usually where the decision is made.`,
  (w, v) => `**Check the assumptions about ${w}.** The passage quoted supports some claims about ${v} but not all of them; say which ones are solid.`,
  (w, v) => `**Work an example.** Take a concrete case of ${w}, follow it through, and show how the result changes when ${v} changes.`,
  (w, v) => `**Decide.** Weigh ${w} against ${v}, state the recommendation, and the condition under which it would change.`,
]

/** A response to `instruction` as the model `variant` (`model@temperature`) would give it, for seed `seed`. */
export function simulatedResponse (instruction: string, seed: number, variant: string): string {
  const a = analyze(instruction)
  const words = a.keywords.length ? a.keywords : ['the question']
  const r = rng(hash32(`respond:${variant}`, seed))
  // How thorough this "model" is on this instruction: 1–6 steps, a share of the key words covered.
  const steps = 1 + Math.floor(r() * 6)
  const coverage = 0.2 + r() * 0.8
  const covered = words.slice(0, Math.max(1, Math.round(words.length * coverage)))
  const lines = [pick(OPENERS, r()), '']
  const first = Math.floor(r() * STEPS.length)
  for (let i = 0; i < steps; i++) {
    const w = covered[i % covered.length]!
    const v = covered[(i + 1) % covered.length]!
    lines.push(`${i + 1}. ${STEPS[(first + i) % STEPS.length]!(w, v !== w ? v : 'the rest of the problem')}`)
  }
  if (r() < 0.4) lines.push('', `Caveat: the answer assumes the figures quoted about ${covered[0]} are current; check them before relying on it.`)
  lines.push('', `In short: ${covered.slice(0, 3).join(', ')} ${covered.length > 1 ? 'are' : 'is'} the crux, and the steps above turn them into a concrete answer.`)
  return lines.join('\n')
}

function contentWords (text: string): Set<string> {
  return new Set((text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length >= 4 && !STOPWORDS.has(w)))
}

/** What a simulated judge sees in a response: instruction words covered, and numbered steps. */
function merit (response: string, asked: Set<string>): { covered: number, steps: number, score: number } {
  const have = contentWords(response)
  let covered = 0
  for (const w of asked) if (have.has(w)) covered++
  const steps = (response.match(/^\s*\d+[.)]\s/gm) ?? []).length
  const caveat = /caveat|assum/i.test(response) ? 1 : 0
  return { covered, steps, score: 3 * covered + 2 * steps + 2 * caveat }
}

/** The judge prompt's parts: "Instruction:", then "### Response A" and "### Response B". */
export function judgeParts (text: string): { instruction: string, a: string, b: string } | undefined {
  const ia = text.indexOf('### Response A')
  const ib = text.indexOf('### Response B')
  if (ia < 0 || ib < ia) return undefined
  const head = text.slice(0, ia)
  const instruction = head.replace(/^[\s\S]*?Instruction:\s*/i, '').trim()
  return { instruction, a: text.slice(ia + 14, ib).trim(), b: text.slice(ib + 14).trim() }
}

/** How far the simulated judge leans towards the response shown first, in merit points. */
export const SIM_POSITION_BIAS = 1.5

/** A pairwise verdict on the judge prompt's text: `better_response` A, B or tie, with the reason. */
export function simulatedVerdict (text: string): { judge_reason: string, better_response: 'A' | 'B' | 'tie' } {
  const parts = judgeParts(text)
  if (!parts) return { judge_reason: 'The two responses could not be told apart.', better_response: 'tie' }
  const asked = contentWords(parts.instruction)
  const ma = merit(parts.a, asked)
  const mb = merit(parts.b, asked)
  const d = ma.score - mb.score + SIM_POSITION_BIAS
  const better = d >= 1 ? 'A' : d <= -1 ? 'B' : 'tie'
  const describe = (m: { covered: number, steps: number }): string => `addresses ${m.covered} of the instruction's ${asked.size} key terms in ${m.steps} step(s)`
  const why = better === 'tie'
    ? 'neither is clearly more complete or more on point'
    : `Response ${better} is more complete and follows the instruction more closely`
  return { judge_reason: `Response A ${describe(ma)}; Response B ${describe(mb)}: ${why}.`, better_response: better }
}
