import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newClusterId, serverProperties } from '../../deploy/local/lib/kafka-node.ts'

test('cluster ids never start with a dash (the storage tool would read them as an option)', () => {
  for (let i = 0; i < 2000; i++) assert.match(newClusterId(), /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/)
})

test('a one-node broker sizes its internal topics to one replica; three nodes to three', () => {
  const base = { nodeId: 1, clusterId: newClusterId(), port: 1, controllerPort: 2, voters: '1@127.0.0.1:2', dataDir: '/tmp/x' }
  const one = serverProperties({ ...base, internalReplication: 1 })
  assert.match(one, /^offsets\.topic\.replication\.factor=1$/m)
  assert.match(one, /^transaction\.state\.log\.min\.isr=1$/m)
  const three = serverProperties({ ...base, internalReplication: 3 })
  assert.match(three, /^transaction\.state\.log\.replication\.factor=3$/m)
  assert.match(three, /^transaction\.state\.log\.min\.isr=2$/m)
  assert.match(three, /^auto\.create\.topics\.enable=false$/m)
})
