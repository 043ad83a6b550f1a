import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The part of an HTTP answer a download reads: what node:http and fetch's Response both give. */
export interface HttpAnswer {
  status: number;
  /** A response header by lower-case name, or undefined. */
  header(name: string): string | undefined;
  body: AsyncIterable<Uint8Array>;
  /** Drops the rest of the body (the connection is closed). */
  cancel(): Promise<void>;
}

export interface HttpGetInit {
  method: string;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

export type HttpGet = (url: string, init: HttpGetInit) => Promise<HttpAnswer>;

/**
 * No byte for this long fails the request, in ms: undici's fetch has the same 300 s body and headers
 * timeouts; node:http has none, and a stalled server must not hang a node's fetch forever.
 */
const IDLE_TIMEOUT_MS = 300_000;

function fromIncoming(res: IncomingMessage): HttpAnswer {
  return {
    status: res.statusCode ?? 0,
    header: (name) => {
      const value = res.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: res,
    cancel: async () => {
      res.destroy();
    },
  };
}

/**
 * One request with node:http or node:https, without following redirects (a presigned URL answers
 * itself; a redirect would not carry its signature). Its body is the socket's Buffers as they come,
 * without the web-stream layers of fetch (which cost a quarter of the main thread on a 1 GiB download).
 * Rejects on a connection failure, on abort, and after IDLE_TIMEOUT_MS without a byte.
 */
export const nodeHttpGet: HttpGet = (url, init) =>
  new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(url, {
      method: init.method,
      headers: init.headers,
      ...(init.signal ? { signal: init.signal } : {}),
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () =>
      req.destroy(new Error(`no byte from the server for ${IDLE_TIMEOUT_MS / 1000} s`)),
    );
    req.once('response', (res) => resolve(fromIncoming(res)));
    req.on('error', reject);
    req.end();
  });

/** The same over a fetch implementation (tests inject one to shape the server's answers). */
export function fetchGet(fetchImpl: typeof fetch): HttpGet {
  return async (url, init) => {
    const res = await fetchImpl(url, {
      method: init.method,
      headers: init.headers,
      ...(init.signal ? { signal: init.signal } : {}),
    });
    const body = res.body;
    return {
      status: res.status,
      header: (name) => res.headers.get(name) ?? undefined,
      body: (body ?? []) as unknown as AsyncIterable<Uint8Array>,
      cancel: async () => {
        await body?.cancel().catch(() => {});
      },
    };
  };
}
