/**
 * The kinvey-cli fixture (test/fixtures/cli-project): one FlexFunction `echo` answering
 * `{KEY, version}`. Its own module, so that a test that only needs its path (one that runs flexd
 * as separate processes) does not load flexd's runtime through test/api/helpers.ts (~0.7 s of CPU).
 */
import { fileURLToPath } from 'node:url';

export const ECHO_PROJECT = fileURLToPath(new URL('../fixtures/cli-project/', import.meta.url));
