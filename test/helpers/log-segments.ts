/**
 * Reads a topic's log segment on the local broker's disk with Kafka's own DumpLogSegments tool,
 * to check what really reached the broker (e.g. the compression codec of each batch).
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { readState } from '../../deploy/local/lib/cluster.ts'
import { ensureKafka } from '../../deploy/local/lib/fetch.ts'
import { findJava } from '../../deploy/local/lib/java.ts'

/** The `compresscodec` of every record batch in partition `partition` of `topic` (node 1). */
export function batchCodecs (topic: string, partition = 0): string[] {
  const state = readState()
  if (!state) throw new Error('no local infrastructure state: run through `npm test`')
  const dir = join(state.kafka.nodes[0]!.dataDir, 'log', `${topic}-${partition}`)
  const segments = readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => join(dir, f))
  const java = findJava(17, 'DumpLogSegments')
  const r = spawnSync(java.bin, ['-Xmx128m', '-cp', `${ensureKafka()}/*`, 'org.apache.kafka.tools.DumpLogSegments', '--files', segments.join(',')], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`DumpLogSegments failed: ${r.stderr}`)
  return [...r.stdout.matchAll(/compresscodec: (\w+)/g)].map((m) => m[1]!.toLowerCase())
}
