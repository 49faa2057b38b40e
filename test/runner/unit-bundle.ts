/**
 * The unit tier's files, compiled once before they run (`npm run test:unit`).
 *
 * Through `--import tsx`, every test process pays for tsx's loader hooks on each module it
 * imports — node_modules included — which on a 2-core machine was about a third of the unit
 * tier's CPU (0.7 s of 1.7 s for a typical file). esbuild bundles all the files in one go
 * instead (about half a second), with shared code split into chunks and packages left external,
 * and the test processes run plain JavaScript.
 *
 * What keeps the bundles faithful to the sources:
 * - `import.meta.url` (and `dirname`/`filename`) is replaced, module by module, with the
 *   module's own source location. Fixtures, the repository root, schema files and worker
 *   entry points are found where they are, as under tsx. A module that starts a worker or a
 *   child process from a `.ts` file still registers tsx there itself.
 * - Inline source maps, and `--enable-source-maps` on the test processes: a failure's stack
 *   names the `.ts` file and line.
 * - `npm run test:coverage` does not use this: it keeps running the sources through tsx, so that
 *   c8 measures them as they are.
 *
 * SYNTHQ_TEST_BUNDLE=0 runs the unit tier through tsx as well, for a suspected difference.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build, transformSync, type Plugin, type TsconfigRaw } from 'esbuild'

/**
 * Each module sees its own source location as `import.meta.url`, not the bundle's: compiled on
 * its own with the location defined as a constant (esbuild replaces the expression only, never
 * the same words inside a string), under the project's tsconfig, with an inline source map
 * that the bundle's map follows back to the `.ts` file.
 */
function sourceLocation (root: string): Plugin {
  const tsconfig = join(root, 'tsconfig.json')
  const tsconfigRaw = existsSync(tsconfig) ? JSON.parse(readFileSync(tsconfig, 'utf8')) as TsconfigRaw : {}
  return {
    name: 'synthq-source-location',
    setup (b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8')
        if (!text.includes('import.meta')) return undefined
        const { code } = transformSync(text, {
          loader: 'ts',
          format: 'esm',
          target: 'node20',
          tsconfigRaw,
          sourcefile: args.path,
          sourcemap: 'inline',
          define: {
            'import.meta.url': JSON.stringify(pathToFileURL(args.path).href),
            'import.meta.dirname': JSON.stringify(dirname(args.path)),
            'import.meta.filename': JSON.stringify(args.path),
          },
        })
        return { contents: code, loader: 'js', resolveDir: dirname(args.path) }
      })
    },
  }
}

export interface UnitBundle {
  /** The bundle of each file, in the order given. */
  files: string[]
  /** Deletes the bundles. */
  remove (): void
}

/**
 * Bundles `files` (paths relative to `root`) into a directory of their own under `outRoot`,
 * one `.mjs` per file at the same relative path. Throws with esbuild's messages when a file
 * does not compile.
 */
export async function bundleUnitTier (files: readonly string[], root: string, outRoot: string): Promise<UnitBundle> {
  const outdir = join(outRoot, `unit-${process.pid}`)
  rmSync(outdir, { recursive: true, force: true })
  mkdirSync(outdir, { recursive: true })
  await build({
    entryPoints: files.map((f) => join(root, f)),
    outbase: root,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Imported from node_modules at run time, as the sources do (native modules, package files).
    packages: 'external',
    sourcemap: 'inline',
    plugins: [sourceLocation(root)],
    logLevel: 'silent',
  })
  return {
    files: files.map((f) => join(outdir, f.replace(/\.ts$/, '.mjs'))),
    remove: () => { rmSync(outdir, { recursive: true, force: true }) },
  }
}
