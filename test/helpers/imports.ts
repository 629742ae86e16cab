/**
 * Reading what test/helpers/import-recorder.mjs wrote: one JSON line per import
 * (`{"parent": URL, "url": URL}`) and, at exit, `{"internal": [...]}`. A test follows the graph
 * from one entry module, to tell what that entry loaded apart from what a loader (tsx) loaded.
 *
 *   const lines = await readImportLog(log);
 *   const loaded = reachable(lines, pathToFileURL('src/runtime.ts').href);
 *   const packages = new Set([...loaded].flatMap((u) => packageOf(u) ?? []));
 */
import { readFile } from 'node:fs/promises';

export interface ImportLine { parent?: string | null; url?: string; internal?: string[] }

export async function readImportLog(file: string): Promise<ImportLine[]> {
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as ImportLine);
}

/** Every URL reachable from `from` through the recorded imports (`from` included). */
export function reachable(lines: ImportLine[], from: string): Set<string> {
  const edges = new Map<string, Set<string>>();
  const strip = (u: string) => u.replace(/[?#].*$/, '');
  for (const { parent, url } of lines) {
    if (!parent || !url) continue;
    const set = edges.get(strip(parent)) ?? new Set<string>();
    set.add(strip(url));
    edges.set(strip(parent), set);
  }
  const seen = new Set<string>([from]);
  const queue = [from];
  for (let url = queue.pop(); url !== undefined; url = queue.pop()) {
    for (const next of edges.get(url) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

/** The package a module URL or path belongs to (`…/node_modules/@scope/name/…` → `@scope/name`), if any. */
export function packageOf(urlOrPath: string): string | undefined {
  return /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(urlOrPath)?.[1];
}
