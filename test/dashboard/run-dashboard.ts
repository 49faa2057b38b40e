/**
 * `synthq dashboard` as its own process, for the browser test: the same runDashboard the
 * command line calls, with the command line's logger (warnings to stderr).
 *
 *   node --import tsx test/dashboard/run-dashboard.ts --port 0 --db FILE
 */
import { pino } from 'pino'
import { runDashboard } from '../../src/cli/dashboard.ts'
import { defaultDbPath } from '../../src/cli/run.ts'
import { createLogger } from '../../src/log.ts'

runDashboard(process.argv.slice(2), { db: defaultDbPath() }, createLogger({ level: process.env.SYNTHQ_LOG_LEVEL || 'warn' }, pino.destination(2))).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`synthq: ${(err as Error).message}\n`)
  process.exitCode = 1
})
