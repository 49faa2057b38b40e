/**
 * Topic labels from each topic's most distinctive words, as BERTopic names its topics: class-based
 * TF-IDF (c-TF-IDF, Grootendorst 2022, "BERTopic: Neural topic modeling with a class-based
 * TF-IDF procedure"). All documents of a topic count as one document; the weight of word w in
 * topic t is
 *
 *     W(t, w) = tf(t, w) × log(1 + A / f(w))
 *
 * with tf(t, w) the count of w in topic t (see below) divided by t's total word count (BERTopic's L1
 * normalisation; it does not change the order within a topic), A the average number of words
 * per topic and f(w) the count of w over all topics. A word frequent in one topic and rare
 * elsewhere ranks first. label(t) joins the top n words with "_": "tides_bay_fundy_tidal".
 *
 * One change from BERTopic: a word counts once per document (BERTopic counts every occurrence).
 * Otherwise one long document that repeats a token — code, a table, a Mathematica listing in a
 * math question — names its topic: on the shipped corpora the math topic was labelled
 * "point_function_graphics_pointsize" by occurrences, "function_prove_problem_following" by
 * documents.
 *
 * Incremental and bounded: add(topic, text) counts the content words (words.ts: lower case, stop
 * words and LaTeX commands out) into a per-topic Space-Saving sketch (space-saving.ts) of
 * `capacity` counters (default 1,000), so memory is O(topics × capacity) however long the run.
 * Counts used are the sketch's guaranteed counts (count − error), so a word that just took over
 * an evicted counter cannot reach a label on inherited counts; total words per topic are exact.
 * f(w) sums the tracked counts over topics (a word evicted from a topic no longer adds there:
 * such words are rare in it by construction).
 *
 * Labels change as topics grow; they are computed on demand (O(topics × capacity)), so the sink
 * should stamp a record's label when it exports, from the labeler's state at that time.
 */
import { ConfigError, RecordInvalidError } from '../../errors.ts'
import { SpaceSaving, type SpaceSavingEntry } from './space-saving.ts'
import { contentWords } from './words.ts'

export interface TopicLabelerOptions {
  /** Word counters kept per topic (default 1,000). */
  capacity?: number
}

export interface TopicWord {
  word: string
  /** c-TF-IDF weight. */
  score: number
  /** Guaranteed count of the word in the topic. */
  count: number
}

export interface TopicLabelerSnapshot {
  format: 'synthq.topic-labels/1'
  capacity: number
  /** Per topic: [topic id, documents, total words, sketch entries in heap order]. */
  topics: Array<[number, number, number, SpaceSavingEntry[]]>
}

interface TopicCounts {
  docs: number
  words: number
  sketch: SpaceSaving
}

export class TopicLabeler {
  readonly capacity: number
  private readonly topics = new Map<number, TopicCounts>()
  /** A and f(w), recomputed lazily: add() is frequent and cheap, labels are read rarely. */
  private figures: { avgWords: number, freq: Map<string, number> } | undefined

  constructor (opts: TopicLabelerOptions = {}) {
    this.capacity = opts.capacity ?? 1000
    if (!Number.isSafeInteger(this.capacity) || this.capacity < 1) throw new ConfigError(`topic labels: capacity must be an integer ≥ 1, got ${String(opts.capacity)}`)
  }

  /** Counts `text`'s content words into `topic`. */
  add (topic: number, text: string): void {
    this.figures = undefined
    let t = this.topics.get(topic)
    if (t === undefined) {
      t = { docs: 0, words: 0, sketch: new SpaceSaving(this.capacity) }
      this.topics.set(topic, t)
    }
    t.docs++
    for (const w of new Set(contentWords(text))) {
      t.words++
      t.sketch.add(w)
    }
  }

  /** Topic ids seen, ascending. */
  topicIds (): number[] {
    return [...this.topics.keys()].sort((a, b) => a - b)
  }

  /** The n words with the highest c-TF-IDF weight in `topic` (ties: alphabetical). */
  topWords (topic: number, n = 4): TopicWord[] {
    const t = this.topics.get(topic)
    if (t === undefined || t.words === 0) return []
    const { avgWords, freq } = this.corpusFigures()
    const out: TopicWord[] = []
    for (const [word, count, error] of t.sketch.entries()) {
      const c = count - error
      if (c <= 0) continue
      const f = freq.get(word) ?? c
      out.push({ word, count: c, score: (c / t.words) * Math.log(1 + avgWords / f) })
    }
    out.sort((a, b) => b.score - a.score || (a.word < b.word ? -1 : a.word > b.word ? 1 : 0))
    return out.slice(0, n)
  }

  /** The top n words joined by "_"; `topic_<id>` when the topic has no content words yet. */
  label (topic: number, n = 4): string {
    const words = this.topWords(topic, n)
    return words.length > 0 ? words.map((w) => w.word).join('_') : `topic_${topic}`
  }

  /** Labels of every topic seen (one pass over the counts for all of them). */
  labels (n = 4): Map<number, string> {
    const out = new Map<number, string>()
    for (const id of this.topicIds()) out.set(id, this.label(id, n))
    return out
  }

  /** Documents counted into a topic. */
  documents (topic: number): number {
    return this.topics.get(topic)?.docs ?? 0
  }

  snapshot (): TopicLabelerSnapshot {
    return {
      format: 'synthq.topic-labels/1',
      capacity: this.capacity,
      topics: this.topicIds().map((id) => {
        const t = this.topics.get(id)!
        return [id, t.docs, t.words, t.sketch.entries()]
      }),
    }
  }

  static restore (snap: TopicLabelerSnapshot): TopicLabeler {
    if (snap?.format !== 'synthq.topic-labels/1') throw new RecordInvalidError(`not a topic labels snapshot (format ${String(snap?.format)})`, ['format'])
    const l = new TopicLabeler({ capacity: snap.capacity })
    for (const [id, docs, words, entries] of snap.topics) {
      l.topics.set(id, { docs, words, sketch: new SpaceSaving(snap.capacity, entries) })
    }
    return l
  }

  private corpusFigures (): { avgWords: number, freq: Map<string, number> } {
    if (this.figures !== undefined) return this.figures
    let total = 0
    const freq = new Map<string, number>()
    for (const t of this.topics.values()) {
      total += t.words
      for (const [w, c, e] of t.sketch.entries()) if (c > e) freq.set(w, (freq.get(w) ?? 0) + c - e)
    }
    this.figures = { avgWords: this.topics.size > 0 ? total / this.topics.size : 0, freq }
    return this.figures
  }
}
