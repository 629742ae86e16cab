#!/usr/bin/env node
// flexd's command line. The installed package runs the compiled dist/; a checkout of the
// repository (src/ present, with its devDependency tsx) runs the TypeScript sources directly, so
// `npm start` never runs a stale build.
import { existsSync } from 'node:fs';

const fromSource = existsSync(new URL('../src/cli/main.ts', import.meta.url));
if (fromSource) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
} else {
  await import('../dist/cli/main.js');
}
