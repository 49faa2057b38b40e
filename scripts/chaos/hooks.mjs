// Module resolution hook of the chaos workers (registered by worker.ts): every import of the
// Kafka runner, except the shim's own, resolves to kafka-runner-shim.ts, which adds the test
// settings the command line does not expose yet (see docs/reliability.md, "Hooks").
const SHIM = new URL('./kafka-runner-shim.ts', import.meta.url).href

export async function resolve (specifier, context, next) {
  if (specifier.endsWith('/runtime/kafka/kafka-runner.ts') && context.parentURL !== SHIM) {
    return next(SHIM, context) // through tsx's own resolution, which then loads the TypeScript
  }
  return next(specifier, context)
}
