/**
 * Counts registry requests that are never answered. Several clients register subjects at the
 * same time, as workers starting together do (look up the subject's level, register, set the
 * level), each request with a timeout; a request still unanswered at its timeout is counted and
 * named. synthq sends such a request again (src/serde/registry-client.ts); this measures how
 * often a registry needs it.
 *
 *   node --import tsx scripts/registry-probe.ts [--url URL] [--clients 5] [--rounds 10] [--subjects 13] [--timeout-ms 5000]
 *
 * URL defaults to SYNTHQ_REGISTRY_URL, else the local registry of `npm run infra:up`. Subjects are
 * created under a `registry-probe-…` prefix and left there.
 */
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'

const { values } = parseArgs({ options: {
  url: { type: 'string' }, clients: { type: 'string', default: '5' }, rounds: { type: 'string', default: '10' },
  subjects: { type: 'string', default: '13' }, 'timeout-ms': { type: 'string', default: '5000' },
} })
const url = (values.url ?? process.env.SYNTHQ_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7').replace(/\/+$/, '')
const [clients, rounds, subjects, timeoutMs] = [values.clients, values.rounds, values.subjects, values['timeout-ms']].map(Number) as [number, number, number, number]
const schema = JSON.stringify({ type: 'record', name: 'Probe', fields: [{ name: 'a', type: 'string' }, { name: 'b', type: ['null', 'string'], default: null }] })

let sent = 0
const unanswered: string[] = []
const failed: string[] = []

async function call (agent: Agent, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<number> {
  sent++
  try {
    const res = await request(`${url}${path}`, {
      dispatcher: agent, method, headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' }, ...(body ? { body: JSON.stringify(body) } : {}),
    })
    await res.body.text()
    return res.statusCode
  } catch (err) {
    const code = (err as { code?: string }).code ?? ''
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') unanswered.push(`${method} ${path}`)
    else failed.push(`${method} ${path}: ${(err as Error).message}`)
    return 0
  }
}

const t0 = Date.now()
for (let r = 0; r < rounds; r++) {
  const prefix = `registry-probe-${Date.now().toString(36)}-${r}`
  await Promise.all(Array.from({ length: clients }, async () => {
    const agent = new Agent()
    try {
      for (let s = 0; s < subjects; s++) {
        const subject = encodeURIComponent(`${prefix}.t${s}-value`)
        const level = await call(agent, 'GET', `/config/${subject}`)
        await call(agent, 'POST', `/subjects/${subject}/versions`, { schema })
        if (level === 404) await call(agent, 'PUT', `/config/${subject}`, { compatibility: 'BACKWARD' })
      }
    } finally {
      await agent.close()
    }
  }))
}
for (const u of unanswered) process.stdout.write(`unanswered within ${timeoutMs} ms: ${u}\n`)
for (const f of failed.slice(0, 10)) process.stdout.write(`failed: ${f}\n`)
process.stdout.write(`registry-probe url=${url} clients=${clients} requests=${sent} unanswered=${unanswered.length} failed=${failed.length} seconds=${((Date.now() - t0) / 1000).toFixed(1)}\n`)
