import { CliError } from './errors.ts';
import { exchange, type AnswerHeaders, type HttpAnswer } from './http.ts';

/** kinvey-cli's own timeout for every management call; flexd's API answers at once and builds in the background. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** The upload of a deploy archive (up to 10 MiB): kinvey-cli allows 30 s; leave room for a slow link. */
export const UPLOAD_TIMEOUT_MS = 120_000;

export interface Organization { id: string; name: string; [key: string]: unknown }
export interface Service { id: string; name: string; type?: string; access?: unknown; [key: string]: unknown }
export interface ServiceEnvironment {
  id: string;
  name: string;
  secret?: string;
  runtime?: string | null;
  environmentVariables?: Record<string, string>;
  description?: string | null;
  [key: string]: unknown;
}
export interface EnvironmentStatus {
  status: string;
  version?: string | null;
  runtime?: string | null;
  requestedAt?: string | null;
  deployUserInfo?: { email?: string | null; firstName?: string; lastName?: string } | null;
  deployment?: { status?: string; version?: string | null; runtime?: string | null } | null;
  [key: string]: unknown;
}
export interface LogEntry { _id: string; containerId: string; message: unknown; threshold: string | null; timestamp: string }
export interface Job { jobId: string; type: string; status: string; progress?: string; params?: unknown; [key: string]: unknown }
export type JobBody = { type: string; params: Record<string, unknown> };
export interface Account { id: string; email: string; role: string; createdAt: string; password?: string }
export interface RuntimeList {
  defaultRuntime: string;
  runtimes: { major?: number; version?: string; name?: string; source: string; path: string; usedBy: { service: string; environment: string; runtime: string }[] }[];
}
export interface StoredVersion { id: string; version: string; active: boolean; createdAt: string; size?: number; sdkVersion?: string | null; [key: string]: unknown }

interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  form?: FormData;
  timeoutMs?: number;
  /** false for the calls made before there is a token */
  auth?: boolean;
}

/**
 * The management API as kinvey-cli uses it (SPEC §3): JSON over HTTP, `Authorization: Kinvey
 * <token>`, errors as `{code, description, debug}`. Every failure becomes a CliError with one
 * line to show: the API's code and description, or which host could not be reached and why.
 *
 * @example
 *   const api = new ApiClient('http://127.0.0.1:8080', token);
 *   const orgs = await api.organizations();
 */
export class ApiClient {
  /** The `Date` header of the last answer: the server's clock, for `logs --follow`'s starting point. */
  lastServerDate: Date | undefined;
  /** The headers of the last answer (`X-Flexd-Job` names the job a change started). */
  lastHeaders: AnswerHeaders | undefined;

  constructor(readonly host: string, readonly token?: string) {}

