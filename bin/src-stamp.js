// The fingerprint of src/ that tells a current bundle from a stale one: every file's path, size
// and modification time. The build records it before bundling; bin/synthq.js recomputes it at
// each start (a directory walk and ~200 stats: ~10 ms) and runs the bundle only on an exact
// match, so an edited, added, deleted or restored-older file sends it back to the sources.
// Compared as text (~9 KB), not hashed: loading node:crypto would add ~3 ms.
// Plain JavaScript: it runs before tsx is loaded.
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

export function srcStamp (root) {
  const src = join(root, 'src')
  const lines = []
  for (const e of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const file = join(e.parentPath, e.name)
    const s = statSync(file)
    lines.push(`${relative(src, file)} ${s.size} ${s.mtimeMs}`)
  }
  return lines.sort().join('\n')
}
