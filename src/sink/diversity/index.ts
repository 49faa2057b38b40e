/**
 * Diversity and health figures of the kept sample, for the dataset card and `status`: the Vendi
 * score over embeddings, topic entropy, and the score histogram.
 */
export { sampleIndices, vendiFromEigenvalues, vendiScore, type VendiOptions, type VendiResult } from './vendi.ts'
export { scoreHistogram, topicEntropy, type ScoreBin, type ScoreHistogram, type TopicEntropy } from './distribution.ts'
export { symmetricEigenvalues } from './eigen.ts'
