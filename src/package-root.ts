/**
 * The directory holding synthq's package.json: where data/, schemas/, src/dashboard/static/ and
 * node_modules/ are. Found by walking up from this module rather than by a fixed number of `..`,
 * because the module runs from two depths: src/ (through tsx) and dist/cli/ (the esbuild bundle,
 * where every module's import.meta.url is the bundle's).
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot (): { root: string, version: string } {
  const start = dirname(fileURLToPath(import.meta.url))
  for (let dir = start; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string, version: string }
      if (pkg.name === 'synthq') return { root: dir, version: pkg.version }
    }
    if (dirname(dir) === dir) throw new Error(`synthq: no package.json of synthq above ${start}`)
  }
}

const found = findRoot()

export const PACKAGE_ROOT: string = found.root
/** synthq's version, from package.json (one place to bump it). */
export const PACKAGE_VERSION: string = found.version

/** A path inside the package. */
export function packagePath (...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts)
}

/** `require` resolving from the package root: finds synthq's own node_modules wherever the calling code was bundled to. */
export const packageRequire: NodeJS.Require = createRequire(join(PACKAGE_ROOT, 'package.json'))
