/**
 * `synthq llm-sim`: runs the OpenAI-compatible LLM simulator until SIGINT/SIGTERM, for trying
 * the pipeline, benchmarks and tests without a GPU or an API account. It says loudly that it is
 * a simulator: answers are synthetic and every model name starts with "sim-". The API key, when
 * wanted, comes from an environment variable named on the command line — never from argv, where
 * `ps` and shell history would show it.
 */
import { parseArgs } from 'node:util'
import { SynthqError } from '../../errors.ts'
import { FAULT_KINDS, isFaultKind, type FaultKind } from './faults.ts'
import { isProfileName, PROFILES } from './profiles.ts'
import { DEFAULT_MODELS, startLlmSim } from './server.ts'

export const LLM_SIM_HELP = `synthq llm-sim — an OpenAI-compatible LLM SIMULATOR (synthetic answers, models named sim-*)

usage: synthq llm-sim [options]

options:
  --port N               port (default 8799; 0 = any free port)
  --host H               interface (default 127.0.0.1)
  --profile P            latency profile (default instant): ${Object.keys(PROFILES).join(', ')}
  --time-scale X         multiply every delay and the rate-limit window by X (default 1)
  --api-key-env NAME     require "Authorization: Bearer $NAME" (the key is read from that variable)
  --fault-rate K=R       inject fault K in a share R of requests (repeatable); kinds:
                         ${FAULT_KINDS.join(', ')}
  --seed N               seed of the fault draws (default 0)
  --models A,B           served models, each starting with sim- (default ${DEFAULT_MODELS.join(',')})
  -h, --help             this help

profiles:
${Object.values(PROFILES).map((p) => `  ${p.name.padEnd(12)} ${p.description}`).join('\n')}

example:
  synthq llm-sim --profile h100-8b --time-scale 0.1
  OPENAI_BASE_URL=http://127.0.0.1:8799/v1 OPENAI_API_KEY=any <your client>
`

const config = (message: string): SynthqError => new SynthqError('SYNTHQ_CONFIG', message)

function number (name: string, v: string, check: (n: number) => boolean, want: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || !check(n)) throw config(`--${name} must be ${want}, got "${v}"`)
  return n
}

/** Runs the simulator until SIGINT or SIGTERM; resolves to the exit code. */
export async function runLlmSim (argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' }, host: { type: 'string' }, profile: { type: 'string' }, 'time-scale': { type: 'string' },
      'api-key-env': { type: 'string' }, 'fault-rate': { type: 'string', multiple: true }, seed: { type: 'string' },
      models: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(LLM_SIM_HELP)
    return 0
  }
  const port = values.port === undefined ? 8799 : number('port', values.port, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a port number (0–65535)')
  const profile = values.profile ?? 'instant'
  if (!isProfileName(profile)) throw config(`--profile must be one of ${Object.keys(PROFILES).join(', ')}, got "${profile}"`)
  const timeScale = values['time-scale'] === undefined ? 1 : number('time-scale', values['time-scale'], (n) => n >= 0, 'a number ≥ 0')
  const seed = values.seed === undefined ? 0 : number('seed', values.seed, (n) => Number.isInteger(n), 'an integer')
  const rates: Partial<Record<FaultKind, number>> = {}
  for (const spec of values['fault-rate'] ?? []) {
    const [kind, rate, ...rest] = spec.split('=')
    if (!kind || rate === undefined || rest.length) throw config(`--fault-rate takes kind=rate, e.g. rate_limit=0.05, got "${spec}"`)
    if (!isFaultKind(kind)) throw config(`--fault-rate: unknown fault kind "${kind}" (known: ${FAULT_KINDS.join(', ')})`)
    rates[kind] = number('fault-rate', rate, (n) => n >= 0 && n <= 1, 'a rate between 0 and 1')
  }
  const total = Object.values(rates).reduce((a, b) => a + b, 0)
  if (total > 1) throw config(`--fault-rate: the rates add up to ${total}, more than 1`)
  let apiKey: string | undefined
  const keyEnv = values['api-key-env']
  if (keyEnv !== undefined) {
    apiKey = process.env[keyEnv]
    if (!apiKey) throw config(`--api-key-env ${keyEnv}: that environment variable is not set or is empty`)
  }
  const models = values.models?.split(',').map((m) => m.trim()).filter(Boolean)
  if (models && models.length === 0) throw config('--models needs at least one model name')
  const bad = models?.find((m) => !m.startsWith('sim-'))
  if (bad) throw config(`--models: simulated model names must start with "sim-", got "${bad}"`)

  const sim = await startLlmSim({
    port, host: values.host ?? '127.0.0.1', profile, timeScale, seed, faults: { rates },
    ...(apiKey ? { apiKey } : {}), ...(models ? { models } : {}),
  })
  const faults = Object.entries(rates).filter(([, r]) => r > 0).map(([k, r]) => `${k}=${r}`).join(', ') || 'none'
  process.stdout.write(`${sim.url}\n`)
  process.stdout.write(`synthq llm-sim: this is a SIMULATOR — answers are synthetic and model names start with "sim-" ` +
    `(profile ${profile}, time scale ${timeScale}, models ${(models ?? DEFAULT_MODELS).join(', ')}, faults ${faults}, ` +
    `${keyEnv ? `API key from $${keyEnv}` : 'no API key'}); Ctrl-C to stop\n`)

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const on = (s: NodeJS.Signals): void => {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
      resolve(s)
    }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
  const s = sim.stats()
  await sim.close()
  process.stdout.write(`synthq llm-sim: ${signal}: stopped after ${s.requests.total} requests (${Object.entries(s.requests.byStatus).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none answered'})\n`)
  return 0
}
