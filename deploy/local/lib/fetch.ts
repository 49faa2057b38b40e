/**
 * Downloads Apache Kafka and Apicurio Registry from Maven Central, once per machine.
 *
 * Maven does the fetching (it verifies checksums and resolves Kafka's dependency tree); the
 * results are copied into the synthq cache. A folder is only moved into place once complete, so
 * an interrupted download is redone rather than half-used.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cacheDir, DEPLOY_LOCAL_DIR } from './paths.ts'
import { APICURIO_VERSION, KAFKA_VERSION } from './versions.ts'

const COMPLETE = '.complete'

function mvn (args: string[], what: string): void {
  const r = spawnSync('mvn', ['-B', '-q', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  if (r.error) throw new Error(`Fetching ${what} needs Maven (mvn) on PATH: ${r.error.message}`)
  if (r.status !== 0) {
    const tail = (r.stdout + r.stderr).trim().split('\n').slice(-15).join('\n')
    throw new Error(`Maven could not fetch ${what} (exit ${r.status}):\n${tail}`)
  }
}

/** Builds a cache folder with `fill` and moves it into place atomically. */
function cached (name: string, fill: (tmp: string) => void): string {
  const dir = join(cacheDir(), name)
  if (existsSync(join(dir, COMPLETE))) return dir
  mkdirSync(cacheDir(), { recursive: true })
  const tmp = `${dir}.partial-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  try {
    fill(tmp)
    writeFileSync(join(tmp, COMPLETE), new Date().toISOString())
    rmSync(dir, { recursive: true, force: true })
    renameSync(tmp, dir)
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true })
    throw err
  }
  return dir
}

/** Folder of jars that make up the Kafka broker, controller and tools. */
export function ensureKafka (log: (msg: string) => void = () => {}): string {
  // The folder name carries a hash of the POM, so editing its dependencies fetches afresh.
  const pom = join(DEPLOY_LOCAL_DIR, 'pom.xml')
  const pomHash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 8)
  return join(cached(`kafka-${KAFKA_VERSION}-${pomHash}`, (tmp) => {
    log(`fetching Apache Kafka ${KAFKA_VERSION} from Maven Central…`)
    mvn(['-f', pom, `-Dkafka.version=${KAFKA_VERSION}`,
      'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${join(tmp, 'libs')}`], `Apache Kafka ${KAFKA_VERSION}`)
    const jars = readdirSync(join(tmp, 'libs'))
    if (!jars.some((j) => j.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) throw new Error('Kafka jars missing after Maven fetch')
  }), 'libs')
}

/** Folder holding Apicurio Registry's quarkus-run.jar. */
export function ensureApicurio (log: (msg: string) => void = () => {}): string {
  return join(cached(`apicurio-registry-${APICURIO_VERSION}`, (tmp) => {
    log(`fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central (~160 MB)…`)
    mvn(['org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy',
      `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`, `-DoutputDirectory=${tmp}`],
    `Apicurio Registry ${APICURIO_VERSION}`)
    const archive = join(tmp, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`)
    mkdirSync(join(tmp, 'app'))
    const r = spawnSync('tar', ['xzf', archive, '-C', join(tmp, 'app')], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`Could not unpack ${archive}: ${r.stderr}`)
    rmSync(archive)
    if (!existsSync(join(tmp, 'app', 'quarkus-run.jar'))) throw new Error('quarkus-run.jar missing from the Apicurio archive')
  }), 'app')
}
