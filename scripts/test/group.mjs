// Several test files in one Node process, one after the other: scripts/test.mjs starts this (with
// tsx, the reporters and the files as arguments) instead of one process per file for the files
// that share a group (see `groups` there). Most of a light file's CPU is the process's own start:
// tsx's loader thread and the ~290 modules of flexd and its packages, about a second of CPU that
// a group pays once.
//
// Each file runs inside a suite named by its path, which node:test runs to its end (the file's
// tests, then its after hooks) before the next file is imported: a file's top-level before and
// after hooks belong to its own suite, not to the process, and its top-level awaits run in turn.
// A file that cannot be imported (a syntax error, a top-level await that throws) fails its suite,
// with the error, and the next file runs.
import { describe } from 'node:test';
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

for (const file of process.argv.slice(2)) {
  const path = resolve(file);
  await describe(relative(process.cwd(), path), async () => {
    await import(pathToFileURL(path).href);
  });
}