  login(email: string, password: string): Promise<{ email?: string; token: string }> {
    return this.request('POST', '/session', { json: { email, password }, auth: false });
  }
  logout(): Promise<void> {
    return this.request('DELETE', '/session');
  }
  organizations(): Promise<Organization[]> {
    return this.request('GET', '/v4/organizations');
  }
  services(organizationId: string): Promise<Service[]> {
    return this.request('GET', '/v4/services', { query: { organizationId } });
  }
  service(serviceId: string): Promise<Service> {
    return this.request('GET', `/v4/services/${enc(serviceId)}`);
  }
  createService(name: string, organizationId: string): Promise<Service> {
    return this.request('POST', '/v4/services', { json: { name, type: 'internal', access: { writers: { organizations: [organizationId] } } } });
  }
  deleteService(serviceId: string): Promise<void> {
    return this.request('DELETE', `/v4/services/${enc(serviceId)}`);
  }
  environments(serviceId: string): Promise<ServiceEnvironment[]> {
    return this.request('GET', `/v4/services/${enc(serviceId)}/environments`);
  }
  createEnvironment(serviceId: string, body: Omit<ServiceEnvironment, 'id'>): Promise<ServiceEnvironment> {
    return this.request('POST', `/v4/services/${enc(serviceId)}/environments`, { json: body });
  }
  /** PUT takes the whole environment as GET returned it, minus `id` (kinvey-cli's `flex update`). */
  updateEnvironment(serviceId: string, environmentId: string, body: Omit<ServiceEnvironment, 'id'>): Promise<ServiceEnvironment> {
    return this.request('PUT', `/v4/services/${enc(serviceId)}/environments/${enc(environmentId)}`, { json: body });
  }
  status(serviceId: string, environmentId: string): Promise<EnvironmentStatus> {
    return this.request('GET', `/v4/services/${enc(serviceId)}/environments/${enc(environmentId)}/status`);
  }
  /**
   * kinvey-cli's paging (`from`, `to`, `limit`, `page`), or flexd's extensions: `afterId` (the
   * records newer than that `_id`, for `logs --follow`) and `tail` (the newest N, oldest first).
   */
  logs(serviceId: string, environmentId: string, query: { from?: string; to?: string; limit?: number; page?: number; afterId?: string; tail?: number; raw?: boolean }): Promise<LogEntry[]> {
    return this.request('GET', `/v4/services/${enc(serviceId)}/environments/${enc(environmentId)}/logs`, { query: { ...query, raw: query.raw ? 'true' : undefined } });
  }
  /** recycleService, rollbackService: a JSON job. */
  createJob(body: JobBody): Promise<{ job: string }> {
    return this.request('POST', '/v4/jobs', { json: body });
  }
  /** deployService: multipart `type`, `params` (JSON text), `file` (the archive), as kinvey-cli sends it. */
  deploy(params: Record<string, unknown>, archive: Buffer, filename = 'archive.tar.gz'): Promise<{ job: string }> {
    const form = new FormData();
    form.append('type', 'deployService');
    form.append('params', JSON.stringify(params));
    form.append('file', new Blob([archive as Uint8Array<ArrayBuffer>], { type: filename.endsWith('.gz') ? 'application/gzip' : 'application/tar' }), filename);
    return this.request('POST', '/v4/jobs', { form, timeoutMs: UPLOAD_TIMEOUT_MS });
  }
  /** flexd's own: the caller's account (`{id, email, role}`). */
  me(): Promise<Account> {
    return this.request('GET', '/v4/user');
  }
  users(): Promise<Account[]> {
    return this.request('GET', '/v4/users');
  }
  /** Without a password the server generates one and answers it, once. */
  createUser(body: { email: string; role: string; password?: string }): Promise<Account> {
    return this.request('POST', '/v4/users', { json: body });
  }
  setRole(idOrEmail: string, role: string): Promise<Account> {
    return this.request('PUT', `/v4/users/${enc(idOrEmail)}`, { json: { role } });
  }
  deleteUser(idOrEmail: string): Promise<void> {
    return this.request('DELETE', `/v4/users/${enc(idOrEmail)}`);
  }
  changeOwnPassword(currentPassword: string, password: string): Promise<void> {
    return this.request('PUT', '/v4/user/password', { json: { currentPassword, password } });
  }
  /** flexd's own: every stored version of an environment, oldest first, and which one serves. */
  runtimes(): Promise<RuntimeList> {
    return this.request('GET', '/v4/runtimes');
  }
  /** GET /v4/nodes: the nodes of the database (docs/scale-out.md). */
  nodes(): Promise<{ name: string; live: boolean; lastSeen: string; startedAt: string; flexdVersion: string; environments: number; replicas: number }[]> {
    return this.request('GET', '/v4/nodes');
  }
  versions(serviceId: string, environmentId: string): Promise<StoredVersion[]> {
    return this.request('GET', `/v4/services/${enc(serviceId)}/environments/${enc(environmentId)}/versions`);
  }
  deleteEnvironment(serviceId: string, environmentId: string): Promise<void> {
    return this.request('DELETE', `/v4/services/${enc(serviceId)}/environments/${enc(environmentId)}`);
  }
  job(jobId: string): Promise<Job> {
    return this.request('GET', `/v4/jobs/${enc(jobId)}`);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(`${this.host}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (options.auth !== false && this.token) headers.Authorization = `Kinvey ${this.token}`;
    let body: string | Uint8Array | undefined;
    if (options.form) {
      // multipart/form-data as fetch would send it; Response encodes it (deploy alone pays for loading it)
      const encoded = new Response(options.form);
      headers['Content-Type'] = encoded.headers.get('content-type')!;
      body = new Uint8Array(await encoded.arrayBuffer());
    } else if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    let res: HttpAnswer;
    try {
      res = await exchange(url, { method, headers, body, timeoutMs });
    } catch (err) {
      // A kept-alive connection the server closed as the request went out (a busy server's idle
      // timeout): a GET changes nothing, so it is sent once more, on a fresh connection.
      if (method !== 'GET' || !connectionReset(err)) throw this.connectionError(err, method, path, timeoutMs);
      try {
        res = await exchange(url, { method, headers, timeoutMs });
      } catch (again) {
        throw this.connectionError(again, method, path, timeoutMs);
      }
    }
    this.lastHeaders = res.headers;
    const date = res.headers.get('date');
    if (date) this.lastServerDate = new Date(date);
    const { text } = res;
    if (res.status < 200 || res.status > 299) throw apiError(res, text, method, path);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${method} ${path} answered ${res.status} with a body that is not JSON; is ${this.host} a flexd?`);
    }
  }

  private connectionError(err: unknown, method: string, path: string, timeoutMs: number): CliError {
    const e = err as Error & { code?: string };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return new CliError(`${this.host} did not answer ${method} ${path} within ${timeoutMs / 1000} s`);
    }
    const { code } = e;
    if (code === 'ECONNREFUSED') return new CliError(`cannot connect to ${this.host}: connection refused (is flexd serve running there?)`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new CliError(`cannot resolve the host of ${this.host} (${code})`);
    return new CliError(`cannot reach ${this.host}: ${e.message}${code ? ` (${code})` : ''}`);
  }
}

function connectionReset(err: unknown): boolean {
  return (err as { code?: string }).code === 'ECONNRESET';
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** kinvey-cli's mapping: `<code>: <description>` from a JSON body, else the HTTP status. */
function apiError(res: HttpAnswer, text: string, method: string, path: string): CliError {
  let body: { code?: unknown; description?: unknown; error?: unknown } | undefined;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON */ }
  const code = typeof body?.code === 'string' ? body.code : typeof body?.error === 'string' ? body.error : undefined;
  if (code) {
    let description = typeof body?.description === 'string' ? body.description : `${res.status} ${res.statusText}`;
    if (code === 'InvalidCredentials' && path !== '/session') description += ' Run flexd login.';
    return new CliError(description, code);
  }
  return new CliError(`${method} ${path} failed: ${res.status} ${res.statusText}`.trim());
}
