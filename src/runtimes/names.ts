import { FlexdError } from '../errors.ts';

/**
 * Runtime names (docs/runtimes.md). An environment's `runtime` names a Node major:
 * `flex-runtime-node22` as the API and kinvey-cli spell it, `node22` as people type it. Kinvey's
 * old names (`node6`–`node12`, whose Nodes are long out of support) stay accepted and run on the
 * major the operator's table maps them to. A name configured at `serve --runtime NAME=/path/to/node`
 * runs that executable.
 */

/** The oldest major flexd runs replicas on: the child entry and the permission model need it. */
export const OLDEST_SUPPORTED_MAJOR = 20;
/** Kinvey's runtime names, whose Nodes flexd does not have. */
export const KINVEY_LEGACY_MAJORS = [6, 8, 10, 12] as const;
/** The majors flexd is tested on; others ≥ OLDEST_SUPPORTED_MAJOR run if the registry has them. */
export const TESTED_MAJORS = [20, 22, 24] as const;

const API_PREFIX = 'flex-runtime-';

/** What a runtime name asks for. */
export type RuntimeChoice =
  | { kind: 'major'; name: string; major: number; legacy?: { major: number } }
  | { kind: 'configured'; name: string; path: string };

/** The API's spelling of a major: `flex-runtime-node22`. */
export function runtimeName(major: number): string {
  return `${API_PREFIX}node${major}`;
}

/** `flex-runtime-node22` or `node22` → 22; anything else → undefined. */
export function majorOf(name: string): number | undefined {
  const m = /^(?:flex-runtime-)?node(\d{1,3})$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Kinvey's old names and the major each runs on: `node6=20,node8=20,node10=22,node12=22`
 * (`--legacy-runtimes`); a name left out runs on the oldest supported major.
 *
 * @throws FlexdError `InvalidConfiguration` for a table that is not of that shape
 */
export function parseLegacyTable(text: string): Map<number, number> {
  const table = new Map<number, number>(KINVEY_LEGACY_MAJORS.map((m) => [m, OLDEST_SUPPORTED_MAJOR]));
  for (const entry of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(?:flex-runtime-)?node(\d+)\s*=\s*(?:flex-runtime-)?(?:node)?(\d+)$/.exec(entry);
    const from = m ? Number(m[1]) : NaN;
    const to = m ? Number(m[2]) : NaN;
    if (!m || !(KINVEY_LEGACY_MAJORS as readonly number[]).includes(from) || to < OLDEST_SUPPORTED_MAJOR) {
      throw new FlexdError('InvalidConfiguration',
        `--legacy-runtimes: "${entry}" is not OLD=NEW with OLD one of ${KINVEY_LEGACY_MAJORS.map((x) => `node${x}`).join(', ')} and NEW a major ≥ ${OLDEST_SUPPORTED_MAJOR} (for example node12=22)`, { status: 500 });
    }
    table.set(from, to);
  }
  return table;
}

/**
 * Reads a runtime name: a configured executable's name, a supported major, or one of Kinvey's
 * old names (mapped through `legacy`).
 *
 * @throws FlexdError `InvalidRuntime` (400) naming what flexd accepts
 */
export function parseRuntimeName(name: string, configured: Readonly<Record<string, string>>, legacy: ReadonlyMap<number, number>): RuntimeChoice {
  if (Object.hasOwn(configured, name)) return { kind: 'configured', name, path: configured[name]! };
  const major = majorOf(name);
  const canonical = major === undefined ? name : runtimeName(major);
  if (major !== undefined && legacy.has(major)) return { kind: 'major', name: canonical, major, legacy: { major: legacy.get(major)! } };
  if (major !== undefined && major >= OLDEST_SUPPORTED_MAJOR) return { kind: 'major', name: canonical, major };
  const why = major === undefined ? `"${name}" is not a runtime name` : `Node ${major} is older than the oldest Node flexd runs (${OLDEST_SUPPORTED_MAJOR})`;
  throw invalidRuntime(`${why}. Use ${TESTED_MAJORS.map(runtimeName).join(', ')} (or node20, node22, node24), Kinvey's ${KINVEY_LEGACY_MAJORS.map(runtimeName).join(', ')}`
    + `${Object.keys(configured).length > 0 ? `, or a runtime configured at serve: ${Object.keys(configured).join(', ')}` : ''}.`);
}

/** The major a choice runs on. */
export function effectiveMajor(choice: Extract<RuntimeChoice, { kind: 'major' }>): number {
  return choice.legacy?.major ?? choice.major;
}

export function invalidRuntime(reason: string): FlexdError {
  return new FlexdError('InvalidRuntime', reason, { status: 400 });
}
