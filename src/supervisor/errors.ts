import { FlexdError } from '../errors.ts';

/** The supervisor's answers that several places give (docs/errors.md, data plane). */
export function shuttingDown(what = 'The environment'): FlexdError {
  return new FlexdError('ServiceUnavailable', `${what} is shutting down.`, { status: 503 });
}

export function notDeployed(): FlexdError {
  return new FlexdError('NotDeployed', 'No version of this service environment has been deployed.', { status: 404 });
}
