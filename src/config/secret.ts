/**
 * A secret value (API key, SASL password, registry password) that cannot leak by accident:
 * printing, logging, JSON-serialising or inspecting it yields `[redacted]`. Only `reveal()`,
 * called at the moment a client needs it, returns the value.
 */
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { ConfigError } from '../errors.ts'

const REDACTED = '[redacted]'

export class Secret {
  readonly #value: string

  constructor (value: string) {
    this.#value = value
  }

  reveal (): string {
    return this.#value
  }

  toString (): string { return REDACTED }
  toJSON (): string { return REDACTED }
  [inspect.custom] (): string { return REDACTED }
}

/**
 * Reads a secret from `NAME` or from the file named by `NAME_FILE` (the Docker/Kubernetes
 * convention for mounted secrets). Both set is a configuration error; neither returns undefined.
 */
export function secretFromEnv (name: string, env: NodeJS.ProcessEnv = process.env): Secret | undefined {
  const direct = env[name]
  const file = env[`${name}_FILE`]
  if (direct !== undefined && file !== undefined) throw new ConfigError(`Set either ${name} or ${name}_FILE, not both.`)
  if (file !== undefined) {
    try {
      return new Secret(readFileSync(file, 'utf8').replace(/\r?\n$/, ''))
    } catch (err) {
      throw new ConfigError(`${name}_FILE points at ${file}, which cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  return direct === undefined ? undefined : new Secret(direct)
}
