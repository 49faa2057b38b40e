/**
 * The topic map: every topic of the pipeline, its key, its value schema, its cleanup policy and
 * which stage writes and reads it. Runners create topics from this table, the serde registers
 * schemas from it, and docs/architecture.md describes it (a test keeps the two in step).
 *
 * Names follow Confluent's conventions: dot-separated topic names under a prefix (default
 * `synthq`), value subjects `<topic>-value` (TopicNameStrategy). Keys are plain UTF-8 record
 * ids (Confluent's StringSerializer), not Avro, so any tool can read and compact by them.
 */
export type CleanupPolicy = 'delete' | 'compact'

export interface TopicSpec {
  /** Logical name used in code and config; the Kafka topic is `${prefix}.${suffix}`. */
  name: TopicName
  suffix: string
  /** File under schemas/ holding the value schema. */
  schemaFile: string
  /** Fully qualified Avro name of the value record. */
  recordName: string
  key: string
  cleanupPolicy: CleanupPolicy
  /** Stage (or command) that writes the topic. */
  writtenBy: string
  /** Stages that read it. */
  readBy: string[]
  description: string
}

export type TopicName =
  | 'realInstructions' | 'documents' | 'cleanDocuments' | 'documentFingerprints' | 'concepts' | 'groundedInstructions' | 'demonstrations'
  | 'situations' | 'synthesizedInstructions' | 'scoredInstructions' | 'sample' | 'sinkState' | 'deadLetters'
  | 'responses' | 'responsePairs' | 'preferences' | 'promptPromotions'

export const TOPICS: readonly TopicSpec[] = [
  { name: 'realInstructions', suffix: 'instructions.real', schemaFile: 'real-instruction.avsc', recordName: 'synthq.RealInstruction', key: 'instruction id', cleanupPolicy: 'delete', writtenBy: 'synthq ingest', readBy: ['concept-extraction'], description: 'Real user instructions (seeds) to attribute.' },
  { name: 'documents', suffix: 'documents', schemaFile: 'document.avsc', recordName: 'synthq.Document', key: 'document id', cleanupPolicy: 'delete', writtenBy: 'synthq ingest', readBy: ['document-hygiene'], description: 'Web and technical documents to synthesize from.' },
  { name: 'cleanDocuments', suffix: 'documents.clean', schemaFile: 'clean-document.avsc', recordName: 'synthq.CleanDocument', key: 'document id', cleanupPolicy: 'delete', writtenBy: 'document-hygiene', readBy: ['situation-envisioning'], description: 'Documents after input hygiene: normalised, token-truncated, deduplicated.' },
  { name: 'documentFingerprints', suffix: 'documents.fingerprints', schemaFile: 'document-fingerprint.avsc', recordName: 'synthq.DocumentFingerprint', key: 'content hash', cleanupPolicy: 'compact', writtenBy: 'document-hygiene', readBy: ['document-hygiene (as a table)'], description: 'Content hashes (and MinHash signatures) of admitted documents: durable duplicate detection.' },
  { name: 'concepts', suffix: 'concepts', schemaFile: 'concept.avsc', recordName: 'synthq.Concept', key: 'instruction id', cleanupPolicy: 'delete', writtenBy: 'concept-extraction', readBy: ['search-retrieval'], description: 'Intention and keywords of each real instruction.' },
  { name: 'groundedInstructions', suffix: 'instructions.grounded', schemaFile: 'grounded-instruction.avsc', recordName: 'synthq.GroundedInstruction', key: 'instruction id', cleanupPolicy: 'delete', writtenBy: 'search-retrieval', readBy: ['situation-grounding'], description: 'Real instruction + the document retrieved for it + search metadata.' },
  { name: 'demonstrations', suffix: 'demonstrations', schemaFile: 'demonstration.avsc', recordName: 'synthq.Demonstration', key: 'instruction id', cleanupPolicy: 'compact', writtenBy: 'situation-grounding', readBy: ['situation-envisioning', 'instruction-generation'], description: 'The live pool of attributed demonstrations, read as a table.' },
  { name: 'situations', suffix: 'situations', schemaFile: 'situation.avsc', recordName: 'synthq.Situation', key: 'situation id', cleanupPolicy: 'delete', writtenBy: 'situation-envisioning', readBy: ['instruction-generation'], description: 'Scenes and query compositions envisioned from documents.' },
  { name: 'synthesizedInstructions', suffix: 'instructions.synthesized', schemaFile: 'synthesized-instruction.avsc', recordName: 'synthq.SynthesizedInstruction', key: 'instruction id', cleanupPolicy: 'delete', writtenBy: 'instruction-generation', readBy: ['scoring'], description: 'Synthetic user instructions.' },
  { name: 'scoredInstructions', suffix: 'instructions.scored', schemaFile: 'scored-instruction.avsc', recordName: 'synthq.ScoredInstruction', key: 'instruction id', cleanupPolicy: 'delete', writtenBy: 'scoring', readBy: ['sink (topic-balanced reservoir)'], description: 'Instructions with 7 criterion scores and their total.' },
  { name: 'sample', suffix: 'sample', schemaFile: 'sample-row.avsc', recordName: 'synthq.SampleRow', key: 'instruction id', cleanupPolicy: 'compact', writtenBy: 'sink', readBy: ['response (and as a table)', 'response-b, judge (as a table)', 'synthq export', 'synthq tap'], description: 'The dataset: instructions in the topic-balanced sample (upserted on admission, tombstoned on eviction).' },
  { name: 'responses', suffix: 'responses', schemaFile: 'response.avsc', recordName: 'synthq.Response', key: 'instruction id', cleanupPolicy: 'compact', writtenBy: 'response', readBy: ['response-b', 'synthq export --format sft'], description: 'A responder model\'s answer to each instruction of the sample (tombstoned when the instruction is evicted): the assistant turns of the SFT dataset.' },
  { name: 'responsePairs', suffix: 'responses.pairs', schemaFile: 'response-pair.avsc', recordName: 'synthq.ResponsePair', key: 'instruction id', cleanupPolicy: 'compact', writtenBy: 'response-b', readBy: ['judge'], description: 'Two responses per instruction (two models or temperatures) for the preference judge.' },
  { name: 'preferences', suffix: 'preferences', schemaFile: 'preference.avsc', recordName: 'synthq.Preference', key: 'instruction id', cleanupPolicy: 'compact', writtenBy: 'judge', readBy: ['synthq export --format dpo'], description: 'The judge\'s verdict on each pair, asked in both orders: chosen and rejected, or a tie or inconsistent verdicts (counted, not exported).' },
  { name: 'promptPromotions', suffix: 'prompts.promotions', schemaFile: 'prompt-promotion.avsc', recordName: 'synthq.PromptPromotion', key: 'stage', cleanupPolicy: 'compact', writtenBy: 'synthq shadow promote', readBy: ['every stage that sends a prompt (as a table)'], description: 'Prompt versions made live on a running stream: from which input offsets a stage sends which version (records before them keep the version they ran).' },
  { name: 'sinkState', suffix: 'sink.state', schemaFile: 'sink-checkpoint.avsc', recordName: 'synthq.SinkCheckpoint', key: '<stage>/<part>', cleanupPolicy: 'compact', writtenBy: 'sink', readBy: ['sink (on restart)', 'synthq export', 'synthq sink'], description: 'Checkpoints of the sink (reservoir, topic model, counters) with the input offsets they cover.' },
  { name: 'deadLetters', suffix: 'dlq', schemaFile: 'dead-letter.avsc', recordName: 'synthq.DeadLetter', key: 'source record id (or topic-partition-offset)', cleanupPolicy: 'delete', writtenBy: 'every stage', readBy: ['synthq dlq'], description: 'Records a stage could not process, with original bytes and reason.' },
]

