/** synthq's version, from package.json (one place to bump it). */
export { PACKAGE_VERSION as SYNTHQ_VERSION } from './package-root.ts'
