/**
 * Records which modules a Node process imports, and from where: preloaded with
 * `node --import <this file>`, with FLEXD_IMPORT_LOG naming the file to write. Every import that
 * resolves (static or dynamic, of ESM or of a CommonJS package's entry) appends one JSON line
 * `{"parent": URL, "url": URL}`, so a test can follow the graph from one entry module and tell
 * what that entry loaded apart from what a loader (tsx, which loads esbuild) loaded for itself.
 * At exit, one line `{"internal": [...]}` lists Node's own modules the process loaded
 * (process.moduleLoadList: `NativeModule internal/deps/undici/undici` once fetch ran).
 *
 * Works on Node 20.6+: module.register() runs the hooks below in the loader's own thread, which
 * appends each line itself (synchronously, so nothing is lost when the process exits early).
 * The same file is both the preload (main thread: registers) and the hooks module (loader thread).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const file = process.env.FLEXD_IMPORT_LOG;
  if (!file) throw new Error('import-recorder.mjs: set FLEXD_IMPORT_LOG to the file to write');
  writeFileSync(file, '');
  register(import.meta.url, { data: { file } });
  process.on('exit', () => appendFileSync(file, `${JSON.stringify({ internal: process.moduleLoadList })}\n`));
}

let log;

export function initialize(data) {
  log = data.file;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(log, `${JSON.stringify({ parent: context.parentURL ?? null, url: resolved.url })}\n`);
  return resolved;
}
