// `npm run build` (and `prepare`, so `npm ci` runs it): bundles the command line, src/cli/main.ts,
// into dist/cli/ with esbuild, so that `synthq` starts without compiling ~190 TypeScript files
// through tsx at every run. Packages stay external (imported from node_modules at run time:
// native modules and package-relative files keep working); each command's dynamic import()
// becomes a chunk of its own, so `synthq --help` loads neither KafkaJS nor SQLite.
//
//   node scripts/build.js              build
//   node scripts/build.js --if-stale   build only when src/ changed since the last build
//
// dist/cli/stamp.txt records src/ as it was when the build began; bin/synthq.js runs the bundle
// only while src/ still matches it (bin/src-stamp.js). Plain JavaScript: it runs before tsx.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { srcStamp } from '../bin/src-stamp.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'dist', 'cli')
// Taken before bundling: a file saved during the build leaves a stamp that no longer matches.
const stamp = srcStamp(root)

if (process.argv.includes('--if-stale') && existsSync(join(out, 'stamp.txt')) && readFileSync(join(out, 'stamp.txt'), 'utf8') === stamp) process.exit(0)

// Built beside dist/cli and swapped in whole, so that a synthq starting meanwhile never sees
// half a bundle (it finds no matching stamp and runs the sources instead).
const tmp = `${out}.tmp-${process.pid}`
rmSync(tmp, { recursive: true, force: true })
const t0 = Date.now()
await build({
  // vendi-worker: the sink's worker thread for the Vendi score; it needs a file of its own to be
  // started from (src/sink/diversity/vendi-thread.ts finds it at dist/cli/vendi-worker.mjs).
  entryPoints: { main: join(root, 'src', 'cli', 'main.ts'), 'vendi-worker': join(root, 'src', 'sink', 'diversity', 'vendi-worker.ts') },
  outdir: tmp,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Not loaded by default; `node --enable-source-maps bin/synthq.js …` maps stacks to src/.
  sourcemap: 'linked',
  logLevel: 'warning',
})
writeFileSync(join(tmp, 'stamp.txt'), stamp)
rmSync(out, { recursive: true, force: true })
renameSync(tmp, out)
process.stderr.write(`synthq: built dist/cli/ from src/ in ${Date.now() - t0} ms\n`)
