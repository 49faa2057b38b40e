/** Where the data shipped with synthq lives (see data/README.md). */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_DATA = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'data')
