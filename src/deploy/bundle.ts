import { build, stop as stopEsbuild, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { FlexdError } from '../errors.ts';
import { ARTIFACT_DIR_GLOBAL, RECEIVER_GLOBAL } from '../child/protocol.ts';
import { ARTIFACT_PROJECT, packArtifact } from './artifact.ts';
import { findNativeAddon, installedPackage, packageName, packageRoot, packagesWithComputedRequires, packageVersion, withDependencies } from './packages.ts';

/** The built artifact (see artifact.ts) and what the build wants the user to know. */
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

/** `'use strict'` and friends must stay first in a file, or the file changes meaning. */
const DIRECTIVE_PROLOGUE = /^(?:\s*(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/|(['"])use strict\1;?))*/;

/**
 * In a bundle every file would see the bundle's `__dirname`. A project file that reads a file
 * beside itself (`fs.readFileSync(path.join(__dirname, 'template.html'))`) gets its own
 * `__dirname` back, pointing into the artifact's copy of the project. Injected on the file's
 * first line so stack-trace line numbers stay the user's.
 */
function projectPaths(projectDir: string): Plugin {
  return {
    name: 'flexd-project-paths',
    setup(b) {
      b.onLoad({ filter: /\.(c?js)$/ }, async (args) => {
        if (args.path.split(sep).includes('node_modules') || !args.path.startsWith(projectDir + sep)) return undefined;
        const source = await readFile(args.path, 'utf8');
        const rel = relative(projectDir, args.path).split(sep).join('/');
        const inject = `var __filename = require('path').join(globalThis[Symbol.for(${JSON.stringify(ARTIFACT_DIR_GLOBAL)})], ${JSON.stringify(`${ARTIFACT_PROJECT}/${rel}`)}), __dirname = require('path').dirname(__filename);`;
        const prologue = DIRECTIVE_PROLOGUE.exec(source)?.[0] ?? '';
        const body = source.slice(prologue.length);
        return { contents: source.startsWith('#!') ? source : `${prologue}${inject}${body}`, loader: 'js' };
      });
    },
  };
}

/**
 * keepNames makes the bundle call `__name(fn, "name")` (an Object.defineProperty) for every named
 * function and class it creates, at run time, again for every closure created per request. Only
 * the few functions esbuild renamed (process -> process2) need it: skip the others.
 */
const NAME_HELPER = 'var __name = (target, value) => __defProp(target, "name", { value, configurable: true });';
const CHEAP_NAME_HELPER = 'var __name = (target, value) => target.name === value ? target : __defProp(target, "name", { value, configurable: true });';
function cheapKeepNames(code: string): string {
  const at = code.indexOf(NAME_HELPER);
  return at === -1 ? code : code.slice(0, at) + CHEAP_NAME_HELPER + code.slice(at + NAME_HELPER.length);
}

/** esbuild's async API keeps a service process (90-200 MB) after a build: stop it when no build runs. */
let buildsRunning = 0;

/**
 * Bundles the project's entry file and its dependencies into one CommonJS file. A dependency
 * that needs a native addon fails the build with its name: the hosted runtime did not allow
 * them either, and a bundle cannot carry one.
 */
export async function bundleProject(projectDir: string, entry: string): Promise<Bundle> {
  buildsRunning++;
  try {
    return await bundleProjectNow(projectDir, entry);
  } finally {
    if (--buildsRunning === 0) await stopEsbuild();
  }
}

/**
 * Packages (name@version) an earlier build of this process had to ship as files. Seeding the
 * next build with them saves its second esbuild pass: every SDK service bundles bson 0.4, and
 * finding that out again cost ~280 ms per deploy (npm run bench).
 */
const knownUnbundlable = new Set<string>();

/** The known-unbundlable packages this project resolves at its top level, at the same version. */
function seedShipped(projectDir: string): Set<string> {
  const seeded = new Set<string>();
  for (const id of knownUnbundlable) {
    const at = id.lastIndexOf('@');
    const found = installedPackage(projectDir, id.slice(0, at));
    if (found && found.version === id.slice(at + 1)) withDependencies(found.root, seeded);
  }
  return seeded;
}

async function bundleProjectNow(projectDir: string, entry: string): Promise<Bundle> {
  const notes: string[] = [];
  const shipped = seedShipped(projectDir);
  // A seeded package the bundle turns out not to require is shipped anyway: a few files more.
  let result = await buildShipping(projectDir, entry, shipped);
  // Packages that compute their require paths at run time (bson 0.4, which every SDK 3.x service
  // loads, requires its parts from an array) cannot be bundled: ship them as files beside the bundle.
  const computed = [...packagesWithComputedRequires(projectDir, Object.keys(result.metafile.inputs))].filter((r) => !shipped.has(r));
  if (computed.length > 0) {
    for (const root of computed) withDependencies(root, shipped);
    result = await buildShipping(projectDir, entry, shipped);
  }
  for (const root of shipped) {
    const version = packageVersion(root);
    if (version) knownUnbundlable.add(`${packageName(root)}@${version}`);
  }
  if (shipped.size > 0) notes.push(`kept out of the bundle, shipped as files: ${[...shipped].map(packageName).join(', ')}`);
  for (const w of result.warnings) {
    if (w.id === 'unsupported-require-call' && w.location && !w.location.file.includes('node_modules')) {
      notes.push(`warning: ${w.location.file}:${w.location.line} computes a require path at run time; that require may fail`);
    }
  }
  const roots = new Set([...shipped, ...Object.keys(result.metafile.inputs).map((i) => packageRoot(join(projectDir, i))).filter((r): r is string => !!r)]);
  const addon = findNativeAddon(projectDir, roots);
  if (addon) {
    throw new FlexdError('NativeAddonNotSupported', `The project depends on a native addon (${addon}), which flexd cannot run.`,
      { debug: `${addon} has a binding.gyp or prebuilt .node files` });
  }
  const code = await packArtifact(Buffer.from(cheapKeepNames(result.outputFiles[0].text)), projectDir, shipped);
  return { code, hash: createHash('sha256').update(code).digest('hex'), notes };
}

/** How many rounds of "ship that package as files and build again" a build may take. */
const MAX_SHIPPING_ROUNDS = 5;

/**
 * Builds with `shipped` packages kept external. A package whose own files esbuild cannot
 * resolve (kinvey-datalink-errors 0.3, under SDK 2.x, requires CoffeeScript through a
 * require hook) joins `shipped` with its dependencies, and the build runs again.
 */
async function buildShipping(projectDir: string, entry: string, shipped: Set<string>) {
  for (let round = 0; ; round++) {
    try {
      return await esbuild(projectDir, entry, [...shipped].map(packageName));
    } catch (err) {
      const unresolved = (err as { unresolvedIn?: string[] }).unresolvedIn;
      const fresh = unresolved?.map((file) => packageRoot(join(projectDir, file))).filter((r): r is string => !!r && !shipped.has(r));
      if (!fresh || fresh.length === 0 || fresh.length !== unresolved!.length || round >= MAX_SHIPPING_ROUNDS) throw err;
      for (const root of fresh) withDependencies(root, shipped);
    }
  }
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
      // Names esbuild renames on a collision (a class ValidationError in lib/errors.js becomes
      // ValidationError2) must keep their own `.name`: a service's errors show it. See cheapKeepNames.
      keepNames: true,
      external,
      plugins: [receiverShim, projectPaths(projectDir)],
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
    const failure = new FlexdError('BundleFailed', `The project could not be bundled: ${errors[0]?.text ?? (err as Error).message}`, { debug: first });
    // Unresolvable requires inside packages can be worked around by shipping those packages as files.
    const unresolvedIn = errors.every((e) => e.text.startsWith('Could not resolve') && e.location?.file.includes('node_modules'))
      ? errors.map((e) => e.location!.file) : undefined;
    throw Object.assign(failure, { unresolvedIn });
  }
}

function packageOf(text: string): string {
  const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(text);
  return m ? m[1] : dirname(text);
}
