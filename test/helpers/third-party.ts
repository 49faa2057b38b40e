/**
 * Runs test/interop/confluent_client.py, the independent Confluent-format client, in the
 * interop venv. Records cross as JSON lines.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { INTEROP_DIR } from './python.ts'
import { interopPython, testInfra } from './env.ts'

export interface ThirdPartyRecord {
  key: string | null
  value: unknown
  partition: number
  offset: number
  schema_id: number | null
}

/** Buffers cross the JSON boundary as {"$bytes": base64}, as confluent_client.py expects. */
export function bytesToJson (v: unknown): unknown {
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('base64') }
  if (Array.isArray(v)) return v.map(bytesToJson)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytesToJson(x)]))
  return v
}

function run (args: string[], stdin: string): Promise<string> {
  const infra = testInfra()
  const child = spawn(interopPython(), [join(INTEROP_DIR, 'confluent_client.py'), ...args, '--bootstrap', infra.bootstrap.join(','), '--registry', infra.registryUrl], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  child.stdin.end(stdin)
  // The client bounds its own waits; this is the backstop that turns a hang into a failure.
  const timer = setTimeout(() => { err += '\n(killed after 100 s)'; child.kill('SIGKILL') }, 100_000)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`confluent_client.py ${args.join(' ')} exited ${code}:\n${err}${out}`))
    })
  })
}

/** Sends records with Confluent's Python producer (Avro via its AvroSerializer unless raw). */
export async function thirdPartyProduce (topic: string, records: Array<{ key: string, value: unknown }>, opts: { schemaFile?: string, compression?: string } = {}): Promise<void> {
  const args = ['produce', '--topic', topic, ...(opts.schemaFile ? ['--schema-file', opts.schemaFile] : ['--raw']), '--compression', opts.compression ?? 'none']
  await run(args, records.map((r) => JSON.stringify(bytesToJson(r))).join('\n') + '\n')
}

/** Reads `count` records with Confluent's Python consumer (Avro via its AvroDeserializer unless raw). */
export async function thirdPartyConsume (topic: string, count: number, opts: { raw?: boolean } = {}): Promise<ThirdPartyRecord[]> {
  const args = ['consume', '--topic', topic, '--count', String(count), ...(opts.raw ? ['--raw'] : [])]
  // Reading is idempotent (a fresh consumer group each time), so a client that stalled past its
  // deadline (its traceback is in the error) gets one more try before the test fails.
  const out = await run(args, '').catch(async (err: Error) => {
    if (!/Timeout \(|killed after/.test(err.message)) throw err
    process.stderr.write(`third-party consumer stalled; retrying once:\n${err.message}\n`)
    return run(args, '')
  })
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ThirdPartyRecord)
}
