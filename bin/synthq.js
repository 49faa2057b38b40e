#!/usr/bin/env node
// synthq's command line. It runs the bundle `npm run build` makes (dist/cli/, also built by
// `npm ci`) when that was built from src/ exactly as it is now, else the TypeScript sources
// through tsx's loader, which compiles them at every start (0.2–0.6 s more). So an edit in src/
// takes effect at once, without a build; SYNTHQ_FROM_SOURCE=1 always runs the sources.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { srcStamp } from './src-stamp.js'

function bundleIsCurrent () {
  try {
    return readFileSync(new URL('../dist/cli/stamp.txt', import.meta.url), 'utf8') === srcStamp(fileURLToPath(new URL('..', import.meta.url)))
  } catch {
    return false // no bundle (not built, or being rebuilt)
  }
}

const fromSource = process.env.SYNTHQ_FROM_SOURCE !== undefined && process.env.SYNTHQ_FROM_SOURCE !== '' && process.env.SYNTHQ_FROM_SOURCE !== '0'
if (!fromSource && bundleIsCurrent()) {
  await import('../dist/cli/main.mjs')
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../src/cli/main.ts')
}
