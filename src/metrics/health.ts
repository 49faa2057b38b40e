/**
 * Liveness and readiness of a `synthq run` / `synthq start` process — what `GET /healthz` and
 * `GET /readyz` answer (docs/metrics.md, "Liveness and readiness") — derived only from the
 * diagnostics channels (src/diagnostics/channels.ts): the runners' `synthq:runner:state`,
 * `synthq:stage:halted`, and on Kafka each stage's `synthq:kafka:rebalance`,
 * `synthq:kafka:partition` and its consumer's bridged KafkaJS events on `synthq:kafka:client`.
 * No runner calls it and it imports nothing of the runtime's: it subscribes when made, so make
 * it before the runners start.
 *
 * - **Live** unless a runner's start failed for good or a stage halted (a reason a retry does not
 *   fix). Kafka being unreachable, a rebalance, a stop: all live.
 * - **Ready** while every runner seen has started and is not stopping, and every stage is ready:
 *   on the embedded runner, always once started; on Kafka, its consumer connected, in its group
 *   with its assignment (no rebalance in progress), none of its partitions fenced or still
 *   starting. A member the group gave **no partition** (more members than partitions) is ready,
 *   as a `standby`: see docs/metrics.md for why.
 *
 * Stages on Kafka are told apart by consumer group (`<prefix>.<stage>`): one process runs a stage
 * of a pipeline once, as `synthq run` does.
 */
import { subscribe, type KafkaClientMessage, type KafkaPartitionMessage, type KafkaRebalanceMessage, type RunnerName, type RunnerStage, type RunnerState, type RunnerStateMessage, type StageHaltedMessage } from '../diagnostics/channels.ts'

/** A stage's state as /readyz reports it. `assigned` and `standby` are ready. */
export type StageHealthState =
  | 'starting' // the runner is starting; the stage's consumer has not connected yet
  | 'joining' // connected, waiting for the group's assignment
  | 'rebalancing' // the group is rebalancing: this member waits for its new assignment
  | 'disconnected' // its consumer left or lost Kafka (KafkaJS reconnects it and it joins again)
  | 'fenced' // a newer producer took a partition this member held; waiting for the group to reassign it
  | 'initializing' // a partition is starting: fencing earlier producers, reading its committed offset
  | 'assigned' // in its group, holding partitions: ready
  | 'standby' // in its group with no partition (more members than partitions): ready
  | 'running' // embedded runner: started
  | 'halted' // stopped taking records for good (see synthq:stage:halted)
  | 'stopping' // the runner drains records in flight and commits
  | 'stopped'
  | 'failed' // the runner's start failed for good

export interface StageHealth {
  stage: string
  topology: string
  runner: RunnerName
  state: StageHealthState
  ready: boolean
  /** Partitions of its input this member holds (the embedded runner's one log partition: 1 while running). */
  partitions: number
  /** Why it is not ready, or what a ready `standby` means. */
  reason?: string
}

export interface Readiness {
  status: 'ready' | 'not ready'
  ready: boolean
  runners: Array<{ topology: string, runner: RunnerName, state: RunnerState }>
  stages: StageHealth[]
  /** Why not ready when no stage says (no runner has started yet). */
  reason?: string
}

export interface Liveness {
  status: 'ok' | 'failed'
  live: boolean
  /** Why not live: the halted stages and failed starts, their errors scrubbed and cut short. */
  reason?: string
}

interface StageView extends RunnerStage {
  connected: boolean
  /** It connected at least once (a consumer not connected since is `starting`, else `disconnected`). */
  everConnected: boolean
  /** It got an assignment since it last (re)connected or heard of a rebalance. */
  joined: boolean
  rebalancing: boolean
  partitions: number[]
  /** Partitions not `started` yet, or fenced. */
  pending: Map<number, 'starting' | 'fenced'>
  halted?: { code: string, error: string }
}

interface RunnerView {
  runner: RunnerName
  runId: string
  topology: string
  state: RunnerState
  /** Its start failed for good (stays true through the stop that follows). */
  failed?: string
  stages: Map<string, StageView>
}

