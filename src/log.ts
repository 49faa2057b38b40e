/**
 * The process logger: pino, JSON to stdout, with secret-bearing fields redacted as a second
 * line of defence (secrets are {@link Secret}s and already print as `[redacted]`).
 */
import { pino, type DestinationStream, type Logger } from 'pino'

export type { Logger }

export const REDACT_PATHS = [
  'password', '*.password', '*.*.password',
  'apiKey', '*.apiKey', '*.*.apiKey',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
]

export function createLogger (opts: { level?: string, name?: string } = {}, destination?: DestinationStream): Logger {
  const options = {
    name: opts.name ?? 'synthq',
    level: opts.level || process.env.SYNTHQ_LOG_LEVEL || 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  }
  return destination ? pino(options, destination) : pino(options)
}
