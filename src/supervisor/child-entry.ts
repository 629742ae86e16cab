import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFromSource } from '../source-bundle.ts';

const CHILD_SOURCE = fileURLToPath(new URL('../child/main.ts', import.meta.url));
/** The same, compiled by `npm run build` (scripts/build.mjs): the installed package has no .ts sources. */
const CHILD_PREBUILT = fileURLToPath(new URL('../child/entry.cjs', import.meta.url));

/**
 * Compiles src/child (the code that runs inside every replica) to one CommonJS file in the
 * data dir, named by its content hash, so replicas start with plain `node` — no TypeScript
 * loader in the child, a cold start pays only Node's own start-up.
 */
export function buildChildEntry(dataDir: string): string {
  const code = existsSync(CHILD_PREBUILT) ? readFileSync(CHILD_PREBUILT) : Buffer.from(bundleFromSource('replica-entry', {
    entryPoints: [CHILD_SOURCE], bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent', legalComments: 'none',
  }));
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const dir = join(dataDir, 'runtime');
  const file = join(dir, `child-${hash}.cjs`);
  if (!existsSync(file) || !readFileSync(file).equals(code)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${file}.tmp`, code);
    renameSync(`${file}.tmp`, file);
  }
  return file;
}
