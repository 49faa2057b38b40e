import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import OpenAI, { AuthenticationError } from 'openai'
import { REPO_ROOT } from '../../../deploy/local/lib/paths.ts'
import { runLlmSim } from '../../../src/llm/sim/cli.ts'

const RUN = "import('./src/llm/sim/cli.ts').then(async (m) => { process.exitCode = await m.runLlmSim(process.argv.slice(1)) })"

function start (args: string[], env: Record<string, string> = {}): { child: ChildProcess, output: () => string, url: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', RUN, '--', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /^(http:\/\/\S+\/v1)$/m.exec(out)
      if (m && out.includes('Ctrl-C to stop')) resolve(m[1]!)
    })
    child.once('exit', (code) => reject(new Error(`llm-sim exited with ${code}: ${out}`)))
  })
  url.catch(() => { /* only awaited by tests that expect the server to come up */ })
  return { child, output: () => out, url }
}

test('synthq llm-sim serves until SIGTERM, says it is a simulator, reads the key from the environment', async () => {
  const secret = 'sk-from-env-5d8a'
  const { child, output, url } = start(['--port', '0', '--profile', 'h100-8b', '--time-scale', '0.01', '--api-key-env', 'SIM_TEST_KEY', '--fault-rate', 'server_error=0', '--models', 'sim-a,sim-embed-b'], { SIM_TEST_KEY: secret })
  try {
    const base = await url
    assert.match(output(), /SIMULATOR/)
    assert.match(output(), /model names start with "sim-"/)
    assert.ok(!output().includes(secret), 'the key was printed')
    const client = new OpenAI({ baseURL: base, apiKey: secret, maxRetries: 0 })
    const r = await client.chat.completions.create({ model: 'sim-a', messages: [{ role: 'user', content: 'The Moon formed in a collision.' }] })
    assert.ok(r.choices[0]!.message.content)
    await assert.rejects(new OpenAI({ baseURL: base, apiKey: 'nope', maxRetries: 0 }).models.list(), AuthenticationError)
  } finally {
    child.kill('SIGTERM')
  }
  const [code] = await once(child, 'exit') as [number | null]
  assert.equal(code, 0)
  assert.match(output(), /SIGTERM: stopped after \d+ requests/)
})

test('--help and bad options', async () => {
  const { child, output } = start(['--help'])
  const [code] = await once(child, 'exit') as [number | null]
  assert.equal(code, 0)
  assert.match(output(), /--api-key-env NAME/)
  assert.match(output(), /h100-8b/)
  await assert.rejects(runLlmSim(['--profile', 'a100']), /--profile must be one of/)
  await assert.rejects(runLlmSim(['--fault-rate', 'meteor=0.1']), /unknown fault kind "meteor"/)
  await assert.rejects(runLlmSim(['--fault-rate', 'reset=2']), /between 0 and 1/)
  await assert.rejects(runLlmSim(['--fault-rate', 'reset=0.6', '--fault-rate', 'empty=0.6']), /more than 1/)
  await assert.rejects(runLlmSim(['--models', 'gpt-4o']), /must start with "sim-"/)
  await assert.rejects(runLlmSim(['--port', '70000']), /--port/)
  await assert.rejects(runLlmSim(['--api-key-env', 'SYNTHQ_SURELY_UNSET_VARIABLE']), /not set/)
  await assert.rejects(runLlmSim(['--api-key', 'sk-x']), /Unknown option '--api-key'/)
})
