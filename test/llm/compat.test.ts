/**
 * Servers that implement less of the OpenAI API than OpenAI does: no `json_schema` response
 * format (older llama.cpp and TGI builds answer 400), no `usage` in the response. A small proxy
 * in front of the simulator plays such a server.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'

let sim: LlmSim
let proxy: Server
let proxyUrl: string
let mode: 'no-json-schema' | 'no-usage' = 'no-json-schema'
const seenFormats: string[] = []

before(async () => {
  sim = await startLlmSim()
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        const body = raw ? JSON.parse(raw) as { response_format?: { type: string } } : {}
        if (req.url?.endsWith('/chat/completions')) seenFormats.push(body.response_format?.type ?? 'none')
        if (mode === 'no-json-schema' && body.response_format?.type === 'json_schema') {
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: "response_format type 'json_schema' is not supported", type: 'invalid_request_error' } }))
          return
        }
        const upstream = await fetch(`${sim.url}${req.url!.replace(/^\/v1/, '')}`, { method: req.method ?? 'GET', headers: { 'content-type': 'application/json' }, ...(raw ? { body: raw } : {}) })
        const json = await upstream.json() as Record<string, unknown>
        if (mode === 'no-usage') delete json.usage
        res.writeHead(upstream.status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(json))
      })()
    })
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v1`
})
after(async () => {
  await new Promise((resolve) => proxy.close(resolve))
  await sim.close()
})

const SCHEMA = { type: 'object', required: ['keywords'], properties: { keywords: { type: 'array', items: { type: 'string' }, minItems: 1 } } }

function llm (logLines?: string[]): LlmClient {
  const settings = resolveLlmSettings({ stages: ['concepts'], env: { SYNTHQ_LLM_BASE_URL: proxyUrl, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'sim-chat-8b', SYNTHQ_LLM_CACHE: 'false' } })
  const sink = new Writable({ write (c, _e, cb) { logLines?.push(String(c)); cb() } })
  return new LlmClient({ settings, logger: createLogger({ level: 'warn' }, sink) })
}

test('an endpoint that refuses response_format json_schema: the client falls back and says so once', async () => {
  mode = 'no-json-schema'
  seenFormats.length = 0
  const lines: string[] = []
  const client = llm(lines)
  try {
    const a = await client.stage('concepts').json<{ keywords: string[] }>({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Kelp forests and sea otters' }], schema: SCHEMA })
    assert.ok(a.value.keywords.length > 0)
    await client.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Glacier retreat in the Alps' }], schema: SCHEMA })
    assert.deepEqual(seenFormats, ['json_schema', 'json_object', 'json_object'], 'one refusal, then JSON mode with the schema in the prompt')
    assert.equal(lines.filter((l) => l.includes('falling back to json_object')).length, 1)
  } finally {
    await client.close()
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
