/**
 * The process logger: pino, JSON to stdout, with secret-bearing fields redacted as a second
 * line of defence (secrets are {@link Secret}s and already print as `[redacted]`).
 */
import { pino, type DestinationStream, type Logger } from 'pino'

export type { Logger }

const SECRET_KEYS = ['password', 'apiKey', 'api_key', 'token', 'accessToken', 'secret', 'keyPassword', 'authorization', '"x-api-key"']

/** Secret-named fields at the top and two levels down (pino's paths take one `*` per level). */
export const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`].map((p) => p.replace(/\.(".*")$/, '[$1]'))),
  'headers.authorization', '*.headers.authorization', '*.*.headers.authorization',
]

export function createLogger (opts: { level?: string, name?: string } = {}, destination?: DestinationStream): Logger {
  const options = {
    name: opts.name ?? 'synthq',
    level: opts.level || process.env.SYNTHQ_LOG_LEVEL || 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  }
  return destination ? pino(options, destination) : pino(options)
}
