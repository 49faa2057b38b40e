/**
 * Words of an instruction, for topic labels (labels.ts) and lexical vectors (lexical.ts): the
 * content words only, so that labels name what a topic is about and lexical similarity is not
 * driven by "the", "how" or "please".
 *
 * Steps: lower case; URLs, e-mail addresses and LaTeX commands (\frac, \mathbb — markup, not
 * words: math text would otherwise be labelled "frac_left_right") dropped; words are runs of
 * letters and digits (Unicode); a word is kept if it has ≥ 3 characters, is not all digits and
 * is not a stop word. No stemming: labels show words as written ("tides", "tidal").
 *
 * The stop-word list is this project's own: English function words, contraction fragments left
 * by splitting at apostrophes ("don", "isn"), and the generic verbs and nouns of requests
 * ("explain", "write", "example", "question") that every instruction topic shares.
 */
const STOP = `
a about above across after again against all almost along already also although always am among
an and another any anybody anyone anything anyway anywhere are around as at be became because
become becomes been before being below beside besides between beyond both but by can cannot
could did do does doing done down during each either else enough etc even ever every everyone
everything few for from further get gets getting give given gives go goes going got had has have
having he her here hers herself him himself his how however i if in into is it its itself just
least less let lets like made make makes many may me might mine more most much must my myself
namely near need needs neither never nevertheless next no nobody none nor not nothing now
nowhere of off often on once one only onto or other others otherwise our ours ourselves out over
own per perhaps please put quite rather really said same say says see seem seemed seems several
shall she should since so some somehow someone something sometime sometimes somewhere still such
take than that the their theirs them themselves then there thereby therefore these they thing
things this those though through throughout thus to together too toward towards under until up
upon us use used uses using very via want wants was way ways we well were what whatever when
whence whenever where whereas wherever whether which while who whoever whole whom whose why will
with within without would yet you your yours yourself yourselves
don doesn didn isn aren wasn weren hasn haven hadn won wouldn shouldn couldn cant ll ve re
dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt im ive youre theyre
able actually answer answers anyone ask asked asking better case certain clear different
example examples explain explanation find found good great help hi hello know known look
lot lots mean means new note question questions right show sure tell thank thanks think thought
try trying understand want way write yes
`

export const STOPWORDS: ReadonlySet<string> = new Set(STOP.split(/\s+/).filter((w) => w !== ''))

const DROP = /https?:\/\/\S+|www\.\S+|\S+@\S+\.\w+|\\[a-zA-Z]+/g
const WORD = /[\p{L}\p{N}]+/gu
const DIGITS = /^\p{N}+$/u

/** The content words of `text`, in order (repeats kept: counts matter to c-TF-IDF). */
export function contentWords (text: string): string[] {
  const out: string[] = []
  for (const m of text.toLowerCase().replace(DROP, ' ').matchAll(WORD)) {
    const w = m[0]
    if (w.length >= 3 && !DIGITS.test(w) && !STOPWORDS.has(w)) out.push(w)
  }
  return out
}
