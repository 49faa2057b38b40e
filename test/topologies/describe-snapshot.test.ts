/**
 * Snapshots of each shipped topology's description (`describe(topology)` in
 * src/topologies/topology.ts, in the spirit of Kafka Streams' TopologyDescription): a change to
 * a topology's wiring — a stage, a topic, a table — shows up as a diff here and must be accepted
 * on purpose. `synthq describe <topology>` prints the same text (test/cli/describe.test.ts).
 *
 * Update the snapshots after an intended change:
 *
 *   SYNTHQ_UPDATE_SNAPSHOTS=1 node --import tsx --test test/topologies/describe-snapshot.test.ts
 *
 * then review the diff of test/fixtures/describe/ like any other change.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import { TOPOLOGIES, topologyNames } from '../../src/topologies/registry.ts'
import { describe } from '../../src/topologies/topology.ts'

const SNAPSHOTS = fileURLToPath(new URL('../fixtures/describe/', import.meta.url))
const UPDATE = process.env.SYNTHQ_UPDATE_SNAPSHOTS === '1'

for (const name of topologyNames()) {
  test(`describe(${name}) matches its snapshot`, () => {
    // Building a topology opens nothing (processors are made by the runner), so any index path will do.
    const text = `${describe(TOPOLOGIES[name]!({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: 'unused.db', env: {} }))}\n`
    const file = join(SNAPSHOTS, `${name}.txt`)
    if (UPDATE) {
      mkdirSync(SNAPSHOTS, { recursive: true })
      writeFileSync(file, text)
      return
    }
    assert.ok(existsSync(file), `no snapshot ${file}: run with SYNTHQ_UPDATE_SNAPSHOTS=1 to write it`)
    assert.equal(text, readFileSync(file, 'utf8'), `topology ${name} changed: if intended, update with SYNTHQ_UPDATE_SNAPSHOTS=1`)
  })
}

test('every snapshot belongs to a topology (a removed topology takes its snapshot with it)', () => {
  if (UPDATE) return
  const files = existsSync(SNAPSHOTS) ? readdirSync(SNAPSHOTS) : []
  assert.deepEqual(files.sort(), topologyNames().map((n) => `${n}.txt`).sort())
})
