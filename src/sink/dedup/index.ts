export { BloomFilter, type BloomOptions, type BloomSnapshot } from './bloom.ts'
export { ScalableBloomFilter, type ScalableBloomSnapshot } from './scalable-bloom.ts'
export { textKey } from './text-key.ts'
