/**
 * How synthq is deployed on Kafka: its stages in groups, one process type per group (a
 * Kubernetes Deployment, a Docker Compose service). The one source of truth for the split:
 * `npm run deploy:gen` (scripts/gen-deploy.ts) writes the stage-specific parts of
 * deploy/k8s/base/ and the pipeline services of deploy/docker-compose.yml from this module, and
 * test/deploy/k8s-manifests.test.ts fails when a committed file differs from what it would write.
 *
 * A group runs `synthq run <topology>` with `--stage` for each of its stages (none when it runs
 * the whole topology). Each stage has its own consumer group, `<prefix>.<stage>`
 * (src/runtime/kafka/kafka-runner.ts), so the replicas of a group share the partitions of every
 * stage's input topic; a scalable group is scaled on the lag of those consumer groups. The sink
 * is stateful with a fixed transactional id: a second instance takes its state over and stops
 * the first, so it runs alone, never scaled.
 *
 * Some stages exist only when the pipeline config file turns them on: `response`, `response-b`
 * and `judge` (`pipeline.responses.enabled` / `preferences`, src/topologies/synthesis.ts). A group
 * with `pipelineConfig` runs with that file, deploy/pipeline.yaml, mounted (Kubernetes: the
 * ConfigMap `synthq-pipeline` that `npm run deploy:gen` makes of it; Compose: the file itself)
 * and passed with `--config`; its topology, and so its stages, are built with that file's
 * settings.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { DEFAULT_PIPELINE_OPTIONS, pipelineOptions, type PipelineOptions } from '../src/topologies/options.ts'
import { TOPOLOGIES } from '../src/topologies/registry.ts'
import { stageNames, type Topology } from '../src/topologies/topology.ts'
import { DEFAULT_TOPIC_PREFIX, topicName } from '../src/topics.ts'

export type TopologyName = 'attribution' | 'synthesis'

export interface StageGroup {
  /** Names the Deployment and the Compose service: `synthq-<name>`. */
  name: string
  topology: TopologyName
  /** The stages this group runs, in the topology's order. */
  stages: readonly string[]
  /** Replicas share the work (KEDA scales them on lag); false: exactly one, replaced by Recreate. */
  scalable: boolean
  /**
   * KEDA's `lagThreshold` for each stage's trigger: the lag per replica it aims for. A replica
   * keeps up to 64 records in flight per stage (256 for an LLM stage, its endpoint's
   * maxConcurrency by default), so a few hundred records of lag is a few seconds of its work.
   */
  lagPerReplica?: number
  /** Container resources. Starting points, not measured on a cluster. */
  resources: { cpuRequest: string, memoryRequest: string, memoryLimit: string }
  /**
   * Runs with the pipeline config file (deploy/pipeline.yaml) mounted at {@link PIPELINE_CONFIG_PATH}
   * and passed with `--config`: for stages that only that file's settings put in the topology.
   */
  pipelineConfig?: boolean
  /** One line for the generated files. */
  summary: string
}

export const STAGE_GROUPS: readonly StageGroup[] = [
  {
    name: 'attribution',
    topology: 'attribution',
    stages: ['concept-extraction', 'search-retrieval', 'situation-grounding'],
    scalable: true,
    lagPerReplica: 200,
    resources: { cpuRequest: '250m', memoryRequest: '512Mi', memoryLimit: '1Gi' },
    summary: 'attribution: real instructions → demonstrations (three LLM/search stages)',
  },
  {
    name: 'synthesis',
    topology: 'synthesis',
    stages: ['document-hygiene', 'situation-envisioning', 'instruction-generation', 'scoring'],
    scalable: true,
    lagPerReplica: 500,
    resources: { cpuRequest: '500m', memoryRequest: '1Gi', memoryLimit: '2Gi' },
    summary: 'synthesis up to scoring: documents → scored instructions',
  },
  {
    name: 'sink',
    topology: 'synthesis',
    stages: ['sink'],
    scalable: false,
    resources: { cpuRequest: '500m', memoryRequest: '1Gi', memoryLimit: '3Gi' },
    summary: 'the sink: scored instructions → the sample (stateful, one instance per pipeline)',
  },
  {
    name: 'responses',
    topology: 'synthesis',
    stages: ['response', 'response-b', 'judge'],
    // Stateless per record: keyed by instruction id, each replica reads the whole sample table
    // (loaded before its stages start) and its share of the partitions; a tombstone comes down the
    // partition of its instruction, so the replica with the call in flight is the one it aborts.
    scalable: true,
    // One replica already keeps 256 calls in flight per stage (an LLM stage's default): a second
    // is worth starting only when a stage's backlog is past that, and the LLM endpoint, not the
    // replicas, is what bounds these stages.
    lagPerReplica: 256,
    // Each replica holds the sample table in memory: K rows (100,000 by default) of a few KB each.
    resources: { cpuRequest: '250m', memoryRequest: '1Gi', memoryLimit: '2Gi' },
    pipelineConfig: true,
    summary: 'responses and preference pairs: the sample → responses → pairs → verdicts (needs the pipeline config, deploy/pipeline.yaml)',
  },
]

