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
    const raw = await response.text();
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
