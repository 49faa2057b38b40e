export { BloomFilter, type BloomOptions, type BloomSnapshot } from './bloom.ts'
export { textKey } from './text-key.ts'
