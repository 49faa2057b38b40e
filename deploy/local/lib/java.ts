/**
 * Finds a Java runtime of at least a given major version. Kafka 4.x needs 17; Apicurio Registry
 * 3.3 is compiled for 21. Candidates, in order: $SYNTHQ_JAVA_HOME, $JAVA_HOME, `java` on PATH,
 * then every JDK under /usr/lib/jvm (newest first).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

export interface JavaRuntime {
  bin: string
  major: number
}

/** The major version `bin -version` reports, or undefined when it cannot run. */
function majorOf (bin: string): number | undefined {
  // `java -version` prints its banner on stderr.
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return undefined
  return parseMajor(r.stderr + r.stdout)
}

export function parseMajor (banner: string): number | undefined {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(banner)
  if (!m) return undefined
  const first = Number(m[1])
  return first === 1 ? Number(m[2]) : first
}

function candidates (): string[] {
  const out: string[] = []
  for (const home of [process.env.SYNTHQ_JAVA_HOME, process.env.JAVA_HOME]) {
    if (home) out.push(join(home, 'bin', 'java'))
  }
  out.push('java')
  const jvm = '/usr/lib/jvm'
  if (existsSync(jvm)) {
    const homes = readdirSync(jvm).sort().reverse()
    for (const h of homes) {
      const bin = join(jvm, h, 'bin', 'java')
      if (existsSync(bin)) out.push(bin)
    }
  }
  return [...new Set(out)]
}

export function findJava (minMajor: number, purpose: string): JavaRuntime {
  const seen: string[] = []
  for (const bin of candidates()) {
    const major = majorCached(bin)
    if (major === undefined) continue
    seen.push(`${bin} (${major})`)
    if (major >= minMajor) return { bin, major }
  }
  throw new Error(
    `${purpose} needs Java ${minMajor} or newer; found ${seen.length ? seen.join(', ') : 'no Java at all'}. ` +
    `Install a JDK ${minMajor}+ (e.g. apt-get install openjdk-${minMajor}-jre-headless) or point SYNTHQ_JAVA_HOME at one.`
  )
}

const cache = new Map<string, number | undefined>()
function majorCached (bin: string): number | undefined {
  if (!cache.has(bin)) cache.set(bin, majorOf(bin))
  return cache.get(bin)
}