/** The pipeline config file the groups with `pipelineConfig` run with (YAML: `pipeline:` and `llm:` sections). */
export const PIPELINE_CONFIG_FILE = fileURLToPath(new URL('./pipeline.yaml', import.meta.url))
/** Where their containers see it: the ConfigMap's key {@link PIPELINE_CONFIG_KEY} in the folder {@link PIPELINE_CONFIG_DIR}. */
export const PIPELINE_CONFIG_DIR = '/etc/synthq'
export const PIPELINE_CONFIG_KEY = 'synthq.yaml'
export const PIPELINE_CONFIG_PATH = `${PIPELINE_CONFIG_DIR}/${PIPELINE_CONFIG_KEY}`

/** The partitions `synthq run --runner kafka` gives the topics it creates without --partitions (src/cli/help.ts RUN_HELP). */
export const DEFAULT_PARTITIONS = 6
/** `--drain-timeout` the deployments pass explicitly (the CLI's default is the same 30 s). */
export const DRAIN_TIMEOUT_SECONDS = 30
/** SYNTHQ_EXIT_GRACE_MS the deployments set explicitly (src/cli/exit.ts exitGraceMs; its default is the same 15 s). */
export const EXIT_GRACE_MS = 15_000
/**
 * How long the orchestrator waits after SIGTERM before SIGKILL (Kubernetes
 * terminationGracePeriodSeconds, Compose stop_grace_period): more than the drain timeout plus
 * the exit grace (after which the process exits on its own, code 1), plus the 10-s backstop
 * src/cli/exit.ts arms past that deadline for a blocked event loop, plus a margin.
 */
export const TERMINATION_GRACE_SECONDS = 60
/** The metrics endpoint's port in every container (SYNTHQ_METRICS_PORT); /metrics, /healthz, /readyz. */
export const METRICS_PORT = 9464

/**
 * A topology as `synthq describe` builds it (building opens nothing, so no index or server is
 * needed), with the pipeline settings a process runs with: the defaults, or those of a config file.
 */
export function topologyOf (name: TopologyName, options: PipelineOptions = DEFAULT_PIPELINE_OPTIONS): Topology {
  const make = TOPOLOGIES[name]
  if (!make) throw new Error(`no topology ${name}`)
  return make({ options, searchIndex: 'unused.db', env: {} })
}

/** The topology a group's processes build: with the pipeline config file's settings when it runs with one. */
export function groupTopology (group: StageGroup, configFile = PIPELINE_CONFIG_FILE): Topology {
  return topologyOf(group.topology, group.pipelineConfig ? pipelineOptions(configFile) : DEFAULT_PIPELINE_OPTIONS)
}

/**
 * What is wrong with running `group` with `configFile` (empty: nothing): a stage the file's
 * settings leave out of the topology (`synthq run` would refuse its `--stage`), or an
 * `llm.stages` entry for a stage the group does not run (`synthq run` refuses those too: the
 * file is read only by the groups that mount it).
 */
export function pipelineConfigProblems (group: StageGroup, configFile = PIPELINE_CONFIG_FILE): string[] {
  if (!group.pipelineConfig) return []
  const out: string[] = []
  const all = stageNames(groupTopology(group, configFile))
  for (const s of group.stages) if (!all.includes(s)) out.push(`stage group ${group.name}: ${configFile} leaves stage ${s} out of topology ${group.topology} (its stages with that file: ${all.join(', ')}); turn it on there (pipeline.responses) or drop it from the group`)
  const doc = parse(readFileSync(configFile, 'utf8')) as { llm?: { stages?: Record<string, unknown> } } | null
  for (const s of Object.keys(doc?.llm?.stages ?? {})) if (!group.stages.includes(s)) out.push(`stage group ${group.name}: ${configFile} sets llm.stages.${s}, a stage the group does not run (synthq run would refuse the file)`)
  return out
}

/** `synthq run` arguments of a group: its config file, and `--stage` flags unless it runs its whole topology. */
export function runArgs (group: StageGroup): string[] {
  const all = stageNames(groupTopology(group))
  const whole = all.length === group.stages.length && all.every((s) => group.stages.includes(s))
  return ['run', group.topology, ...(group.pipelineConfig ? ['--config', PIPELINE_CONFIG_PATH] : []), ...(whole ? [] : group.stages.flatMap((s) => ['--stage', s]))]
}

export interface LagSource {
  stage: string
  /** The stage's consumer group (src/runtime/kafka/kafka-runner.ts). */
  consumerGroup: string
  /** The stage's input topic. */
  topic: string
}

/** What a group's lag is measured on: each stage's consumer group on its input topic. */
export function lagSources (group: StageGroup, prefix = DEFAULT_TOPIC_PREFIX): LagSource[] {
  const t = groupTopology(group)
  return group.stages.map((stage) => {
    const spec = [...t.stages, ...t.statefulStages].find((s) => s.name === stage)
    if (!spec) throw new Error(`stage group ${group.name}: topology ${group.topology} has no stage ${stage}`)
    return { stage, consumerGroup: `${prefix}.${stage}`, topic: topicName(spec.input, prefix) }
  })
}

/** The Deployment / Compose service of a group. */
export function workloadName (group: StageGroup): string {
  return `synthq-${group.name}`
}
