import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a presented secret with the expected one in constant time. Both are hashed first
 * so the comparison takes the same time whatever their lengths.
 */
export function secretsEqual(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), expectedDigest(expected));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The expected side is hashed once per secret (the data plane checks it on every request). */
const expectedDigests = new Map<string, Buffer>();

function expectedDigest(expected: string): Buffer {
  let d = expectedDigests.get(expected);
  if (!d) {
    if (expectedDigests.size >= 1_000) expectedDigests.clear();
    d = digest(expected);
    expectedDigests.set(expected, d);
  }
  return d;
}
