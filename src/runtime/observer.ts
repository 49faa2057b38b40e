/**
 * What a runner tells an observer about each record a stage finishes — the hook the process's
 * metrics (src/metrics/) hang on. The runtime knows nothing of Prometheus; an observer knows
 * nothing of transports.
 */
export interface StageObserver {
  /** One input record reached its outcome after `seconds`, in `attempts` tries (1 = no retry). */
  recordDone (stage: string, outcome: 'processed' | 'dead_lettered', seconds: number, attempts: number): void
}
