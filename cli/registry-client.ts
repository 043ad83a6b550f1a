import { readTextAtMost } from './bounded-body.js';
import { CliError } from './cli-error.js';
import { EXIT } from './exit-codes.js';

export interface ClientOptions {
  readonly registry: string;
  /** Bearer token for a registry bound to a non-loopback address. */
  readonly token?: string | undefined;
  /** Signs requests (SigV4) for a registry on AWS; headers to add per request. */
  readonly sign?:
    | ((req: { method: string; url: URL; body: string | undefined }) => Promise<Record<string, string>>)
    | undefined;
}

/** A thin JSON client of the registry API: errors come back as CliErrors carrying the API's code. */
export class RegistryClient {
  constructor(readonly options: ClientOptions) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(
      path,
      this.options.registry.endsWith('/') ? this.options.registry : `${this.options.registry}/`,
    );
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (this.options.sign) Object.assign(headers, await this.options.sign({ method, url, body: text }));
    let response: Response;
    try {
      response = await fetch(url, { method, headers, ...(text === undefined ? {} : { body: text }) });
    } catch (e) {
      throw unreachable(this.options.registry, e);
    }
    const raw = await readAnswer(response, `${method} ${url.pathname}`);
    let json: unknown;
    try {
      json = raw ? JSON.parse(raw) : undefined;
    } catch {
      throw new CliError(
        'INTERNAL',
        `the registry answered ${response.status} with a body that is not JSON`,
        EXIT.UNEXPECTED,
      );
    }
    if (response.ok) return json as T;
    // zod loads on this error path only, not when every command starts.
    const { ErrorEnvelope } = await import('../schemas/error-codes.schema.js');
    const envelope = ErrorEnvelope.safeParse(json);
    if (envelope.success) {
      const { code, message, details } = envelope.data.error;
      throw CliError.fromApi(code, message, details);
    }
    throw new CliError(
      'INTERNAL',
      `the registry answered ${response.status} ${response.statusText}`,
      EXIT.UNEXPECTED,
    );
  }
}

/**
 * The most bytes of one registry answer the CLI reads. The largest a registry sends is a version of
 * MAX_VERSION_FILES files at the longest paths with its validation report, or the upload targets of
 * such a manifest: tens of MiB; a list page of versions (`list` asks for 100 at a time, each with its
 * report) tens of MiB at most. Past this, the answer is
 * not a registry's: a broken or hostile server's 1.2 GB answer took `fetch` to 2.5 GB of memory and then
 * failed inside V8 with a stack trace.
 */
export const MAX_ANSWER_BYTES = 128 * 1024 * 1024;

const answerTooLarge = (what: string) =>
  new CliError(
    'UNAVAILABLE',
    `the registry's answer to ${what} is larger than ${MAX_ANSWER_BYTES / 2 ** 20} MiB, far more than a modelgate registry sends, so it was not read: check that --registry / MODELGATE_REGISTRY points at a modelgate registry, and if it does, tell its operator that it answers wrongly`,
    EXIT.UNEXPECTED,
    { maxBytes: MAX_ANSWER_BYTES },
  );

/**
 * An answer's body as text, read chunk by chunk and decoded as it arrives; `what` names the request in
 * errors. CliError UNAVAILABLE once the body declares or sends more than MAX_ANSWER_BYTES: the rest is
 * not read (the connection is dropped), so an endless answer ends there too. A body that breaks off is
 * UNAVAILABLE as well, rather than an internal error with a stack trace.
 */
export async function readAnswer(response: Response, what: string): Promise<string> {
  if (!response.body) return '';
  if (Number(response.headers.get('content-length') ?? 0) > MAX_ANSWER_BYTES) {
    await response.body.cancel().catch(() => {});
    throw answerTooLarge(what);
  }
  let text: string | undefined;
  try {
    text = await readTextAtMost(response.body, MAX_ANSWER_BYTES);
  } catch (e) {
    const why = (e as { cause?: { code?: string } })?.cause?.code ?? (e as Error)?.message;
    throw new CliError(
      'UNAVAILABLE',
      `the registry's answer to ${what} broke off (${why}): try again`,
      EXIT.UNEXPECTED,
    );
  }
  if (text === undefined) throw answerTooLarge(what);
  return text;
}

export function unreachable(registry: string, cause: unknown): CliError {
  const why =
    (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as Error)?.message ?? 'no answer';
  return new CliError(
    'UNREACHABLE',
    `no registry answers at ${registry} (${why}): start one with \`npx modelgate serve\` (or \`npm start\`), or point --registry / MODELGATE_REGISTRY at it`,
    EXIT.UNEXPECTED,
  );
}

export const encode = encodeURIComponent;
