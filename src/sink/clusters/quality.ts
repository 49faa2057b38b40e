/**
 * How well topics match known classes (for tests and the topic-quality benchmark, not the
 * running sink): purity and normalised mutual information of a clustering against labels.
 *
 *   purity = (1/n) Σ_topics max_class |topic ∩ class|: how pure each topic is. It rewards many
 *            small topics (n singletons score 1), so read it together with the topic count.
 *   NMI    = I(T; C) / ((H(T) + H(C)) / 2), the arithmetic-mean normalisation (Vinh, Epps &
 *            Bailey 2010, "Information theoretic measures for clusterings comparison";
 *            scikit-learn's default). 1: topics and classes determine each other; 0:
 *            independent. Splitting one class over several topics lowers it, as it should.
 *
 * Both take two equally long label arrays (any comparable values) and use natural logarithms.
 */
export interface ClusteringQuality {
  n: number
  topics: number
  classes: number
  purity: number
  nmi: number
}

function entropyOf (counts: Iterable<number>, n: number): number {
  let h = 0
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n)
  return h
}

export function clusteringQuality<T, C> (topics: readonly T[], classes: readonly C[]): ClusteringQuality {
  if (topics.length !== classes.length) throw new RangeError(`clusteringQuality: ${topics.length} topics for ${classes.length} classes`)
  const n = topics.length
  const joint = new Map<T, Map<C, number>>()
  const byClass = new Map<C, number>()
  for (let i = 0; i < n; i++) {
    const t = topics[i]!
    const c = classes[i]!
    let row = joint.get(t)
    if (row === undefined) { row = new Map(); joint.set(t, row) }
    row.set(c, (row.get(c) ?? 0) + 1)
    byClass.set(c, (byClass.get(c) ?? 0) + 1)
  }
  if (n === 0) return { n, topics: 0, classes: 0, purity: 0, nmi: 0 }
  let pure = 0
  let mi = 0
  const byTopic: number[] = []
  for (const row of joint.values()) {
    let size = 0
    let max = 0
    for (const v of row.values()) { size += v; max = Math.max(max, v) }
    byTopic.push(size)
    pure += max
    for (const [c, v] of row) mi += (v / n) * Math.log((v * n) / (size * byClass.get(c)!))
  }
  const hT = entropyOf(byTopic, n)
  const hC = entropyOf(byClass.values(), n)
  const denom = (hT + hC) / 2
  // Both partitions trivial (one block each): identical, by convention NMI = 1.
  const nmi = denom > 0 ? Math.max(0, mi) / denom : 1
  return { n, topics: joint.size, classes: byClass.size, purity: pure / n, nmi }
}
