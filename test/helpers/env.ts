/**
 * What a test needs to reach the infrastructure `npm test` started. Running a test file alone
 * (`node --import tsx --test test/x.test.ts`) works too after `npm run infra:up`: the addresses
 * then come from the infrastructure's state file.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { readState } from '../../deploy/local/lib/cluster.ts'
import { ensureInteropPython } from './python.ts'

export interface TestInfra {
  bootstrap: string[]
  registryUrl: string
}

/**
 * The unit tier (`npm run test:unit`, test/tiers.ts) runs with no server: reaching for one there
 * is an error in the tier, not a reason to use a broker that happens to be up.
 */
function refuseInUnitTier (what: string): void {
  if (process.env.SYNTHQ_TEST_TIER === 'unit') {
    throw new Error(`${what} in the unit tier: this test needs a server, so list it in FULL_ONLY in test/tiers.ts (npm test runs it with the infrastructure)`)
  }
}

/**
 * How many of `full` real documents a property test takes: all of them in `npm test`, a third in
 * the unit tier, which must stay within its minute on two cores. The same checks, on fewer texts.
 */
export function realDataSample (full: number): number {
  return process.env.SYNTHQ_TEST_TIER === 'unit' ? Math.ceil(full / 3) : full
}

export function testInfra (): TestInfra {
  refuseInUnitTier('Kafka and the schema registry were asked for')
  const b = process.env.SYNTHQ_TEST_BOOTSTRAP
  const r = process.env.SYNTHQ_TEST_REGISTRY_URL
  if (b && r) return { bootstrap: b.split(','), registryUrl: r }
  const state = readState()
  if (!state) throw new Error('No Kafka/registry for tests: run them with `npm test`, or `npm run infra:up` first.')
  return { bootstrap: state.kafka.bootstrap, registryUrl: state.registry.url }
}

export function interopPython (): string {
  refuseInUnitTier('The Python interop environment was asked for')
  return process.env.SYNTHQ_TEST_PYTHON ?? ensureInteropPython()
}

/** A name no other test (or earlier run) used: topics and groups are never shared. */
export function unique (prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

/** Where tests keep files and the data of brokers they start; `npm test` stops any process
 * whose pid file is left here and deletes the folder when the run ends. */
export const TEST_TMP_ROOT = join(REPO_ROOT, '.synthq', 'test-tmp')

export function testTmpDir (name: string): string {
  mkdirSync(TEST_TMP_ROOT, { recursive: true })
  return mkdtempSync(join(TEST_TMP_ROOT, `${name}-`))
}
