/**
 * Liveness and readiness without a broker: the model's transitions from synthetic channel
 * messages (a Kafka stage's consumer connecting, joining, rebalancing, standing by, fenced,
 * disconnected, halted; runners starting and stopping), and the HTTP endpoints — codes, bodies,
 * no secrets — on a real server on port 0, also over a real embedded runner.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import {
  channels, lifecycleChannels,
  type KafkaClientMessage, type KafkaPartitionMessage, type RunnerStage, type RunnerStateMessage, type StageHaltedMessage,
} from '../../src/diagnostics/channels.ts'
import { Health, scrubReason, type Readiness, type StageHealth } from '../../src/metrics/health.ts'
import { startMetricsServer } from '../../src/metrics/metrics-server.ts'
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.ts'
import { processEndpoint } from '../../src/metrics/process-endpoint.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { doc, newProbe, testTopology } from '../helpers/test-topology.ts'

const STAGES: RunnerStage[] = [
  { stage: 'situate', group: 'p.situate', topic: 'p.synthq.documents', stateful: false },
  { stage: 'sink', group: 'p.sink', topic: 'p.synthq.instructions.scored', stateful: true },
]

/** Publishes as the runtime does (the channels' own objects; Health subscribed, so they have subscribers). */
const emit = {
  runner: (runId: string, state: RunnerStateMessage['state'], o: Partial<RunnerStateMessage> = {}): void =>
    lifecycleChannels.runnerState.publish({ runner: 'kafka', runId, topology: 'synthesis', state, stages: STAGES, ...o }),
  client: (group: string, event: string, o: Partial<KafkaClientMessage> = {}): void =>
    channels.kafkaClient.publish({ event, client: 'consumer', stage: group.split('.')[1]!, group, timestamp: Date.now(), payload: {}, ...o }),
  join: (group: string, partitions: number[]): void =>
    channels.kafkaRebalance.publish({ stage: group.split('.')[1]!, group, topic: 't', memberId: 'm-1', partitions, assigned: partitions, revoked: [] }),
  partition: (group: string, partition: number, state: KafkaPartitionMessage['state'], reason = 'assigned'): void =>
    lifecycleChannels.kafkaPartition.publish({ stage: group.split('.')[1]!, group, topic: 't', runId: 'r1', partition, state, reason }),
  halted: (o: Partial<StageHaltedMessage> = {}): void =>
    lifecycleChannels.stageHalted.publish({ stage: 'situate', topology: 'synthesis', runner: 'kafka', runId: 'r1', code: 'SYNTHQ_INFRA_UNAVAILABLE', error: 'gone', ...o }),
}

const stage = (h: Health, name: string): StageHealth => {
  const s = h.readiness().stages.find((x) => x.stage === name)
  assert.ok(s, `stage ${name} in ${JSON.stringify(h.readiness())}`)
  return s
}

/** Both stages of runner r1 in their group with these partitions. */
function joined (partitions: { situate: number[], sink: number[] }): void {
  emit.client('p.situate', 'consumer.connect')
  emit.client('p.sink', 'consumer.connect')
  emit.join('p.situate', partitions.situate)
  emit.join('p.sink', partitions.sink)
}