/** How much of an error's message liveness quotes. */
const REASON_CHARS = 200

/**
 * An error message fit for an unauthenticated endpoint: credentials in URLs, bearer tokens and
 * key-like query parameters or fields are replaced, and it is cut to `max` characters.
 */
export function scrubReason (text: string, max = REASON_CHARS): string {
  const out = text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+(?::[^/\s@]*)?@/gi, '$1[redacted]@')
    .replace(/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer [redacted]')
    .replace(/\b((?:api[_-]?key|apikey|key|token|access[_-]?token|secret|password|passwd|pwd|sasl[_-]?password)["']?\s*[=:]\s*["']?)[^\s&"',;]+/gi, '$1[redacted]')
    .replace(/\bsk-[A-Za-z0-9_-]{8,}/g, '[redacted]')
    .replace(/\s+/g, ' ')
    .trim()
  return out.length > max ? `${out.slice(0, max - 1)}…` : out
}

const list = (ps: Iterable<number>): string => [...ps].sort((a, b) => a - b).join(', ')

export class Health {
  readonly #runners = new Map<string, RunnerView>()
  /** Kafka stage views by consumer group (the channels' Kafka messages name the group). */
  readonly #byGroup = new Map<string, StageView>()
  readonly #off: Array<() => void>

  constructor () {
    // A subscriber must never throw (Node reports it as an uncaught exception): a message of an
    // unexpected shape is ignored.
    const safe = <M>(f: (m: M) => void) => (m: M): void => { try { f(m) } catch { /* ignored */ } }
    this.#off = [
      subscribe('synthq:runner:state', safe((m) => this.#onRunner(m))),
      subscribe('synthq:stage:halted', safe((m) => this.#onHalted(m))),
      subscribe('synthq:kafka:rebalance', safe((m) => this.#onRebalance(m))),
      subscribe('synthq:kafka:partition', safe((m) => this.#onPartition(m))),
      subscribe('synthq:kafka:client', safe((m) => this.#onClient(m))),
    ]
  }

  /** Stops following the channels. */
  close (): void {
    for (const f of this.#off.splice(0)) f()
  }

  #onRunner (m: RunnerStateMessage): void {
    let r = this.#runners.get(m.runId)
    if (!r || m.state === 'starting') {
      // A (re)start: the stages as the runner names them, nothing known of their consumers yet.
      r = { runner: m.runner, runId: m.runId, topology: m.topology, state: m.state, stages: new Map() }
      for (const s of m.stages) {
        const view: StageView = { ...s, connected: false, everConnected: false, joined: false, rebalancing: false, partitions: [], pending: new Map() }
        r.stages.set(s.stage, view)
        if (m.runner === 'kafka') this.#byGroup.set(s.group, view)
      }
      this.#runners.set(m.runId, r)
    }
    r.state = m.state
    if (m.state === 'failed') r.failed = m.error ?? 'its start failed'
  }

  #onHalted (m: StageHaltedMessage): void {
    const view = this.#runners.get(m.runId)?.stages.get(m.stage)
    if (view) view.halted = { code: m.code, error: m.error }
  }

  #onRebalance (m: KafkaRebalanceMessage): void {
    const view = this.#byGroup.get(m.group)
    if (!view) return
    view.joined = true
    view.rebalancing = false
    view.partitions = [...m.partitions]
    // The group has spoken: a fenced partition either went to its new owner or is this member's
    // again (it starts it over, fencing the other in turn). Partitions it lost are released.
    for (const [p, s] of view.pending) if (s === 'fenced' || !m.partitions.includes(p)) view.pending.delete(p)
  }

  #onPartition (m: KafkaPartitionMessage): void {
    const view = this.#byGroup.get(m.group)
    if (!view) return
    if (m.state === 'starting' || m.state === 'fenced') view.pending.set(m.partition, m.state)
    else view.pending.delete(m.partition)
  }

  #onClient (m: KafkaClientMessage): void {
    if (m.client !== 'consumer' || m.table !== undefined || m.group === undefined) return
    const view = this.#byGroup.get(m.group)
    if (!view) return
    switch (m.event) {
      case 'consumer.connect':
        // At connect() and again when the consumer (re)starts running: an assignment follows.
        view.connected = true
        view.everConnected = true
        view.joined = false
        break
      case 'consumer.rebalancing':
        view.rebalancing = true
        break
      case 'consumer.disconnect':
      case 'consumer.stop':
      case 'consumer.crash':
        view.connected = false
        view.joined = false
        view.rebalancing = false
        view.partitions = []
        break
    }
  }

  #stageHealth (r: RunnerView, v: StageView): StageHealth {
    const base = { stage: v.stage, topology: r.topology, runner: r.runner }
    const partitions = r.runner === 'kafka' ? v.partitions.length : r.state === 'started' ? 1 : 0
    const not = (state: StageHealthState, reason: string): StageHealth => ({ ...base, state, ready: false, partitions, reason })
    if (v.halted) return not('halted', `halted (${v.halted.code}): it takes no more records; the process stops`)
    if (r.failed !== undefined) return not('failed', 'the runner\'s start failed')
    if (r.state === 'stopping') return not('stopping', 'draining: finishing records in flight, then committing')
    if (r.state === 'stopped') return not('stopped', 'the runner has stopped')
    if (r.runner === 'embedded') {
      return r.state === 'started' ? { ...base, state: 'running', ready: true, partitions } : not('starting', 'the runner is starting')
    }
    if (!v.connected) return v.everConnected ? not('disconnected', 'its consumer is not connected to Kafka; it reconnects and joins its group again') : not('starting', 'the runner is starting; its consumer has not connected yet')
    if (v.rebalancing) return not('rebalancing', 'a rebalance of its consumer group is in progress')
    if (!v.joined) return not('joining', 'its consumer is joining its group')
    const fenced = [...v.pending].filter(([, s]) => s === 'fenced').map(([p]) => p)
    if (fenced.length) return not('fenced', `partition ${list(fenced)}: a newer producer took its transactional id; waiting for the group to reassign it`)
    const starting = [...v.pending].filter(([, s]) => s === 'starting').map(([p]) => p)
    if (starting.length) return not('initializing', `partition ${list(starting)} starting: fencing earlier producers, reading its committed offset`)
    if (v.partitions.length === 0) return { ...base, state: 'standby', ready: true, partitions: 0, reason: 'in its group with no partition: the group has more members than partitions; it takes over at the next rebalance' }
    return { ...base, state: 'assigned', ready: true, partitions }
  }

  /** What GET /readyz answers: ready only when every runner has started and every stage is ready. */
  readiness (): Readiness {
    const runners = [...this.#runners.values()]
    const stages = runners.flatMap((r) => [...r.stages.values()].map((v) => this.#stageHealth(r, v)))
    const ready = runners.length > 0 && runners.every((r) => r.state === 'started') && stages.every((s) => s.ready)
    const out: Readiness = { status: ready ? 'ready' : 'not ready', ready, runners: runners.map((r) => ({ topology: r.topology, runner: r.runner, state: r.state })), stages }
    if (!runners.length) out.reason = 'no runner has started yet'
    return out
  }

  /** What GET /healthz answers: live unless a runner's start failed for good or a stage halted. */
  liveness (): Liveness {
    const reasons: string[] = []
    for (const r of this.#runners.values()) {
      if (r.failed) reasons.push(`topology ${r.topology}: its start failed: ${r.failed}`)
      for (const v of r.stages.values()) if (v.halted) reasons.push(`stage ${v.stage} halted (${v.halted.code}): ${v.halted.error}`)
    }
    if (!reasons.length) return { status: 'ok', live: true }
    return { status: 'failed', live: false, reason: scrubReason(reasons.join('; '), REASON_CHARS * Math.min(reasons.length, 3)) }
  }
}
