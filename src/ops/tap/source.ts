/**
 * A topic source for the tools that read the pipeline's topics (tap, dlq): the runtime's
 * transport seam (src/runtime/transport.ts) opened read-only — the embedded database, or Kafka
 * and the schema registry from the environment.
 */
import type { Logger } from '../../log.ts'
import { openTransport } from '../../runtime/open-transport.ts'
import type { RunnerKind, Transport } from '../../runtime/transport.ts'
import { ConfigError } from '../../errors.ts'
import { parseShadowTopic, TOPICS, topicName, type TopicName } from '../../topics.ts'

export type { RunnerKind }

export interface SourceOptions {
  runner: string
  /** Embedded database file. */
  db: string
  prefix: string
}

/** What tap and dlq read through: the transport (its `kind` says which runner). */
export type TopicSource = Transport

export function runnerKind (runner: string | undefined): RunnerKind {
  const r = runner ?? 'embedded'
  if (r !== 'embedded' && r !== 'kafka') throw new ConfigError(`--runner must be embedded or kafka, got "${r}"`)
  return r
}

/** A logical name (scoredInstructions) or a topic name (synthq.instructions.scored) as the topic name. */
export function resolveTopic (name: string, prefix: string): string {
  const logical = TOPICS.find((t) => t.name === name)
  if (logical) return topicName(logical.name as TopicName, prefix)
  const physical = TOPICS.find((t) => topicName(t.name, prefix) === name)
  if (physical) return name
  if (parseShadowTopic(name, prefix)) return name // a shadow run's copy (synthq shadow)
  throw new ConfigError(`unknown topic "${name}"; topics: ${TOPICS.map((t) => topicName(t.name, prefix)).join(', ')}`)
}

export function openSource (o: SourceOptions, logger: Logger): TopicSource {
  return openTransport({ runner: runnerKind(o.runner), db: o.db, prefix: o.prefix, readOnly: true }, logger)
}