describe('the readiness model', () => {
  test('with no runner yet: live, not ready, and it says why', (t) => {
    const h = new Health()
    t.after(() => h.close())
    assert.deepEqual(h.liveness(), { status: 'ok', live: true })
    const r = h.readiness()
    assert.equal(r.ready, false)
    assert.equal(r.status, 'not ready')
    assert.match(r.reason ?? '', /no runner/)
  })

  test('Kafka: starting → joining → assigned, ready only once the runner has started', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    assert.equal(stage(h, 'situate').state, 'starting')
    emit.client('p.situate', 'consumer.connect')
    assert.equal(stage(h, 'situate').state, 'joining')
    emit.join('p.situate', [0, 2])
    assert.deepEqual(stage(h, 'situate'), { stage: 'situate', topology: 'synthesis', runner: 'kafka', state: 'assigned', ready: true, partitions: 2 })
    assert.equal(h.readiness().ready, false, 'the sink has not joined and the runner is starting')
    emit.client('p.sink', 'consumer.connect')
    emit.join('p.sink', [0])
    assert.equal(h.readiness().ready, false, 'every stage joined, but the runner is still starting')
    emit.runner('r1', 'started')
    const r = h.readiness()
    assert.equal(r.ready, true, JSON.stringify(r))
    assert.equal(r.status, 'ready')
    assert.deepEqual(r.runners, [{ topology: 'synthesis', runner: 'kafka', state: 'started' }])
    assert.deepEqual(h.liveness(), { status: 'ok', live: true })
  })

  test('a rebalance, a partition starting, a disconnect: not ready until the member is back in its group', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    joined({ situate: [0, 1], sink: [0] })
    emit.runner('r1', 'started')
    assert.equal(h.readiness().ready, true)

    emit.client('p.situate', 'consumer.rebalancing', { payload: { groupId: 'p.situate', memberId: 'm-1' } })
    assert.equal(stage(h, 'situate').state, 'rebalancing')
    assert.equal(h.readiness().ready, false)
    emit.join('p.situate', [1])
    assert.equal(stage(h, 'situate').state, 'assigned')
    assert.equal(stage(h, 'situate').partitions, 1)
    assert.equal(h.readiness().ready, true)

    // A partition starts when its first records come: paused until its producer has fenced the
    // earlier ones and the committed offset is read.
    emit.partition('p.situate', 1, 'starting')
    assert.equal(stage(h, 'situate').state, 'initializing')
    assert.match(stage(h, 'situate').reason ?? '', /partition 1 starting/)
    emit.partition('p.situate', 1, 'started')
    assert.equal(stage(h, 'situate').state, 'assigned')

    // KafkaJS lost the broker: the consumer crashed (disconnect, then crash with restart).
    emit.client('p.situate', 'consumer.disconnect')
    emit.client('p.situate', 'consumer.crash', { payload: { error: new Error('Connection error'), groupId: 'p.situate', restart: true } })
    assert.equal(stage(h, 'situate').state, 'disconnected')
    assert.equal(stage(h, 'situate').partitions, 0)
    assert.equal(h.readiness().ready, false)
    assert.equal(h.liveness().live, true, 'a broker outage never fails liveness')
    emit.client('p.situate', 'consumer.connect')
    assert.equal(stage(h, 'situate').state, 'joining')
    emit.join('p.situate', [0, 1])
    assert.equal(h.readiness().ready, true)
  })

  test('a member with no partition is a ready standby, and says so', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    joined({ situate: [], sink: [] })
    emit.runner('r1', 'started')
    const s = stage(h, 'situate')
    assert.equal(s.state, 'standby')
    assert.equal(s.ready, true)
    assert.equal(s.partitions, 0)
    assert.match(s.reason ?? '', /more members than partitions/)
    assert.equal(h.readiness().ready, true)
    emit.join('p.situate', [0])
    assert.equal(stage(h, 'situate').state, 'assigned')
  })

  test('fenced: not ready until the group reassigns the partition or this member starts it over', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    joined({ situate: [0, 1], sink: [0] })
    emit.runner('r1', 'started')
    emit.partition('p.situate', 0, 'started')
    emit.partition('p.situate', 0, 'fenced', 'fenced')
    assert.equal(stage(h, 'situate').state, 'fenced')
    assert.match(stage(h, 'situate').reason ?? '', /partition 0: a newer producer/)
    assert.equal(h.readiness().ready, false)
    assert.equal(h.liveness().live, true, 'a fenced partition is the group\'s to sort out, not a reason to restart')
    emit.join('p.situate', [1]) // it moved to the member that fenced this one
    assert.equal(stage(h, 'situate').state, 'assigned')
    assert.equal(h.readiness().ready, true)

    // Fenced while still assigned (the other was a zombie): this member starts it over.
    emit.partition('p.situate', 1, 'fenced', 'fenced')
    assert.equal(h.readiness().ready, false)
    emit.partition('p.situate', 1, 'starting', 'fenced')
    assert.equal(stage(h, 'situate').state, 'initializing')
    emit.partition('p.situate', 1, 'started', 'fenced')
    assert.equal(h.readiness().ready, true)
    // A partition released at a rebalance is simply gone.
    emit.partition('p.situate', 1, 'starting')
    emit.partition('p.situate', 1, 'released', 'rebalance')
    assert.equal(h.readiness().ready, true)
  })

  test('draining and stopped: not ready, still live', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    joined({ situate: [0], sink: [0] })
    emit.runner('r1', 'started')
    emit.runner('r1', 'stopping')
    assert.equal(stage(h, 'situate').state, 'stopping')
    assert.match(stage(h, 'situate').reason ?? '', /draining/)
    assert.equal(h.readiness().ready, false)
    emit.client('p.situate', 'consumer.disconnect')
    assert.equal(stage(h, 'situate').state, 'stopping', 'leaving the group while stopping is still stopping')
    emit.runner('r1', 'stopped')
    assert.equal(stage(h, 'situate').state, 'stopped')
    assert.deepEqual(h.readiness().runners, [{ topology: 'synthesis', runner: 'kafka', state: 'stopped' }])
    assert.deepEqual(h.liveness(), { status: 'ok', live: true })
  })

  test('a halted stage fails liveness and readiness; its reason carries no secret', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    joined({ situate: [0], sink: [0] })
    emit.runner('r1', 'started')
    emit.halted({ code: 'LlmRejectedError', error: 'stage situate: https://bob:hunter2@llm.example/v1 refused the key: Authorization: Bearer sk-abcdefghijklmnop (api_key=s3cr3t)' })
    const l = h.liveness()
    assert.equal(l.live, false)
    assert.equal(l.status, 'failed')
    assert.match(l.reason ?? '', /stage situate halted \(LlmRejectedError\)/)
    for (const secret of ['hunter2', 'sk-abcdefghijklmnop', 's3cr3t']) assert.ok(!l.reason!.includes(secret), `no ${secret} in ${l.reason}`)
    assert.equal(stage(h, 'situate').state, 'halted')
    assert.equal(h.readiness().ready, false)
    // The process then stops: still not live.
    emit.runner('r1', 'stopping')
    emit.runner('r1', 'stopped')
    assert.equal(h.liveness().live, false)
    assert.equal(stage(h, 'situate').state, 'halted')
  })

  test('a start that failed for good fails liveness, through the stop that follows', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    assert.equal(h.liveness().live, true, 'waiting out an outage at start is live')
    emit.runner('r1', 'failed', { error: 'KafkaJSConnectionError: connect ECONNREFUSED 127.0.0.1:19092' })
    emit.runner('r1', 'stopping')
    emit.runner('r1', 'stopped')
    const l = h.liveness()
    assert.equal(l.live, false)
    assert.match(l.reason ?? '', /topology synthesis: its start failed: KafkaJSConnectionError/)
    assert.equal(stage(h, 'situate').state, 'failed')
  })

  test('table consumers, producers and other groups do not count', (t) => {
    const h = new Health()
    t.after(() => h.close())
    emit.runner('r1', 'starting')
    joined({ situate: [0], sink: [0] })
    emit.runner('r1', 'started')
    emit.client('synthq-table-x', 'consumer.disconnect', { table: 'p.synthq.demonstrations', stage: undefined as unknown as string })
    emit.client('p.situate', 'producer.disconnect', { client: 'producer', transactionalId: 'p.situate.t.0' })
    emit.client('q.situate', 'consumer.disconnect')
    emit.join('q.situate', [])
    emit.partition('q.situate', 0, 'fenced')
    assert.equal(h.readiness().ready, true, JSON.stringify(h.readiness()))
  })

  test('embedded runners (synthq start runs two): ready while every runner seen has started', (t) => {
    const h = new Health()
    t.after(() => h.close())
    const attr: RunnerStage[] = [{ stage: 'concept-extraction', group: 'synthq.concept-extraction', topic: 'synthq.instructions.real', stateful: false }]
    emit.runner('a', 'starting', { runner: 'embedded', topology: 'attribution', stages: attr })
    assert.equal(stage(h, 'concept-extraction').state, 'starting')
    emit.runner('a', 'started', { runner: 'embedded', topology: 'attribution', stages: attr })
    assert.deepEqual(stage(h, 'concept-extraction'), { stage: 'concept-extraction', topology: 'attribution', runner: 'embedded', state: 'running', ready: true, partitions: 1 })
    assert.equal(h.readiness().ready, true)
    emit.runner('s', 'starting', { runner: 'embedded', topology: 'synthesis', stages: STAGES })
    assert.equal(h.readiness().ready, false)
    emit.runner('s', 'started', { runner: 'embedded', topology: 'synthesis', stages: STAGES })
    assert.equal(h.readiness().ready, true)
    assert.equal(h.readiness().stages.length, 3)
    emit.runner('a', 'stopping', { runner: 'embedded', topology: 'attribution', stages: attr })
    assert.equal(h.readiness().ready, false)
  })

  test('close() unsubscribes: the channels have no subscribers left', () => {
    const h = new Health()
    assert.equal(lifecycleChannels.runnerState.hasSubscribers, true)
    h.close()
    for (const ch of [...Object.values(channels), ...Object.values(lifecycleChannels)]) assert.equal(ch.hasSubscribers, false, ch.name)
  })

  test('with nobody subscribed, a runner\'s start, halt and stop publish nothing on the lifecycle channels', async (t) => {
    const all = Object.values(lifecycleChannels)
    for (const ch of all) assert.equal(ch.hasSubscribers, false, ch.name)
    // An own `publish` on each channel object counts calls (removed afterwards), as in
    // test/diagnostics/kafka-events.test.ts.
    const calls = all.map(() => 0)
    all.forEach((ch, i) => Object.defineProperty(ch, 'publish', { configurable: true, value: () => { calls[i]!++ } }))
    t.after(() => { for (const ch of all) delete (ch as { publish?: unknown }).publish })
    const probe = newProbe()
    const runner = new EmbeddedRunner(testTopology(probe), { path: join(testTmpDir('health-quiet'), 'synthq.db'), logger: testLogger(), pollMs: 20 })
    await runner.start()
    await runner.produce('documents', [{ key: 'bad', value: doc('bad', 'misconfigured') }])
    // The stage halts on the record (the endpoint "refused the key"): tried once, not in flight.
    const deadline = Date.now() + 30_000
    while (!(probe.attempts.get('bad') === 1 && runner.stats().situate?.inFlight === 0)) {
      assert.ok(Date.now() < deadline, `the record was not tried: ${JSON.stringify(runner.stats())}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    await runner.stop()
    assert.deepEqual(calls, all.map(() => 0), 'no lifecycle channel was published to')
  })

  test('scrubReason replaces credentials and cuts long messages', () => {
    assert.equal(scrubReason('GET http://u:p@host:8081/x?token=abc&x=1 failed'), 'GET http://[redacted]@host:8081/x?token=[redacted]&x=1 failed')
    assert.equal(scrubReason('password: "pw1" and sk-proj_0123456789'), 'password: "[redacted]" and [redacted]')
    const long = scrubReason('x'.repeat(500), 50)
    assert.equal(long.length, 50)
    assert.ok(long.endsWith('…'))
  })
})

async function get (url: string): Promise<{ status: number, type: string | null, cache: string | null, body: string }> {
  const res = await fetch(url)
  return { status: res.status, type: res.headers.get('content-type'), cache: res.headers.get('cache-control'), body: await res.text() }
}

describe('the HTTP endpoints', () => {
  test('/healthz and /readyz: codes, JSON bodies, no caching; /metrics as before', async (t) => {
    const h = new Health()
    const metrics = new PipelineMetrics({ processMetrics: false })
    const server = await startMetricsServer(metrics, { port: 0, health: h })
    t.after(async () => { h.close(); metrics.close(); await server.close() })
    const base = server.url.replace(/\/metrics$/, '')

    let live = await get(`${base}/healthz`)
    assert.equal(live.status, 200)
    assert.match(live.type ?? '', /^application\/json/)
    assert.equal(live.cache, 'no-store')
    assert.deepEqual(JSON.parse(live.body), { status: 'ok', live: true })

    let ready = await get(`${base}/readyz`)
    assert.equal(ready.status, 503)
    assert.equal((JSON.parse(ready.body) as Readiness).status, 'not ready')

    emit.runner('r1', 'starting')
    joined({ situate: [0, 1, 2], sink: [] })
    emit.runner('r1', 'started')
    ready = await get(`${base}/readyz?verbose`)
    assert.equal(ready.status, 200)
    const body = JSON.parse(ready.body) as Readiness
    assert.deepEqual(body.runners, [{ topology: 'synthesis', runner: 'kafka', state: 'started' }])
    assert.deepEqual(body.stages.map((s) => [s.stage, s.state, s.partitions, s.ready]), [['situate', 'assigned', 3, true], ['sink', 'standby', 0, true]])

    emit.client('p.situate', 'consumer.rebalancing')
    ready = await get(`${base}/readyz`)
    assert.equal(ready.status, 503)
    const stages = (JSON.parse(ready.body) as Readiness).stages
    assert.deepEqual(stages.find((s) => s.stage === 'situate'), { stage: 'situate', topology: 'synthesis', runner: 'kafka', state: 'rebalancing', ready: false, partitions: 3, reason: 'a rebalance of its consumer group is in progress' })

    emit.halted({ error: 'registry at https://user:pa55@registry.example/ unreachable' })
    live = await get(`${base}/healthz`)
    assert.equal(live.status, 503)
    const l = JSON.parse(live.body) as { status: string, reason: string }
    assert.equal(l.status, 'failed')
    assert.match(l.reason, /^stage situate halted \(SYNTHQ_INFRA_UNAVAILABLE\): registry at https:\/\/\[redacted\]@registry\.example\/ unreachable$/)

    const m = await get(server.url)
    assert.equal(m.status, 200)
    const notFound = await get(`${base}/nope`)
    assert.equal(notFound.status, 404)
    assert.match(notFound.body, /GET \/metrics, \/healthz and \/readyz/)
    const post = await fetch(`${base}/readyz`, { method: 'POST' })
    assert.equal(post.status, 404)
    await post.text()
  })

  test('without a Health the server answers /metrics only, as before', async (t) => {
    const metrics = new PipelineMetrics({ processMetrics: false })
    const server = await startMetricsServer(metrics, { port: 0 })
    t.after(async () => { metrics.close(); await server.close() })
    const r = await get(server.url.replace(/\/metrics$/, '/readyz'))
    assert.equal(r.status, 404)
    assert.equal(r.body, 'synthq serves GET /metrics\n')
  })

  describe('over a real embedded runner, wired as synthq run wires it', () => {
    const dir = testTmpDir('health')
    const runDir = join(dir, 'run')
    const saved = process.env.SYNTHQ_RUN_DIR
    process.env.SYNTHQ_RUN_DIR = runDir
    after(() => { if (saved === undefined) delete process.env.SYNTHQ_RUN_DIR; else process.env.SYNTHQ_RUN_DIR = saved })

    test('listening before the start: 503 before it, 200 once started, 503 when draining and stopped; a halted stage fails liveness', async (t) => {
      const endpoint = processEndpoint({ enabled: true, host: '127.0.0.1', port: 0 }, { runner: 'embedded' }, testLogger())
      t.after(() => endpoint.close())
      const runner = new EmbeddedRunner(testTopology(newProbe()), { path: join(dir, 'synthq.db'), logger: testLogger(), pollMs: 20 })
      await endpoint.listen()
      const base = endpoint.url!.replace(/\/metrics$/, '')
      assert.equal((await get(`${base}/readyz`)).status, 503, 'nothing started yet')
      assert.equal((await get(`${base}/healthz`)).status, 200)

      await runner.start()
      // 'demo': a topology whose lag the endpoint does not read (this one is the tests' own).
      await endpoint.start({ topologies: ['demo'], prefix: 'synthq', runner })
      const ready = await get(`${base}/readyz`)
      assert.equal(ready.status, 200, ready.body)
      assert.deepEqual((JSON.parse(ready.body) as Readiness).stages.map((s) => [s.stage, s.state]), [['situate', 'running'], ['instruct', 'running']])

      // An endpoint refusing the key (simulated): the stage halts; liveness says so.
      await runner.produce('documents', [{ key: 'bad', value: doc('bad', 'misconfigured') }])
      const deadline = Date.now() + 30_000
      let live = await get(`${base}/healthz`)
      while (live.status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
        live = await get(`${base}/healthz`)
      }
      assert.equal(live.status, 503, live.body)
      assert.match((JSON.parse(live.body) as { reason: string }).reason, /^stage situate halted \(SYNTHQ_LLM_REJECTED\): .*refused the API key/)
      assert.equal((await get(`${base}/readyz`)).status, 503)

      const stopping = runner.stop()
      const draining = await get(`${base}/readyz`)
      await stopping
      assert.equal(draining.status, 503)
      const stopped = await get(`${base}/readyz`)
      assert.equal(stopped.status, 503)
      const body = JSON.parse(stopped.body) as Readiness
      assert.deepEqual(body.runners, [{ topology: 'conformance', runner: 'embedded', state: 'stopped' }])
      assert.equal(body.stages.find((s) => s.stage === 'instruct')?.state, 'stopped')
    })

    test('a runner stopped normally: 503 on /readyz, 200 on /healthz', async (t) => {
      const endpoint = processEndpoint({ enabled: true, host: '127.0.0.1', port: 0 }, { runner: 'embedded' }, testLogger())
      t.after(() => endpoint.close())
      const runner = new EmbeddedRunner(testTopology(newProbe()), { path: join(dir, 'second.db'), logger: testLogger(), pollMs: 20 })
      await runner.start()
      await endpoint.start({ topologies: ['demo'], prefix: 'synthq', runner })
      const base = endpoint.url!.replace(/\/metrics$/, '')
      assert.equal((await get(`${base}/readyz`)).status, 200)
      await runner.stop()
      assert.equal((await get(`${base}/readyz`)).status, 503)
      assert.equal((await get(`${base}/healthz`)).status, 200)
    })

    test('--no-metrics: no server and no subscription', async () => {
      const endpoint = processEndpoint({ enabled: false, host: '127.0.0.1', port: 0 }, { runner: 'embedded' }, testLogger())
      await endpoint.listen()
      assert.equal(endpoint.url, undefined)
      assert.equal(endpoint.health, undefined)
      assert.equal(lifecycleChannels.runnerState.hasSubscribers, false)
      await endpoint.close()
    })
  })
})
