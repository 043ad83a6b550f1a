import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../core/errors.js';
import { assertUtf8 } from '../lambdas/http/parse.js';

/** The largest JSON body the API reads, in bytes (16 MiB); blobs never pass through here. */
export const MAX_JSON_BODY = 16 * 1024 * 1024;

/** Reads a JSON request's body; PAYLOAD_TOO_LARGE (413), field `body`, past MAX_JSON_BODY bytes. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY)
      throw new RegistryError('PAYLOAD_TOO_LARGE', `body: larger than ${MAX_JSON_BODY} bytes`, {
        field: 'body',
      });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A JSON body must be UTF-8, by the same rule as a base64 body a Lambda receives (assertUtf8). `isUtf8`
 * checks the bytes in place: a strict TextDecoder built a string of the whole body only to drop it,
 * 60–190 ms of a 16 MiB body on the event loop against 1–3 ms.
 */
export const checkUtf8 = (body: Buffer): void => assertUtf8(body);

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Writes a handler's result (an API Gateway v2 structured result); a response already started is cut. */
export function sendResult(
  res: ServerResponse,
  result: { statusCode?: number; headers?: Record<string, unknown>; body?: string },
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k, String(v)]));
  // An error answered before the request body was read: close the connection rather than read the rest.
  if ((result.statusCode ?? 200) >= 400) headers.connection = 'close';
  res.writeHead(result.statusCode ?? 200, headers).end(result.body ?? '');
}
