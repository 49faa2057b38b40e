/**
 * A recorded-response HTTP server for the remote search backends' tests. Elasticsearch and
 * SearXNG cannot run on the development machine, so the tests serve responses shaped like the
 * real APIs' (fixtures/, see its README) and assert on the requests the backends send.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

export const FIXTURES = join(import.meta.dirname, 'fixtures')

export interface RecordedRequest {
  method: string
  /** Path without the query string. */
  path: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  body: string
}

export interface Reply {
  status: number
  /** A file under fixtures/ … */
  fixture?: string
  /** … or a literal body. */
  body?: string
  headers?: Record<string, string>
  /** Never answer (for timeouts). */
  hang?: boolean
}

export interface RecordedServer {
  url: string
  requests: RecordedRequest[]
  /** What the next requests get (until changed). */
  reply (r: Reply): void
  close (): Promise<void>
}

export async function startRecordedServer (): Promise<RecordedServer> {
  const requests: RecordedRequest[] = []
  let next: Reply = { status: 500, body: 'no reply configured' }
  const hanging = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost')
      requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      const r = next
      if (r.hang) { hanging.add(res); return }
      const body = r.fixture ? readFileSync(join(FIXTURES, r.fixture)) : Buffer.from(r.body ?? '')
      const type = r.fixture?.endsWith('.html') ? 'text/html; charset=utf-8' : 'application/json'
      res.writeHead(r.status, { 'content-type': type, 'content-length': String(body.length), ...r.headers })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reply (r) { next = r },
    async close () {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
