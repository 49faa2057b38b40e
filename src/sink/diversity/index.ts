/**
 * Diversity and health figures of the kept sample, for the dataset card and `status`: the Vendi
 * score over embeddings (in this thread, or in a worker thread by VendiThread), topic entropy,
 * and the score histogram.
 */
export { packVectors, sampleIndices, vendiFromEigenvalues, vendiScore, vendiScoreOfMatrix, type VectorMatrix, type VendiOptions, type VendiResult } from './vendi.ts'
export { VendiThread, spawnVendiWorker, type VendiThreadOptions } from './vendi-thread.ts'
export { scoreHistogram, topicEntropy, type ScoreBin, type ScoreHistogram, type TopicEntropy } from './distribution.ts'
export { symmetricEigenvalues } from './eigen.ts'
