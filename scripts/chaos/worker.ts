/**
 * One chaos worker: `synthq <args>` (e.g. `run synthesis --runner kafka --stage scoring`) with
 * the test settings of kafka-runner-shim.ts applied to its Kafka runner.
 *
 *   node --import tsx scripts/chaos/worker.ts run attribution --runner kafka --prefix chaos …
 */
import { register } from 'node:module'

register('./hooks.mjs', import.meta.url)
await import('../../src/cli/main.ts')
