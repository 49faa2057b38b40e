/**
 * What `synthq status` reports and `synthq dashboard` draws: one snapshot of a pipeline, taken
 * from its durable state (topic heads, committed positions, dead letters, the LLM usage ledger,
 * the sink's checkpoint) and, when processes are running, from their live metrics endpoints.
 *
 * Every figure a snapshot cannot know is `null`, never 0: "no process is running, so there is no
 * throughput" must not read as "the throughput is zero".
 */

/** A running synthq process found through its metrics endpoint. */
export interface ProcessStatus {
  pid: number | null
  /** Its Prometheus endpoint, e.g. http://127.0.0.1:40123/metrics. */
  metricsUrl: string
  topology: string | null
  runner: 'embedded' | 'kafka' | null
  /** false: listed (discovery file or --metrics-url) but its endpoint did not answer. */
  up: boolean
  error?: string
}

export interface StageLlmStatus {
  model: string | null
  requests: number
  promptTokens: number
  completionTokens: number
  costUsd: number
  /** Cache hits / (hits + misses) over the ledger; null before any call. */
  cacheHitRate: number | null
  /** Live, from the request-latency histogram of running processes (ms). */
  latencyP50Ms: number | null
  latencyP95Ms: number | null
}

export interface StageStatus {
  stage: string
  topology: string
  /** Input topic (Kafka name). */
  input: string
  /** Records of the input topic not yet committed by the stage. */
  lag: number | null
  /** Records the stage has committed (durable: its committed position). */
  committed: number | null
  /** Live: records per second over the sampling window. */
  throughputPerSec: number | null
  inFlight: number | null
  queued: number | null
  /** Live: retried attempts since the processes started. */
  retries: number | null
  /** Dead letters written by this stage (durable: the dead-letter topic). */
  deadLetters: number
  deadLetterReasons: Array<{ errorClass: string, count: number }>
  /** Live consumers of the stage: group members on Kafka, running processes on the embedded runner. */
  consumers: number | null
  llm: StageLlmStatus | null
}

export interface FilterStatus {
  minScore: number
  /** Instructions scored so far (the scored topic's records). */
  scored: number
  /** Of those, how many reached minScore. */
  accepted: number
  acceptanceRate: number | null
  /** Scored instructions by total 0–7 (index = total). */
  scoreHistogram: number[]
}

export interface SampleTopicStatus {
  /** The sink's topic number (labels can repeat: they are the topic's most telling words). */
  topic: number
  label: string
  kept: number
  quota: number
  seen: number
}

export interface SampleStatus {
  size: number
  k: number
  topics: SampleTopicStatus[]
  /** Largest/smallest kept share among topics with a quota; 1 = perfectly balanced. */
  balanceRatio: number | null
  /** Shannon entropy of the sample's topics, normalised to [0, 1]. */
  topicEntropy: number
  effectiveTopics: number
  /** Vendi score of a probe of the sample (effective number of distinct instructions). */
  vendi: number | null
  simulated: boolean
}

export interface LatestInstruction {
  id: string
  instruction: string
  total: number
  documentId: string
  documentUrl: string | null
  demonstrationIds: string[]
  /** Upstream steps, oldest first: `stage@promptVersion (model)`. */
  steps: string[]
  simulated: boolean
  at: number
}

export interface HealthCheck {
  name: string
  ok: boolean
  message: string
}

export interface StatusSnapshot {
  at: number
  runner: 'embedded' | 'kafka'
  /** The database file, or the brokers. */
  source: string
  prefix: string
  processes: ProcessStatus[]
  stages: StageStatus[]
  topics: Array<{ topic: string, records: number }>
  filter: FilterStatus | null
  sample: SampleStatus | null
  llm: { requests: number, promptTokens: number, completionTokens: number, costUsd: number, cacheHitRate: number | null }
  latest: LatestInstruction[]
  health: { healthy: boolean, checks: HealthCheck[] }
}
