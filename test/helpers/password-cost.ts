/**
 * The scrypt cost (log2 N) of the password hashes the tests' runtimes make (`passwordHashCost`):
 * each runtime hashes its admin's password and every login checks a hash, and at flexd's default
 * (15) each of those is ~100 ms of CPU, paid by every test. The default cost itself is tested in
 * test/api/auth.test.ts. `flexd serve` takes it as `--password-hash-cost` (the scale tests'
 * nodes use it); the other `flexd serve` processes and `flexd admin reset-password` keep the
 * default.
 */
export const TEST_PASSWORD_HASH_COST = 10;
