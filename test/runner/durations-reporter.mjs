// A node:test reporter that writes, as one JSON object, how long each test file's top-level
// tests took (ms, by file path). test/run.ts passes it alongside the visible reporter and keeps
// the figures to start the slowest files first next time (test/runner/durations.ts).
// Plain JavaScript: the test processes of the unit tier run without tsx.
export default async function * durationsReporter (source) {
  const perFile = new Map()
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      perFile.set(event.data.file, (perFile.get(event.data.file) ?? 0) + (event.data.details?.duration_ms ?? 0))
    }
  }
  yield `${JSON.stringify(Object.fromEntries(perFile))}\n`
}
