import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ZodType, z } from 'zod';
import { RegistryError } from '../../core/errors.js';
import { assertJsonWithinLimits } from './json-limits.js';

/** The first schema issue as `path: message`, with the path as the field at fault. */
function invalid(where: string, error: z.ZodError): RegistryError {
  const issue = error.issues[0];
  const field = [where, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  return new RegistryError('INVALID_REQUEST', `${field || where}: ${issue?.message ?? 'invalid'}`, {
    field: field || where,
    issues: error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message })),
  });
}

export function parseWith<T extends ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(where, result.error);
  return result.data;
}

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/**
 * Every API route speaks JSON: a request that carries a body must say `Content-Type: application/json`
 * (400, field `content-type`). A browser sends `text/plain` cross-site without asking the server first;
 * `application/json` needs a CORS preflight, which this API never grants.
 */
export function assertJsonBody(event: APIGatewayProxyEventV2): void {
  if (!event.body) return;
  const type = event.headers?.['content-type'] ?? event.headers?.['Content-Type'] ?? '';
  if (!JSON_MEDIA_TYPE.test(type))
    throw new RegistryError(
      'INVALID_REQUEST',
      `content-type: the body must be sent as application/json, not ${JSON.stringify(type || 'none')}`,
      { field: 'content-type' },
    );
}

/**
 * A JSON body must be UTF-8: invalid bytes are refused (INVALID_REQUEST, field `body`) rather than stored
 * as U+FFFD. `isUtf8` checks the bytes in place, without building a string of the whole body.
 */
export function assertUtf8(bytes: Uint8Array): void {
  if (!isUtf8(bytes)) throw new RegistryError('INVALID_REQUEST', 'body: not valid UTF-8', { field: 'body' });
}

/** The text of a body API Gateway sent base64-encoded, refused like the local server's if not UTF-8. */
function utf8Text(bytes: Buffer): string {
  assertUtf8(bytes);
  return bytes.toString('utf8');
}

export function parseBody<T extends ZodType>(
  schema: T,
  event: APIGatewayProxyEventV2,
  optional = false,
): z.output<T> {
  if (!event.body && optional) return parseWith(schema, {}, 'body');
  if (!event.body)
    throw new RegistryError('INVALID_REQUEST', 'body: a JSON body is required', { field: 'body' });
  const text = event.isBase64Encoded ? utf8Text(Buffer.from(event.body, 'base64')) : event.body;
  // Before JSON.parse, which holds the event loop for as long as a hostile body makes it work.
  assertJsonWithinLimits(text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RegistryError('INVALID_REQUEST', `body: not valid JSON (${(e as Error).message})`, {
      field: 'body',
    });
  }
  return parseWith(schema, json, 'body');
}

export function parseQuery<T extends ZodType>(schema: T, event: APIGatewayProxyEventV2): z.output<T> {
  return parseWith(schema, event.queryStringParameters ?? {}, 'query');
}

export function pathParam<T extends ZodType>(
  event: APIGatewayProxyEventV2,
  name: string,
  schema: T,
): z.output<T> {
  return parseWith(schema, event.pathParameters?.[name], name);
}
