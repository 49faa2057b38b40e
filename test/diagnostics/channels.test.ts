/**
 * The channel module itself, without a runner: messages are built only while someone listens,
 * and subscribe() gives back what unsubscribes.
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { test } from 'node:test'
import { channels, publish, publishLlmRequest, subscribe, type ChannelName, type LlmRequestMessage } from '../../src/diagnostics/channels.ts'

const llmMessage: LlmRequestMessage = { stage: 'scoring', model: 'sim-chat-8b', endpoint: 'sim', kind: 'chat', status: 'ok', attempts: 1, latencyMs: 12, promptTokens: 100, completionTokens: 20, simulated: true }

test('without subscribers a message factory is not called; with one it is called once per publish', (t) => {
  const build = t.mock.fn(() => llmMessage)
  assert.equal(channels.llmRequest.hasSubscribers, false)
  publish(channels.llmRequest, build)
  publishLlmRequest(build)
  assert.equal(build.mock.callCount(), 0, 'nothing is built for nobody')

  const seen: LlmRequestMessage[] = []
  const unsubscribe = subscribe('synthq:llm:request', (m) => seen.push(m))
  publishLlmRequest(build)
  assert.equal(build.mock.callCount(), 1)
  assert.deepEqual(seen, [llmMessage])

  unsubscribe()
  assert.equal(channels.llmRequest.hasSubscribers, false, 'unsubscribe() leaves the channel without subscribers')
  publishLlmRequest(build)
  assert.equal(build.mock.callCount(), 1)
})

test('the channels are the named node:diagnostics_channel channels, so plain subscribers see them', () => {
  const names: Record<keyof typeof channels, ChannelName> = {
    stageRecord: 'synthq:stage:record', kafkaRebalance: 'synthq:kafka:rebalance', kafkaCommit: 'synthq:kafka:commit',
    kafkaAbort: 'synthq:kafka:abort', kafkaClient: 'synthq:kafka:client', llmRequest: 'synthq:llm:request',
  }
  for (const [key, name] of Object.entries(names)) {
    const ch = channels[key as keyof typeof channels]
    assert.equal(ch.name, name)
    assert.equal(ch, diagnosticsChannel.channel(name), `${name} is Node's channel of that name`)
  }
  const seen: unknown[] = []
  const listener = (m: unknown): void => { seen.push(m) }
  diagnosticsChannel.subscribe('synthq:llm:request', listener)
  try {
    publishLlmRequest(() => llmMessage)
  } finally {
    diagnosticsChannel.unsubscribe('synthq:llm:request', listener)
  }
  assert.deepEqual(seen, [llmMessage])
})
