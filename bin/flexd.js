#!/usr/bin/env node
// flexd's command line. The installed package runs the compiled dist/; a checkout of the
// repository (src/ present, with its devDependency tsx) runs the TypeScript sources directly, so
// `npm start` never runs a stale build.
import { existsSync } from 'node:fs';

const hasSource = existsSync(new URL('../src/cli/main.ts', import.meta.url));
const hasBuild = existsSync(new URL('../dist/cli/main.js', import.meta.url));
let tsx;
if (hasSource) tsx = await import('tsx/esm/api').catch(() => undefined);
if (tsx) {
  tsx.register();
  await import('../src/cli/main.ts');
} else if (hasBuild) {
  await import('../dist/cli/main.js');
} else {
  console.error('flexd: no build to run (dist/) and no tsx to run the sources: run npm install (and npm run build)');
  process.exit(1);
}
