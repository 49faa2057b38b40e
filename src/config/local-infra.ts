/**
 * Where the local development infrastructure (`npm run infra:up`, see deploy/local) records
 * itself, so that commands and tests can find it without settings. Only the addresses are read
 * here; starting and stopping live in deploy/local.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PACKAGE_ROOT } from '../package-root.ts'

/** `.synthq/infra/` in the checkout, or $SYNTHQ_INFRA_DIR. */
export function infraDir (): string {
  return process.env.SYNTHQ_INFRA_DIR ? resolve(process.env.SYNTHQ_INFRA_DIR) : join(PACKAGE_ROOT, '.synthq', 'infra')
}

export interface LocalInfraAddresses {
  brokers: string
  url: string
}

/** Addresses of the local infrastructure if it was started, else an empty object. */
export function localInfraAddresses (): Partial<LocalInfraAddresses> {
  const file = join(infraDir(), 'state.json')
  if (!existsSync(file)) return {}
  const state = JSON.parse(readFileSync(file, 'utf8')) as { kafka?: { bootstrap?: string[] }, registry?: { url?: string } }
  return {
    ...(state.kafka?.bootstrap ? { brokers: state.kafka.bootstrap.join(',') } : {}),
    ...(state.registry?.url ? { url: state.registry.url } : {}),
  }
}
