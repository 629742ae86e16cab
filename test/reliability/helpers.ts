/**
 * What the reliability battery (RELIABILITY.md F1, F11, F12, L4–L6) adds to the lifecycle
 * helpers (test/lifecycle/helpers.ts: runtimes, fixtures, requests, process checks): a seeded
 * random source, database and artifact checks, percentiles and resident memory.
 *
 *   const random = seededRandom(0xf1);
 *   assert.equal(await h.rt.context.store.integrityCheck(), 'ok');
 *   const p99 = percentile(records.map((r) => r.endedAt - r.startedAt), 99);
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RELIABILITY_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/reliability/', import.meta.url));

/**
 * mulberry32: a small PRNG whose whole state is the seed, so a failing run is repeated by
 * putting its seed (printed in the test's name) back.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The unpacked artifacts replicas run from, as `<environment id>/v-<version id>`: under the run
 * dir that `<dataDir>/run-dir` names (src/supervisor/sandbox.ts).
 */
export function artifactDirs(dataDir: string): string[] {
  let runDir: string;
  try {
    runDir = readFileSync(join(dataDir, 'run-dir'), 'utf8').trim();
  } catch {
    return [];
  }
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'runtime')
    .flatMap((e) => readdirSync(join(runDir, e.name)).filter((n) => n.startsWith('v-') || n.startsWith('.staging-')).map((n) => `${e.name}/${n}`))
    .sort();
}

/**
 * Folders left in the builds folder (a deploy's scratch space, deploy/box.ts), or in the one of
 * older flexd. Throws when flexd's builds folder is not where this looks (it makes it at start):
 * an empty list then would prove nothing.
 */
export function buildDirs(dataDir: string): string[] {
  const current = join(dataDir, 'build', 'jobs');
  if (!existsSync(current)) throw new Error(`no builds folder at ${current}: has flexd moved it (src/deploy/box.ts)?`);
  return [current, join(dataDir, 'builds')].flatMap((dir) => (existsSync(dir) ? readdirSync(dir) : []));
}

/** The `p`th percentile (nearest rank) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Resident memory of a process in bytes (VmRSS), or 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const MiB = 1024 * 1024;
