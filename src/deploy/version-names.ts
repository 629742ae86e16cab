/**
 * What a deploy calls a version and its build: the Node major a version's tree was built for, as
 * stored in its row, the number `version: 'auto'` picks, and the package.json of a build copy
 * rewritten to the version it is stored as (pipeline.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import semver from 'semver';
import { HOST_MAJOR } from '../runtimes/catalog.ts';
import type { VersionRow } from '../store/index.ts';

/** A version row's `runtime`: the major its dependency tree was built for (`node22`). */
export function builtForMajor(major: number): string {
  return `node${major}`;
}

/** The major a version was built for; versions stored before flexd had runtimes were built on the host's Node. */
export function builtMajorOf(version: VersionRow): number {
  const m = /^node(\d+)$/.exec(version.runtime ?? '');
  return m ? Number(m[1]) : HOST_MAJOR;
}

/** Rewrites the `version` of a build copy's package.json. */
export async function setPackageVersion(projectDir: string, version: string): Promise<void> {
  const file = join(projectDir, 'package.json');
  const pkg = JSON.parse((await readFile(file, 'utf8')).replace(/^\uFEFF/, '')) as Record<string, unknown>;
  await writeFile(file, `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
}

/** `version: 'auto'`: the project's own version when it is above the newest deployed, else the next patch above the newest. */
export function nextVersion(own: string, newest: string | null): string {
  if (newest === null || semver.valid(newest) === null || semver.gt(own, newest)) return own;
  return semver.inc(newest, 'patch')!;
}
