/** Where the data shipped with synthq lives (see data/README.md). */
import { packagePath } from './package-root.ts'

export const REPO_DATA = packagePath('data')
