/**
 * Runs `synthq ingest` in-process (runIngest) with captured stdout/stderr and an injectable
 * stdin, and reads back what it wrote to an embedded database or a rejects file.
 */
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { runIngest } from '../../src/cli/ingest.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { testLogger } from '../helpers/kafka.ts'

export interface IngestRun {
  code: number
  stdout: string
  stderr: string
}

export async function ingest (args: string[], opts: { db?: string, stdin?: Readable | string | Buffer, env?: NodeJS.ProcessEnv } = {}): Promise<IngestRun> {
  let stdout = ''
  let stderr = ''
  const stdin = opts.stdin === undefined ? Readable.from([]) : opts.stdin instanceof Readable ? opts.stdin : Readable.from([Buffer.from(opts.stdin)])
  const code = await runIngest(args, { db: opts.db ?? ':memory:' }, testLogger(), {
    stdin,
    stdout: { write: (s: string) => { stdout += s } },
    stderr: { write: (s: string) => { stderr += s }, isTTY: false },
    ...(opts.env ? { env: opts.env } : {}),
  })
  return { code, stdout, stderr }
}

export interface RejectRow { source: string, line: number, position: string, reason: string, raw: string, raw_encoding: 'utf8' | 'base64', raw_bytes: number, raw_truncated: boolean }

export function readRejects (file: string): RejectRow[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as RejectRow)
}

/** Every record of a topic in an embedded database, decoded. */
export async function readTopic<T = Record<string, unknown>> (db: string, topic: string): Promise<Array<{ key: string | null, value: T }>> {
  const log = new EmbeddedLog(db)
  try {
    const serde = new AvroSerde(new EmbeddedRegistry(log.db, db), SchemaCatalog.load(), { prefix: topic.split('.')[0]! })
    const out = []
    for (const r of log.scan(topic)) out.push({ key: r.key, value: (await serde.decodeAny(r.value!)).value as T })
    return out
  } finally {
    log.close()
  }
}

export const REPO_DATA = join(import.meta.dirname, '..', '..', 'data')
export const SHARED_DATA = process.env.SYNTHQ_SHARED_DATA ?? '/work/shared/data'

/** The first n lines of a file (real data for a fixture). */
export function headLines (file: string, n: number): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(0, n)
}
