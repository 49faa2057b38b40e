/**
 * Apicurio Registry 3.x on loopback, serving the Confluent Schema Registry API at
 * `/apis/ccompat/v7`. Storage is its default in-memory H2 database: schemas last as long as the
 * process, which is what a local development and test registry wants.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { findJava } from './java.ts'
import { startDetached, type Started } from './process.ts'
import { APICURIO_MIN_JAVA } from './versions.ts'

export interface RegistryNodeSpec {
  port: number
  /** Quarkus's management interface (health, metrics); must differ from `port`. */
  managementPort: number
  dataDir: string
  heapMb?: number
}

/** The base URL clients use: the Confluent-compatible API of the registry. */
export function ccompatUrl (port: number): string {
  return `http://127.0.0.1:${port}/apis/ccompat/v7`
}

export function startRegistry (appDir: string, spec: RegistryNodeSpec, log?: (msg: string) => void): Started {
  mkdirSync(spec.dataDir, { recursive: true })
  const java = findJava(APICURIO_MIN_JAVA, 'Apicurio Registry', log)
  const heap = spec.heapMb ?? 512
  return startDetached(java.bin, [
    `-Xms128m`, `-Xmx${heap}m`, '-Djava.awt.headless=true',
    '-Dquarkus.http.host=127.0.0.1',
    `-Dquarkus.http.port=${spec.port}`,
    '-Dquarkus.management.host=127.0.0.1',
    `-Dquarkus.management.port=${spec.managementPort}`,
    // Confluent Schema Registry's default: a new schema must read data written with the last one.
    '-Dapicurio.rules.global.compatibility=BACKWARD',
    '-Dquarkus.log.console.format=%d{HH:mm:ss} %-5p [%c{2.}] %s%e%n',
    '-jar', join(appDir, 'quarkus-run.jar'),
  ], { cwd: spec.dataDir, log: join(spec.dataDir, 'registry.log'), pidFile: join(spec.dataDir, 'registry.pid') })
}
