/**
 * Headless Chromium for the dashboard tests, through playwright-core (which downloads no
 * browser): Debian's `chromium` package, or the binary named by $SYNTHQ_CHROMIUM.
 *
 * A missing Chromium FAILS the test with how to install it — a browser test that silently
 * skips proves nothing — unless SYNTHQ_SKIP_BROWSER=1 says to skip on purpose.
 */
import { existsSync } from 'node:fs'
import type { TestContext } from 'node:test'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM_INSTALL_HINT = 'install it with `npx tsx scripts/ensure-chromium.ts` (runs `apt-get install -y --no-install-recommends chromium` on Debian/Ubuntu, as root), or point SYNTHQ_CHROMIUM at a Chromium/Chrome binary; SYNTHQ_SKIP_BROWSER=1 skips the browser tests on purpose'

export function chromiumPath (): string {
  return process.env.SYNTHQ_CHROMIUM || '/usr/bin/chromium'
}

/** A launched headless Chromium, or null when the test was skipped (SYNTHQ_SKIP_BROWSER=1). */
export async function launchChromium (t: TestContext): Promise<Browser | null> {
  const path = chromiumPath()
  if (process.env.SYNTHQ_SKIP_BROWSER === '1') {
    t.skip('SYNTHQ_SKIP_BROWSER=1')
    return null
  }
  if (!existsSync(path)) {
    throw new Error(`the dashboard browser test needs Chromium, and there is none at ${path}: ${CHROMIUM_INSTALL_HINT}`)
  }
  return await chromium.launch({ executablePath: path, args: ['--no-sandbox', '--disable-dev-shm-usage'], headless: true })
}
