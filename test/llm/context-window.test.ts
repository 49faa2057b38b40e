/**
 * Every request fits the served model's context: prompt + max_tokens ≤ window, the window from
 * the server's /v1/models entry where it reports one, else from the configuration. The answer's
 * room shrinks first, a prompt with no room left is refused before it is sent, and the
 * envisioning stage shrinks its demonstrations (then its document) to fit.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { LlmRejectedError } from '../../src/llm/errors.ts'
import { contextWindowOf } from '../../src/llm/server-info.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'
import { fitToContext } from '../../src/processors/situation/situation-envisioning.ts'
import { startSimProxy, type SimProxy } from '../helpers/sim-proxy.ts'

let sim: LlmSim
let proxy: SimProxy
let proxyUrl: string
/** What the proxy adds to the simulator's model entries (a server that reports its context). */
let reported: Record<string, unknown> = {}
const sent: Array<{ max_tokens?: number }> = []

before(async () => {
  sim = await startLlmSim()
  proxy = await startSimProxy(sim, {
    handle: ({ url, body }) => {
      if (url.endsWith('/chat/completions')) sent.push(body as { max_tokens?: number })
      return { forward: body }
    },
    reply: ({ url }, json) => url.endsWith('/models') ? { ...json, data: (json.data as Array<Record<string, unknown>>).map((m) => ({ ...m, ...reported })) } : json,
  })
  proxyUrl = proxy.url
})
after(async () => {
  await proxy.close()
  await sim.close()
})

const SCHEMA = { type: 'object', required: ['keywords'], properties: { keywords: { type: 'array', items: { type: 'string' }, minItems: 1 } } }

function client (env: Record<string, string> = {}): LlmClient {
  const settings = resolveLlmSettings({ stages: ['concepts'], env: { SYNTHQ_LLM_BASE_URL: proxyUrl, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'sim-chat-8b', SYNTHQ_LLM_CACHE: 'false', SYNTHQ_LLM_STRUCTURED_OUTPUTS: 'json_schema', SYNTHQ_LLM_MAX_TOKENS: '2048', ...env } })
  return new LlmClient({ settings, logger: createLogger({ level: 'silent' }) })
}

test('the context window under each server\'s name for it', () => {
  assert.equal(contextWindowOf({ id: 'm', max_model_len: 32768 }), 32768, 'vLLM, SGLang')
  assert.equal(contextWindowOf({ id: 'm', context_length: 4096 }), 4096)
  assert.equal(contextWindowOf({ id: 'm', meta: { n_ctx_train: 8192 } }), 8192, 'llama.cpp')
  assert.equal(contextWindowOf({ id: 'm', meta: { n_ctx: 4096, n_ctx_train: 8192 } }), 4096, 'the served context before the trained one')
  assert.equal(contextWindowOf({ id: 'm', object: 'model', owned_by: 'openai' }), undefined)
  assert.equal(contextWindowOf({ id: 'm', max_model_len: -1 }), undefined)
})

test('a window the server reports at preflight caps max_tokens so prompt + answer fit', async () => {
  reported = { max_model_len: 1024 }
  sent.length = 0
  const c = client()
  try {
    await c.preflight({ probe: false })
    assert.equal(c.stage('concepts').contextWindow, 1024)
    await c.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Kelp forests and sea otters. '.repeat(40) }], schema: SCHEMA })
    const maxTokens = sent[0]?.max_tokens ?? 0
    assert.ok(maxTokens < 2048 && maxTokens >= 128, `max_tokens lowered below the stage's 2048, got ${maxTokens}`)
    assert.ok(maxTokens <= 1024 - 300, `room left for a prompt of ~300+ tokens, got ${maxTokens}`)
  } finally {
    await c.close()
    reported = {}
  }
})

test('a configured window applies where the server says none; a prompt that leaves no room is refused unsent', async () => {
  sent.length = 0
  const c = client({ SYNTHQ_LLM_CONTEXT_WINDOW: '512' })
  try {
    await c.preflight({ probe: false })
    assert.equal(c.stage('concepts').contextWindow, 512)
    await assert.rejects(
      c.stage('concepts').json({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Glacier retreat in the Alps. '.repeat(80) }], schema: SCHEMA }),
      (e: unknown) => e instanceof LlmRejectedError && /leaves no room for an answer in the 512-token context of sim-chat-8b/.test(e.message),
    )
    assert.equal(sent.length, 0, 'nothing was sent')
  } finally {
    await c.close()
  }
})

test('envisioning fits its prompt: demonstrations give way first, then the document', () => {
  const none = fitToContext({ promptTokens: 7500, documentTokens: 4096, fixedTokens: 600, maxTokens: 2048, contextWindow: undefined })
  assert.deepEqual(none, { promptTokens: 7500, documentTokens: 4096, demonstrationTokens: 2804 })
  const big = fitToContext({ promptTokens: 7500, documentTokens: 4096, fixedTokens: 600, maxTokens: 2048, contextWindow: 131072 })
  assert.deepEqual(big, none, 'a large window changes nothing')
  const small = fitToContext({ promptTokens: 7500, documentTokens: 4096, fixedTokens: 600, maxTokens: 2048, contextWindow: 8192 })
  assert.ok(small.promptTokens + 2048 <= 8192, 'prompt + answer fit')
  assert.equal(small.documentTokens, 4096, 'the document is kept whole')
  assert.ok(small.demonstrationTokens < none.demonstrationTokens && small.demonstrationTokens > 0, 'fewer demonstrations')
  const tiny = fitToContext({ promptTokens: 7500, documentTokens: 4096, fixedTokens: 600, maxTokens: 1024, contextWindow: 4096 })
  assert.equal(tiny.demonstrationTokens, 0)
  assert.ok(tiny.documentTokens < 4096 && tiny.documentTokens + 600 + 1024 <= 4096, 'then the document is cut')
})
