#!/usr/bin/env node
// `npm run build`: flexd as the npm package runs it — JavaScript and .d.ts in dist/, so nothing
// needs tsx at run time. tsc compiles src/ file by file (rewriting `./x.ts` imports to `./x.js`);
// esbuild then bundles the two entries that start in a fresh process or thread, where a module
// graph of loose files would cost start-up time: the replica's entry (src/child) and the log
// thread. supervisor/child-entry.ts and logs/store-thread.ts use these when present and compile
// from source with esbuild otherwise (a checkout run with tsx).
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

// tsc rewrites `./x.ts` to `./x.js` in the JavaScript but keeps `.ts` in the declarations; older
// TypeScript in a consumer's project refuses a `.ts` import even in a .d.ts, so rewrite them too.
for (const entry of readdirSync(`${root}dist`, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const file = `${entry.parentPath ?? entry.path}/${entry.name}`; // parentPath: Node ≥ 20.12
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
  if (fixed !== text) writeFileSync(file, fixed);
}

const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', legalComments: 'none' };
buildSync({ ...common, entryPoints: [`${root}src/child/main.ts`], format: 'cjs', outfile: `${root}dist/child/entry.cjs` });
buildSync({ ...common, entryPoints: [`${root}src/logs/store-worker.ts`], format: 'esm', external: ['better-sqlite3'], outfile: `${root}dist/logs/store-worker.bundle.mjs` });
console.log('flexd: built dist/');
