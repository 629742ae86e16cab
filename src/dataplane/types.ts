/**
 * Shapes shared by the data plane's pure parts (task building and answer projection).
 *
 * The reference for every field is the SDK's own HTTP receiver,
 * `kinvey-code-task-runner@2.4.0` `lib/receivers/httpReceiver.js` (PROTOCOL.md §2).
 */

/**
 * A Flex task as the receiver builds it and as the SDK completes it: a plain JSON-like
 * document. Key order matters to the functions answer, which echoes `request` and
 * `response` whole.
 */
export type FlexTask = Record<string, any>;

/** One data-plane HTTP request, as the router sees it below the environment base path. */
export interface FlexRequest {
  /** As received, e.g. `'GET'`. */
  method: string;
  /**
   * Path below `/flex/{service}/{env}`, raw (still percent-encoded), starting with `/`,
   * e.g. `'/widgets/abc'` or `'/_flexFunctions/hello'`; `''` or `'/'` for the root.
   */
  path: string;
  /** The raw query string without `?`; `''` when there is none. */
  rawQuery: string;
  /** Case-insensitive header lookup, like Express's `req.get`. */
  header(name: string): string | undefined;
  /** The value `parseJsonBody` produced (`{}` for a non-JSON or empty body). */
  body: unknown;
}
