/**
 * The topic-balanced reservoir's public surface, for the sink: the reservoir itself, its policy
 * and weight types, and the water-filling function (the sink's status and dataset card quote
 * the level).
 */
export {
  TopicBalancedReservoir, compareTopics,
  type EvictedItem, type KeptItem, type OfferResult, type OfferedItem, type ReservoirOptions, type ReservoirSnapshot,
  type ReservoirStats, type TopicId, type TopicStats,
} from './reservoir.ts'
export { POLICIES, defaultWeight, type Policy, type WeightFn } from './keys.ts'
export { waterFill, type WaterLevel } from './water-fill.ts'
