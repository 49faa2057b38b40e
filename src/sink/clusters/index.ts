/**
 * Semantic clusters of instructions — what the sink, its report and docs call "topics" (the unit
 * the sample is balanced over) — not Kafka topics; the folder is named for what it computes so
 * that the two are not confused. Topic assignment's public surface, for the sink: the online topic model (stable ids), the
 * c-TF-IDF labeler, the lexical fallback vectors, and the clustering-quality figures the tests
 * and the topic-quality benchmark report.
 */
export {
  OnlineTopicModel,
  type Assignment, type KRule, type OnlineTopicOptions, type OnlineTopicSnapshot, type OnlineTopicStats, type ResolvedTopicOptions,
} from './online-clustering.ts'
export { TopicLabeler, type TopicLabelerOptions, type TopicLabelerSnapshot, type TopicWord } from './labels.ts'
export { LEXICAL_NOTICE, LexicalVectorizer, type LexicalOptions, type LexicalSnapshot } from './lexical.ts'
export { clusteringQuality, type ClusteringQuality } from './quality.ts'
export { contentWords, STOPWORDS } from './words.ts'
export type { Vector } from './vectors.ts'
