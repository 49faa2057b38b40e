/**
 * The local model server for one test file (deploy/local/lib/model-server.ts, `npm run model:up`'s
 * code): started before the file's tests on a state directory and ports of its own, so a
 * developer's `npm run model:up` is left alone, and stopped after them.
 */
import { after, before } from 'node:test'
import { modelDown, modelUp, type ModelState } from '../../deploy/local/lib/model-server.ts'
import { testTmpDir } from './env.ts'
import { freePort } from './ports.ts'

export function ownModelServer (dirName: string, log: (m: string) => void, started: (state: ModelState) => void): void {
  before(async () => {
    process.env.SYNTHQ_MODEL_DIR = testTmpDir(dirName)
    process.env.SYNTHQ_MODEL_PORT = String(await freePort())
    process.env.SYNTHQ_MODEL_EMBED_PORT = String(await freePort())
    started((await modelUp({ log })).state)
  }, { timeout: 1_800_000 })
  after(async () => { await modelDown({ log }) })
}
