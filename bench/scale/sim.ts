/**
 * The LLM simulator in a process of its own, for `npm run bench:scale`, with a profile the CLI
 * cannot name: `hosted-tier5`, the CLI's `hosted` profile (a hosted small model: ~0.4 s to the
 * first token, ~12 ms per output token, the same at any load) with the request and token budgets
 * of a hosted API's usage tier 5 (30,000 requests and 150M tokens a minute, ../shared/notes/
 * serving.md) instead of tier 1's. The CLI's `hosted` (tier 1: 200K tokens/min, about 230 of
 * the pipeline's requests a minute) would be the bottleneck of a scale-out measurement at a few
 * requests in flight; tier 5 is far above what the benchmark sends, and its latency does not
 * grow with load, so what limits the pipeline is synthq, not the server.
 *
 *   tsx bench/scale/sim.ts [--profile hosted-tier5] [--time-scale X] [--port N]
 *
 * Prints its URL (ending in /v1) on the first line, as `synthq llm-sim` does; stops on SIGTERM.
 * Any other profile name is passed to the simulator as is (instant, h100-8b, h100x2-70b, …).
 */
import { parseArgs } from 'node:util'
import { startLlmSim } from '../../src/llm/sim/server.ts'
import { isProfileName, type ProfileName, type ProfileSpec } from '../../src/llm/sim/profiles.ts'

export const HOSTED_TIER5: ProfileSpec = {
  base: 'hosted',
  name: 'hosted-tier5',
  description: 'a hosted API like gpt-4o-mini at usage tier 5: 30,000 requests/min, 150M tokens/min; latency as hosted (flat)',
  rateLimits: { requestsPerMinute: 30_000, tokensPerMinute: 150_000_000 },
}

export function profileSpec (name: string): ProfileName | ProfileSpec {
  if (name === 'hosted-tier5') return HOSTED_TIER5
  if (isProfileName(name)) return name
  throw new Error(`unknown simulator profile "${name}" (hosted-tier5 or a synthq llm-sim profile)`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { profile: { type: 'string' }, 'time-scale': { type: 'string' }, port: { type: 'string' }, seed: { type: 'string' } } })
  const sim = await startLlmSim({
    port: Number(values.port ?? 0),
    profile: profileSpec(values.profile ?? 'hosted-tier5'),
    timeScale: Number(values['time-scale'] ?? 1),
    seed: Number(values.seed ?? 1),
  })
  process.stdout.write(`${sim.url}\n`)
  process.stdout.write(`bench/scale/sim.ts: LLM SIMULATOR (synthetic answers), profile ${values.profile ?? 'hosted-tier5'}, time scale ${values['time-scale'] ?? 1}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  await sim.close()
}
