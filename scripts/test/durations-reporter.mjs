// A node:test reporter that writes nothing to the console: it collects how long each test file
// ran (its top-level tests, first start to last end) and, when the run ends, writes them as JSON to
// its destination. scripts/test.mjs starts the longest files first on the next run.
export default async function* durations(source) {
  const files = new Map();
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      const ms = event.data.details?.duration_ms ?? 0;
      files.set(event.data.file, (files.get(event.data.file) ?? 0) + ms);
    }
  }
  yield `${JSON.stringify(Object.fromEntries(files), null, 1)}\n`;
}
