/**
 * Servers that implement less of the OpenAI API than OpenAI does, or another dialect of it: no
 * `json_schema` response format (older llama.cpp and TGI builds answer 400), llama-cpp-python's
 * server (it refuses `json_schema` with a 500 and constrains decoding with `json_object` +
 * `schema`), no `usage` in the response. A small proxy in front of the simulator plays such a
 * server; the simulator itself refuses what OpenAI refuses (unknown parameters).
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'
import { requestShape, startSimProxy, type SimProxy } from '../helpers/sim-proxy.ts'

let sim: LlmSim
let proxy: SimProxy
let proxyUrl: string
let mode: 'no-json-schema' | 'llama-cpp-python' | 'no-usage' | 'cut-off' = 'no-json-schema'
const repairMessages: string[] = []
const seenFormats: string[] = []
const seenStages: string[] = []

before(async () => {
  sim = await startLlmSim()
  proxy = await startSimProxy(sim, {
    handle: ({ url, headers, body }) => {
      if (url.endsWith('/chat/completions')) {
        seenFormats.push(requestShape(body))
        seenStages.push(String(headers['x-synthq-stage']))
      }
      const rf = body?.response_format as { type: string, schema?: object } | undefined
      if (mode === 'no-json-schema' && rf?.type === 'json_schema') {
        return { answer: { status: 400, json: { error: { message: "response_format type 'json_schema' is not supported", type: 'invalid_request_error' } } } }
      }
      if (mode === 'llama-cpp-python' && url.endsWith('/chat/completions')) {
        if (rf?.type === 'json_schema') {
          // What llama-cpp-python 0.3.36's server answered here: a validation error, as HTTP 500.
          return { answer: { status: 500, json: { error: { message: "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}]", type: 'internal_server_error' } } } }
        }
        // json_object + schema: decoding constrained by a grammar — the simulator's json_schema does the same.
        if (rf?.type === 'json_object' && rf.schema) return { forward: { ...body, response_format: { type: 'json_schema', json_schema: { name: 'constrained', schema: rf.schema } } } }
      }
      return { forward: body }
    },
    reply: (_r, json) => {
      if (mode === 'no-usage') delete json.usage
      if (mode === 'cut-off') {
        const messages = (_r.body?.messages ?? []) as Array<{ role: string, content: string }>
        if (messages.length > 1) repairMessages.push(messages.at(-1)!.content)
        // The first answer stops at max_tokens after a complete nested object (as SmolLM2's
        // scoring answers did): the tolerant reader finds {"analysis": …} inside it.
        else {
          const choice = (json.choices as Array<{ message: { content: string }, finish_reason: string }>)[0]!
          choice.message.content = '{"keywords_by_kind": {"analysis": "kelp and otters", "score": 1}, "other": {"analysis": "the sea otters of Monterey Bay keep urchins'
          choice.finish_reason = 'length'
        }
      }
      return json
    },
  })
  proxyUrl = proxy.url
})
after(async () => {
  await proxy.close()
  await sim.close()
})

const SCHEMA = { type: 'object', required: ['keywords'], properties: { keywords: { type: 'array', items: { type: 'string' }, minItems: 1 } } }

function llm (logLines?: string[]): LlmClient {
  const settings = resolveLlmSettings({ stages: ['concepts'], env: { SYNTHQ_LLM_BASE_URL: proxyUrl, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'sim-chat-8b', SYNTHQ_LLM_CACHE: 'false' } })
  const sink = new Writable({ write (c, _e, cb) { logLines?.push(String(c)); cb() } })
  return new LlmClient({ settings, logger: createLogger({ level: 'warn' }, sink) })
}

test('an endpoint that refuses response_format json_schema: the client falls back dialect by dialect and says so once each', async () => {
  mode = 'no-json-schema'
  seenFormats.length = 0
  const lines: string[] = []
  const client = llm(lines)
  try {
    const a = await client.stage('concepts').json<{ keywords: string[] }>({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Kelp forests and sea otters' }], schema: SCHEMA })
    assert.ok(a.value.keywords.length > 0)
    await client.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Glacier retreat in the Alps' }], schema: SCHEMA })
    // The proxy refuses json_schema; the simulator, like OpenAI, refuses the other servers' fields.
    assert.deepEqual(seenFormats, ['json_schema', 'json_object+schema', 'guided_json', 'json_object+value', 'json_object', 'json_object'], 'one refusal per dialect, then JSON mode with the schema in the prompt')
    for (const d of ['json_schema', 'json_object_schema', 'guided_json', 'tgi']) {
      assert.equal(lines.filter((l) => l.includes(`does not take structured outputs as ${d} `)).length, 1, `said once for ${d}`)
    }
    assert.equal(client.structuredOutputs()[0]?.dialect, 'json_object')
    assert.equal(client.stats().endpoints[0]?.circuit, 'closed', 'refusals of a request shape are not an outage')
    assert.equal(client.stats().stages.concepts?.retries, 0, 'a refused shape spends none of the retries')
  } finally {
    await client.close()
  }
})

test('llama-cpp-python: json_schema refused with an HTTP 500 is a capability answer; json_object + schema is used from then on', async () => {
  mode = 'llama-cpp-python'
  seenFormats.length = 0
  seenStages.length = 0
  const lines: string[] = []
  const client = llm(lines)
  try {
    for (const topic of ['Kelp forests and sea otters', 'Glacier retreat in the Alps', 'Sourdough starters']) {
      const r = await client.stage('concepts').json<{ keywords: string[] }>({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: topic }], schema: SCHEMA })
      assert.ok(r.value.keywords.length > 0)
      assert.equal(r.repairs, 0, 'constrained decoding: valid on the first try')
    }
    assert.deepEqual(seenFormats, ['json_schema', 'json_object+schema', 'json_object+schema', 'json_object+schema'])
    assert.deepEqual(seenStages, ['concepts', 'concepts', 'concepts', 'concepts'], 'each request names its stage (X-Synthq-Stage)')
    const said = lines.filter((l) => l.includes('does not take structured outputs as json_schema'))
    assert.equal(said.length, 1)
    assert.match(said[0]!, /HTTP 500.*Input should be 'text' or 'json_object'/, 'the server\'s own words reach the user')
    assert.equal(client.stats().endpoints[0]?.circuit, 'closed')
    assert.deepEqual(client.stats().stages.concepts?.failures, {}, 'no failure counted')
  } finally {
    await client.close()
  }
})

test('the probe finds the dialect before any record: llama-cpp-python gets json_object_schema, OpenAI-shaped servers json_schema', async () => {
  mode = 'llama-cpp-python'
  seenFormats.length = 0
  seenStages.length = 0
  const client = llm()
  try {
    const [probe] = await client.probeStructuredOutputs()
    assert.equal(probe?.dialect, 'json_object_schema')
    assert.deepEqual(probe?.attempts.map((a) => `${a.dialect} ${a.outcome}`), ['json_schema refused', 'json_object_schema ok'])
    assert.equal(probe?.attempts[0]?.status, 500)
    assert.deepEqual(seenFormats, ['json_schema', 'json_object+schema'])
    assert.ok(client.usage().some((u) => u.stage === 'structured-output-probe'), 'the probe\'s tokens are in the ledger')
  } finally {
    await client.close()
  }
  const settings = resolveLlmSettings({ stages: ['concepts'], env: { SYNTHQ_LLM_BASE_URL: sim.url, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'sim-chat-8b' } })
  const direct = new LlmClient({ settings, logger: createLogger({ level: 'silent' }) })
  try {
    const [probe] = await direct.probeStructuredOutputs()
    assert.equal(probe?.dialect, 'json_schema')
    assert.deepEqual(probe?.attempts.map((a) => a.outcome), ['ok'])
  } finally {
    await direct.close()
  }
})

test('a server that sends no usage: tokens are estimated and counted as estimated', async () => {
  mode = 'no-usage'
  const client = llm()
  try {
    const r = await client.stage('concepts').json<{ keywords: string[] }>({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'A'.repeat(400) + ' tide pools' }], schema: SCHEMA })
    assert.ok(r.promptTokens >= 100, `estimated from ~400 characters, got ${r.promptTokens}`)
    assert.ok(r.completionTokens > 0)
    const [row] = client.usage()
    assert.equal(row?.estimatedRequests, 1)
  } finally {
    await client.close()
  }
})

test('an answer cut off at max_tokens is repaired as cut off, even where a complete inner object can be read from it', async () => {
  mode = 'cut-off'
  repairMessages.length = 0
  const client = llm()
  try {
    const r = await client.stage('concepts').json<{ keywords: string[] }>({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Kelp forests and sea otters' }], schema: SCHEMA })
    assert.ok(r.value.keywords.length > 0)
    assert.equal(r.repairs, 1)
    assert.equal(repairMessages.length, 1)
    assert.match(repairMessages[0]!, /cut off at the \d+-token limit/)
    assert.doesNotMatch(repairMessages[0]!, /required property/)
  } finally {
    await client.close()
  }
})
