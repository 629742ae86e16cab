import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import * as tar from 'tar';
import { packageName } from './packages.ts';

/**
 * What a replica runs, stored in SQLite as one gzip'ed tar:
 *
 *   bundle.cjs              the project and its dependencies, bundled (.cjs: CommonJS even
 *                           when a package.json above the data dir says "type": "module")
 *   project/…               the project's own files (not node_modules), for files read at run time
 *   node_modules/<pkg>/…    packages that could not be bundled (computed require paths)
 */
export const ARTIFACT_BUNDLE = 'bundle.cjs';
export const ARTIFACT_PROJECT = 'project';

/** Paths never copied from a project: installed or generated, not the user's files. */
const NOT_PROJECT_FILES = ['node_modules', '.git', '.svn', 'output.log'];

export async function packArtifact(bundle: Uint8Array, projectDir: string, shipped: Set<string>): Promise<Buffer> {
  const staging = mkdtempSync(join(tmpdir(), 'flexd-artifact-'));
  try {
    writeFileSync(join(staging, ARTIFACT_BUNDLE), bundle);
    cpSync(projectDir, join(staging, ARTIFACT_PROJECT), {
      recursive: true,
      filter: (src) => !relative(projectDir, src).split(sep).some((part) => NOT_PROJECT_FILES.includes(part)),
    });
    for (const root of shipped) {
      cpSync(root, join(staging, 'node_modules', packageName(root)), {
        recursive: true, dereference: true, filter: (src) => !src.slice(root.length).split(sep).includes('node_modules'),
      });
    }
    const chunks: Buffer[] = [];
    const stream = tar.create({ cwd: staging, gzip: true, portable: true, noMtime: true }, readdirSync(staging));
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
