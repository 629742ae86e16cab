/**
 * What the isolation tests share: the hostile fixtures under test/fixtures/isolation/ and a
 * deploy with a deadline. The runtime harness is the lifecycle battery's (short intervals).
 */
import { fileURLToPath } from 'node:url';
import { withDeadline } from '../helpers/wait.ts';
import { DEPLOY_TIMEOUT_MS, deployOptions, type Harness, type Target } from '../lifecycle/helpers.ts';

export const ISOLATION_FIXTURES = fileURLToPath(new URL('../fixtures/isolation/', import.meta.url));

/** Deploys `test/fixtures/isolation/<name>`; resolves once it serves. */
export function deployIsolationFixture(h: Harness, name: string, target: Target) {
  return withDeadline(`deploy of ${name} to ${target.service}/${target.environment}`,
    h.rt.deployDirectory(`${ISOLATION_FIXTURES}${name}`, deployOptions(target)), DEPLOY_TIMEOUT_MS);
}
