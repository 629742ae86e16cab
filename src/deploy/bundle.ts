import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve as resolvePath, sep } from 'node:path';
import * as tar from 'tar';
import { FlexdError } from '../errors.ts';
import { RECEIVER_GLOBAL } from '../child/protocol.ts';

/** The built artifact: a gzip'ed tar holding `bundle.js` and, when needed, `node_modules/<pkg>` kept out of it. */
export interface Bundle { code: Buffer; hash: string; notes: string[] }

/**
 * `kinvey-code-task-runner` becomes a two-line module handing the SDK flexd's IPC receiver,
 * which the replica's bootstrap (src/child/main.ts) has published before the bundle loads
 * (DESIGN.md, decision 2). The NODE_ENV default is the one the real module applies.
 */
const receiverShim: Plugin = {
  name: 'flexd-receiver',
  setup(b) {
    b.onResolve({ filter: /^kinvey-code-task-runner$/ }, () => ({ path: 'kinvey-code-task-runner', namespace: 'flexd' }));
    b.onLoad({ filter: /.*/, namespace: 'flexd' }, () => ({
      contents: `process.env.NODE_ENV = process.env.NODE_ENV || 'development';\n`
        + `module.exports = globalThis[Symbol.for(${JSON.stringify(RECEIVER_GLOBAL)})];\n`,
      loader: 'js',
    }));
  },
};

/**
 * Bundles the project's entry file and its dependencies into one CommonJS file. A dependency
 * that needs a native addon fails the build with its name: the hosted runtime did not allow
 * them either, and a bundle cannot carry one.
 */
export async function bundleProject(projectDir: string, entry: string): Promise<Bundle> {
  const notes: string[] = [];
  let result = await esbuild(projectDir, entry, []);
  // Packages that compute their require paths at run time (bson 0.4, which every SDK 3.x service
  // loads, requires its parts from an array) cannot be bundled: ship them as files beside the bundle.
  const dynamic = packagesWithDynamicRequires(projectDir, Object.keys(result.metafile!.inputs));
  const ownDynamic = result.warnings.filter((w) => w.id === 'unsupported-require-call' && w.location && !w.location.file.includes('node_modules'));
  for (const w of ownDynamic) notes.push(`warning: ${w.location!.file}:${w.location!.line} computes a require path at run time; that file's requires may fail`);
  const shipped = new Set<string>();
  if (dynamic.size > 0) {
    for (const root of dynamic) addWithDependencies(root, shipped);
    result = await esbuild(projectDir, entry, [...shipped].map(packageName));
    notes.push(`kept out of the bundle (computed requires): ${[...shipped].map(packageName).join(', ')}`);
  }
  const addon = findNativeAddon(projectDir, [...Object.keys(result.metafile!.inputs), ...[...shipped].map((r) => relative(projectDir, join(r, 'package.json')))]);
  if (addon) {
    throw new FlexdError('NativeAddonNotSupported', `The project depends on a native addon (${addon}), which flexd cannot run.`,
      { debug: `${addon} has a binding.gyp or prebuilt .node files` });
  }
  const code = await packArtifact(Buffer.from(result.outputFiles![0].contents), shipped);
  return { code, hash: createHash('sha256').update(code).digest('hex'), notes };
}

