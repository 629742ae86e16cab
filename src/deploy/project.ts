import fs from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { FlexdError } from '../errors.ts';

/** What a deploy needs to know about an unpacked Flex project, read from its package.json. */
export interface ProjectManifest {
  /** package.json `name`, or '' when it has none (Kinvey never required one) */
  name: string;
  /** package.json `version`, normalized by semver (`v1.2.3` → `1.2.3`) */
  version: string;
  /** the entry file, relative to the project, with `/` separators: `main` resolved the way Node resolves it, or `index.js` */
  main: string;
  dependencies: Record<string, string>;
  /** `dependencies['kinvey-flex-sdk']` as written */
  sdkRange: string;
}

const SDK = 'kinvey-flex-sdk';

/**
 * Reads and checks `dir/package.json`: a semver `version`, `kinvey-flex-sdk` in `dependencies`,
 * and an entry file that exists.
 *
 * @example
 *   const { version, main } = await readProject(root); // { version: '1.4.3', main: 'index.js', … }
 *
 * @throws FlexdError `InvalidProject` (400) naming exactly what is missing or wrong
 */
export async function readProject(dir: string): Promise<ProjectManifest> {
  const pkg = await readPackageJson(dir);

  if (pkg.version === undefined) refuse('package.json has no "version". Add one, for example "version": "1.0.0".');
  const version = typeof pkg.version === 'string' ? semver.valid(pkg.version) : null;
  if (version === null) refuse(`package.json "version" ${JSON.stringify(pkg.version)} is not a semver version such as 1.0.0.`);

  const dependencies = pkg.dependencies ?? {};
  if (!isPlainObject(dependencies) || Object.values(dependencies).some((spec) => typeof spec !== 'string')) {
    refuse('package.json "dependencies" must be an object of package names to version strings.');
  }
  const sdkRange = (dependencies as Record<string, string>)[SDK];
  if (typeof sdkRange !== 'string' || sdkRange.trim() === '') {
    const elsewhere = isPlainObject(pkg.devDependencies) && SDK in pkg.devDependencies ? ` (it is in "devDependencies"; move it)` : '';
    refuse(`package.json "dependencies" has no "${SDK}"${elsewhere}. A Flex service needs it, for example "${SDK}": "^3.3.0".`);
  }

  return {
    name: typeof pkg.name === 'string' ? pkg.name : '',
    version,
    main: await resolveEntry(dir, pkg.main),
    dependencies: dependencies as Record<string, string>,
    sdkRange,
  };
}

/**
 * Refuses a version that is not strictly greater than the newest deployed one (Kinvey refused to
 * deploy the same version twice). A `newestDeployed` that is not semver is not comparable, and
 * passes, as kinvey-cli's own check does.
 *
 * @example checkVersionIncreases('1.0.1', '1.0.0') // passes; ('1.0.0', '1.0.0') throws
 * @throws FlexdError `DeploymentVersionTooLow` (409)
 */
export function checkVersionIncreases(version: string, newestDeployed: string | null): void {
  if (newestDeployed === null || semver.valid(newestDeployed) === null) return;
  if (semver.gt(version, newestDeployed)) return;
  throw new FlexdError('DeploymentVersionTooLow',
    `Version ${version} is not greater than the deployed version ${newestDeployed}. Bump the version in package.json and try again.`,
    { status: 409 });
}

async function readPackageJson(dir: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, 'package.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') refuse('The project has no package.json at its root.');
    throw err;
  }
  let pkg: unknown;
  try {
    pkg = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    refuse(`package.json is not valid JSON: ${(err as Error).message}.`);
  }
  if (!isPlainObject(pkg)) refuse('package.json must hold a JSON object.');
  return pkg;
}

/**
 * Node's rule for `main`: the path itself, then with `.js`, then as a folder's `index.js`;
 * without `main`, `index.js`. The result must be a file inside the project.
 */
async function resolveEntry(dir: string, main: unknown): Promise<string> {
  if (main !== undefined && typeof main !== 'string') refuse('package.json "main" must be a string.');
  const declared = typeof main === 'string' && main.trim() !== '' ? main : 'index.js';
  const relative = path.posix.normalize(declared.replaceAll('\\', '/'));
  if (path.posix.isAbsolute(relative) || relative === '..' || relative.startsWith('../')) {
    refuse(`package.json "main" ${JSON.stringify(declared)} points outside the project.`);
  }
  const base = relative.replace(/\/+$/, '');
  const candidates = base === '.' ? ['index.js'] : [base, `${base}.js`, `${base}/index.js`];
  for (const candidate of candidates) {
    const stat = await fs.stat(path.join(dir, candidate)).catch(() => null);
    if (stat?.isFile()) return candidate;
  }
  const source = typeof main === 'string' && main.trim() !== '' ? 'package.json "main"' : 'the default entry, as package.json has no "main"';
  refuse(`The entry file ${JSON.stringify(declared)} (${source}) does not exist in the project.`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse(message: string): never {
  throw new FlexdError('InvalidProject', message, { status: 400 });
}
