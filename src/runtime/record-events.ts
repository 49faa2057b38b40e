/**
 * `synthq:stage:record` as both runners publish it: where a stage counts a record as finished
 * (processed, filtered, dead-lettered or skipped), the same place its stats() count it, so a
 * subscriber sees exactly the records the runner reports. Checked with `hasSubscribers` before
 * anything is built: with nobody listening, a record costs one property read here.
 */
import { channels, type RecordOutcome, type RunnerName } from '../diagnostics/channels.ts'
import type { Outcome, RawRecord, StageEngine } from './stage-engine.ts'

/** What a record's outcome was, as the channel names it. */
export function outcomeOf (o: Outcome): RecordOutcome {
  if (o.deadLettered) return 'deadLettered'
  return o.outputs.length > 0 ? 'processed' : 'filtered'
}

/**
 * A record of `engine`'s stage finished with `outcome` (undefined: skipped, it was done before),
 * `startedAt` being performance.now() when it started.
 */
export function recordFinished (engine: StageEngine, runner: RunnerName, raw: Pick<RawRecord, 'partition' | 'offset'>, outcome: Outcome | undefined, startedAt = 0): void {
  if (!channels.stageRecord.hasSubscribers) return
  channels.stageRecord.publish({
    stage: engine.stage.name,
    topology: engine.topology,
    runner,
    runId: engine.runId,
    topic: engine.inputTopic,
    partition: raw.partition,
    offset: raw.offset,
    outcome: outcome ? outcomeOf(outcome) : 'skipped',
    outputs: outcome?.outputs.length ?? 0,
    attempts: outcome?.attempts ?? 0,
    durationMs: outcome ? performance.now() - startedAt : 0,
  })
}