async function esbuild(projectDir: string, entry: string, external: string[]) {
  try {
    return await build({
      entryPoints: [join(projectDir, entry)],
      absWorkingDir: projectDir,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      write: false,
      metafile: true,
      logLevel: 'silent',
      legalComments: 'none',
      keepNames: true,
      external,
      plugins: [receiverShim],
    });
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
    const native = errors.find((e) => /\.node"? files|\.node$/.test(e.text));
    if (native) {
      throw new FlexdError('NativeAddonNotSupported',
        `The project depends on a native addon (${packageOf(native.location?.file ?? native.text)}), which flexd cannot run.`,
        { debug: native.text });
    }
    const first = errors.slice(0, 5).map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`).join('\n');
    throw new FlexdError('BundleFailed', `The project could not be bundled: ${errors[0]?.text ?? (err as Error).message}`, { debug: first });
  }
}

/** `require(` with anything but a string literal: a path computed at run time. */
const COMPUTED_REQUIRE = /(?<![.\w$])require\s*\(\s*(?!['"`)])/;

/**
 * Package folders (under node_modules) with a require whose path is computed at run time.
 * esbuild does not report these inside node_modules, so the bundled sources are read for them;
 * a false positive only ships a package as files, which still works.
 */
function packagesWithDynamicRequires(projectDir: string, inputs: string[]): Set<string> {
  const roots = new Set<string>();
  for (const input of inputs) {
    const file = resolvePath(projectDir, input);
    const root = packageRoot(file);
    if (!root || roots.has(root) || !/\.c?js$/.test(file)) continue;
    try {
      if (COMPUTED_REQUIRE.test(stripComments(readFileSync(file, 'utf8')))) roots.add(root);
    } catch { /* unreadable input: esbuild read it, so this does not happen */ }
  }
  return roots;
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\\])\/\/.*$/gm, '$1');
}

/** A shipped package needs its own dependencies beside it too. */
function addWithDependencies(root: string, into: Set<string>): void {
  if (into.has(root)) return;
  into.add(root);
  let deps: Record<string, string> = {};
  try {
    deps = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {};
  } catch { /* no manifest: nothing more to ship */ }
  const req = createRequire(join(root, 'package.json'));
  for (const name of Object.keys(deps)) {
    try {
      const dep = packageRoot(req.resolve(`${name}/package.json`));
      if (dep) addWithDependencies(dep, into);
    } catch { /* optional or missing: the package copes, as it would unbundled */ }
  }
}

function packageName(root: string): string {
  const parts = root.split(sep);
  return parts[parts.length - 2]?.startsWith('@') ? `${parts[parts.length - 2]}/${parts[parts.length - 1]}` : parts[parts.length - 1];
}

/** bundle.js plus the shipped packages under node_modules/, as a gzip'ed tar. */
async function packArtifact(bundle: Buffer, shipped: Set<string>): Promise<Buffer> {
  const staging = mkdtempSync(join(tmpdir(), 'flexd-artifact-'));
  try {
    writeFileSync(join(staging, 'bundle.js'), bundle);
    for (const root of shipped) {
      cpSync(root, join(staging, 'node_modules', packageName(root)), { recursive: true, dereference: true,
        filter: (src) => !src.slice(root.length).split(sep).includes('node_modules') });
    }
    const chunks: Buffer[] = [];
    const stream = tar.create({ cwd: staging, gzip: true, portable: true, noMtime: true }, readdirSync(staging));
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** A bundled package whose folder holds a binding.gyp or a compiled `.node` file (loaded at run time through `bindings`, say). */
function findNativeAddon(projectDir: string, inputs: string[]): string | undefined {
  const seen = new Set<string>();
  for (const input of inputs) {
    const root = packageRoot(join(projectDir, input));
    if (!root || seen.has(root)) continue;
    seen.add(root);
    if (existsSync(join(root, 'binding.gyp')) || hasNodeFile(join(root, 'build')) || hasNodeFile(join(root, 'prebuilds'))) {
      return relative(projectDir, root).split(sep).filter((p) => p !== 'node_modules').join('/');
    }
  }
  return undefined;
}

function packageRoot(file: string): string | undefined {
  const parts = file.split(sep);
  const i = parts.lastIndexOf('node_modules');
  if (i < 0) return undefined;
  const scoped = parts[i + 1]?.startsWith('@');
  return parts.slice(0, i + (scoped ? 3 : 2)).join(sep);
}

function hasNodeFile(dir: string, depth = 3): boolean {
  if (depth === 0 || !existsSync(dir)) return false;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.node')) return true;
    if (e.isDirectory() && hasNodeFile(join(dir, e.name), depth - 1)) return true;
  }
  return false;
}

function packageOf(text: string): string {
  const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(text);
  return m ? m[1] : dirname(text);
}
