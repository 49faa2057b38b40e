/**
 * `synthq llm check <topology>`: every LLM stage's endpoint and model checked, and each endpoint's
 * structured-output dialect found with one tiny request per dialect, in the server's own words.
 * Against the simulator (an OpenAI-shaped server) and against a proxy that plays a server taking
 * no structured-output field at all and silently ignoring the ones it does not know.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { startSimProxy, type SimProxy } from '../helpers/sim-proxy.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
let sim: LlmSim
let ignoring: SimProxy

before(async () => {
  sim = await startLlmSim()
  // Drops every structured-output field before the simulator sees it, as a server that ignores unknown fields would.
  ignoring = await startSimProxy(sim, {
    handle: ({ body }) => {
      if (!body) return { forward: body }
      const { response_format: _rf, guided_json: _gj, ...rest } = body
      return { forward: rest }
    },
  })
})
after(async () => {
  await ignoring.close()
  await sim.close()
})

async function check (baseUrl: string, logLevel = 'error'): Promise<{ code: number | null, out: string, err: string }> {
  const child = spawn(process.execPath, [CLI, 'llm', 'check', 'synthesis'], {
    env: { ...process.env, SYNTHQ_LLM_BASE_URL: baseUrl, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'sim-chat-8b', SYNTHQ_LOG_LEVEL: logLevel },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  return { code, out, err }
}

test('an OpenAI-shaped server: every stage ok, structured outputs as json_schema on the first try', async () => {
  const r = await check(sim.url)
  assert.equal(r.code, 0, r.err)
  for (const stage of ['situation-envisioning', 'instruction-generation', 'scoring']) assert.match(r.out, new RegExp(`^${stage} .*model sim-chat-8b.* ok$`, 'm'))
  assert.match(r.out, /^endpoint env .* structured outputs: json_schema \(constrained\) — json_schema ok$/m)
})

test('a server that ignores structured-output fields: each constrained dialect is caught as ignored, the schema goes in the prompt', async () => {
  const r = await check(ignoring.url, 'warn')
  assert.equal(r.code, 0, r.err)
  const line = r.out.split('\n').find((l) => l.startsWith('endpoint env'))
  assert.ok(line, r.out)
  // Said once, on stdout: the probe's own warning is not logged as well.
  assert.doesNotMatch(r.out + r.err, /structured outputs as |structured-output probe/, r.out + r.err)
  assert.match(line, /structured outputs: json_object \(not enforced by the server/)
  for (const d of ['json_schema', 'json_object_schema', 'guided_json', 'tgi']) assert.match(line, new RegExp(`${d} ignored`), `${d} is not trusted because the server accepted it`)
})

test('a server that is down: the check fails naming the endpoint and the setting', async () => {
  const r = await check('http://127.0.0.1:9/v1')
  assert.notEqual(r.code, 0)
  assert.match(r.err, /SYNTHQ_LLM_BASE_URL/)
  assert.match(r.err, /not reachable/)
})
