/**
 * `synthq:runner:state` and `synthq:stage:halted` as both runners publish them: a runner's
 * start and stop, and a stage that stopped taking records for good. Built only while someone
 * listens (readiness and liveness do, src/metrics/health.ts), like every synthq channel.
 */
import { lifecycleChannels, publish, type RunnerName, type RunnerStage, type RunnerState } from '../diagnostics/channels.ts'
import { topicName } from '../topics.ts'
import type { Topology } from '../topologies/topology.ts'

/** The stages a runner of `topology` runs (`only`: those it was told to run), as the channel names them. */
export function runnerStages (topology: Topology, prefix: string, only?: readonly string[]): RunnerStage[] {
  const picked = (name: string): boolean => !only || only.includes(name)
  return [
    ...topology.statefulStages.filter((s) => picked(s.name)).map((s) => ({ stage: s.name, group: `${prefix}.${s.name}`, topic: topicName(s.input, prefix), stateful: true })),
    ...topology.stages.filter((s) => picked(s.name)).map((s) => ({ stage: s.name, group: `${prefix}.${s.name}`, topic: topicName(s.input, prefix), stateful: false })),
  ]
}

export interface RunnerIdentity {
  runner: RunnerName
  runId: string
  topology: Topology
  prefix: string
  stages?: readonly string[] | undefined
}

/** A runner changed state; `err` says why a start failed. */
export function publishRunnerState (who: RunnerIdentity, state: RunnerState, err?: unknown): void {
  publish(lifecycleChannels.runnerState, () => ({
    runner: who.runner, runId: who.runId, topology: who.topology.name, state,
    stages: runnerStages(who.topology, who.prefix, who.stages),
    ...(err !== undefined ? { error: (err as Error)?.message ?? String(err) } : {}),
  }))
}

/** The code an error goes by: a SynthqError's (or any error's string `code`), else its class name. */
function codeOf (err: Error): string {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && code !== '' ? code : err.name
}

/** A stage halted: it takes no more records, and its process is told to stop. */
export function publishStageHalted (stage: { stage: string, topology: string, runner: RunnerName, runId: string }, err: Error): void {
  publish(lifecycleChannels.stageHalted, () => ({ ...stage, code: codeOf(err), error: err.message }))
}
