import { realpathSync } from 'node:fs';
import { sep } from 'node:path';

/**
 * Turns the paths of a replica's project folder into paths relative to the project: a stack
 * names `lib/thrower.js:3:9`, as the user's own checkout would, never a folder of flexd's data
 * dir. Applied in the parent to every text it takes from a replica (log lines, the start-up
 * tail, a failed task's error).
 *
 * @example
 *   const scrub = projectPathScrubber('/var/lib/flexd/run/artifacts/3f2a');
 *   scrub('at /var/lib/flexd/run/artifacts/3f2a/lib/thrower.js:3:9')   // 'at lib/thrower.js:3:9'
 */
export function projectPathScrubber(projectDir: string, childEntry?: string): (text: string) => string {
  const prefixes = new Set([projectDir]);
  try {
    prefixes.add(realpathSync(projectDir));
  } catch { /* not there (yet): the path as given */ }
  const ordered = [...prefixes].sort((a, b) => b.length - a.length);
  return (text) => {
    // flexd's own frames below the handler's (the receiver) name flexd, not where it keeps its files.
    if (childEntry && text.includes(childEntry)) text = text.split(childEntry).join('flexd-replica');
    for (const prefix of ordered) {
      if (!text.includes(prefix)) continue;
      // `file://` URLs (ESM stacks) and plain paths; the folder itself becomes `.`.
      text = text.split(`file://${prefix}${sep}`).join('').split(`${prefix}${sep}`).join('').split(prefix).join('.');
    }
    return text;
  };
}
