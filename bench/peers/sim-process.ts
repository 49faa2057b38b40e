/**
 * The LLM simulator in a process of its own, as every system under test sees a real server: the
 * simulator's CPU is not the benchmark's, and a fresh process per run starts with an empty prefix
 * cache and zeroed counters, so no system inherits another's warm state.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { SimStats } from '../../src/llm/sim/server.ts'

const CLI = fileURLToPath(new URL('../../bin/synthq.js', import.meta.url))

/** The fault mix of the benchmark: 5 % 500s, 5 % 429s with Retry-After 1 s, 5 % malformed JSON. */
export const FAULT_MIX = { server_error: 0.05, rate_limit: 0.05, malformed_json: 0.05 } as const

export interface SimProcess { url: string, stats: () => Promise<SimStats>, close: () => Promise<void> }

export async function startSimProcess (o: { profile: string, faults?: Record<string, number>, seed?: number }): Promise<SimProcess> {
  const args = [CLI, 'llm-sim', '--port', '0', '--profile', o.profile, '--seed', String(o.seed ?? 1)]
  for (const [kind, rate] of Object.entries(o.faults ?? {})) args.push('--fault-rate', `${kind}=${rate}`)
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`llm-sim exited (${code}) before it listened`)))
    lines.on('line', (l) => { if (/^http:\/\/\S+\/v1$/.test(l)) resolve(l) })
  })
  const root = url.replace(/\/v1$/, '')
  return {
    url,
    stats: async () => await (await fetch(`${root}/sim/stats`)).json() as SimStats,
    close: async () => {
      if (child.exitCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    },
  }
}