export const DEFAULT_TOPIC_PREFIX = 'synthq'

export function topicSpec (name: TopicName): TopicSpec {
  const spec = TOPICS.find((t) => t.name === name)
  if (!spec) throw new Error(`unknown topic ${name}`)
  return spec
}

export function topicName (name: TopicName, prefix = DEFAULT_TOPIC_PREFIX): string {
  const suffix = topicSpec(name).suffix
  return prefix ? `${prefix}.${suffix}` : suffix
}

/**
 * Where one run's topics and consumer groups live. A live run has a prefix; a shadow run
 * (`synthq shadow`) also has a second prefix its own outputs (and dead letters) are written
 * under, so it reads the live inputs and tables but writes nothing the live stages read.
 */
export interface TopicNamespace {
  readonly prefix: string
  readonly shadow?: {
    readonly prefix: string
    /** The logical topics this run writes and reads under the shadow prefix. */
    readonly topics: readonly TopicName[]
  }
}

/** The physical topic of a logical one in a namespace. */
export function namespacedTopic (ns: TopicNamespace, name: TopicName): string {
  return ns.shadow?.topics.includes(name) === true ? topicName(name, ns.shadow.prefix) : topicName(name, ns.prefix)
}

/** The consumer group of a stage (embedded: its consumer name): `<prefix>.<stage>`, a shadow run's under its own prefix. */
export function stageGroup (ns: TopicNamespace, stage: string): string {
  return `${ns.shadow?.prefix ?? ns.prefix}.${stage}`
}

/** The prefix of a shadow run of `stage` at prompt version `version`: `<prefix>.shadow.<stage>.v<version>`. */
export function shadowPrefix (prefix: string, stage: string, version: string): string {
  return `${prefix ? `${prefix}.` : ''}shadow.${stage}.v${version}`
}

/**
 * A shadow run's topic (`<prefix>.shadow.<stage>.v<version>.<suffix>`) as its stage, version and
 * logical topic; undefined for any other name.
 */
export function parseShadowTopic (topic: string, prefix = DEFAULT_TOPIC_PREFIX): { stage: string, version: string, name: TopicName } | undefined {
  const head = `${prefix ? `${prefix}.` : ''}shadow.`
  if (!topic.startsWith(head)) return undefined
  const m = /^([a-z][a-z0-9-]*)\.v([^.]+)\.(.+)$/.exec(topic.slice(head.length))
  const spec = m ? TOPICS.find((t) => t.suffix === m[3]) : undefined
  return m && spec ? { stage: m[1]!, version: m[2]!, name: spec.name } : undefined
}

/** Confluent TopicNameStrategy: the value subject of a topic. */
export function valueSubject (topic: string): string {
  return `${topic}-value`
}

/** The topic map as a Markdown table, for docs/architecture.md (kept in step by a test). */
export function topicMapMarkdown (defaults: { partitions: number, replication: number } = { partitions: 6, replication: 1 }): string {
  const rows = TOPICS.map((t) => {
    const topic = topicName(t.name)
    return `| \`${topic}\` | ${t.key} | \`${t.recordName}\` ([${t.schemaFile}](../schemas/${t.schemaFile})), subject \`${valueSubject(topic)}\` | ${t.cleanupPolicy} | ${t.writtenBy} | ${t.readBy.join(', ')} | ${t.description} |`
  })
  return [
    `| topic | key | value | cleanup | written by | read by | holds |`,
    `|---|---|---|---|---|---|---|`,
    ...rows,
    '',
    `Partitions: ${defaults.partitions} per topic by default (\`--partitions\`), replication factor ${defaults.replication} (\`--replication\`); names shown under the default prefix \`${DEFAULT_TOPIC_PREFIX}\`.`,
  ].join('\n')
}
