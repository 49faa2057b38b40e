/**
 * A small HTTP server in front of synthq's LLM simulator, playing a server that differs from it:
 * one that refuses some request shapes, constrains or ignores others, reports other model fields
 * or sends no usage. `handle` sees each request and either answers it itself or says what to
 * forward; `reply` may rewrite the simulator's answer.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { LlmSim } from '../../src/llm/sim/server.ts'

export type Json = Record<string, unknown>
export interface ProxiedRequest { method: string, url: string, headers: Record<string, string | string[] | undefined>, body: Json | undefined }
export type Handling = { answer: { status: number, json: unknown } } | { forward: Json | undefined }

export interface SimProxy { url: string, close (): Promise<void> }

export async function startSimProxy (sim: LlmSim, o: { handle?: (r: ProxiedRequest) => Handling, reply?: (r: ProxiedRequest, json: Json) => Json } = {}): Promise<SimProxy> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        const r: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: raw ? JSON.parse(raw) as Json : undefined }
        const h = o.handle?.(r) ?? { forward: r.body }
        const send = (status: number, json: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(json)) }
        if ('answer' in h) { send(h.answer.status, h.answer.json); return }
        const up = await fetch(`${sim.url}${r.url.replace(/^\/v1/, '')}`, { method: r.method, headers: { 'content-type': 'application/json' }, ...(h.forward ? { body: JSON.stringify(h.forward) } : {}) })
        const json = await up.json() as Json
        send(up.status, o.reply ? o.reply(r, json) : json)
      })()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, close: async () => { await new Promise((resolve) => server.close(resolve)) } }
}

/** The structured-output part of a request, as a label: `json_object+schema`, `guided_json`, `none`… */
export function requestShape (body: Json | undefined): string {
  if (body?.guided_json) return 'guided_json'
  const rf = body?.response_format as { type: string, schema?: object, value?: object } | undefined
  if (!rf) return 'none'
  return rf.type + (rf.schema ? '+schema' : '') + (rf.value ? '+value' : '')
}
