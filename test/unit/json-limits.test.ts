import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RegistryError } from '../../core/errors.js';
import {
  assertJsonWithinLimits,
  MAX_JSON_CONTAINERS,
  MAX_JSON_DEPTH,
  MAX_JSON_VALUES,
} from '../../lambdas/http/json-limits.js';
import { parseBody } from '../../lambdas/http/parse.js';
import { ROUTES } from '../../lambdas/routes.js';
import {
  CommitVersionRequest,
  MAX_VERSION_FILES,
  StartVersionRequest,
} from '../../schemas/version.schema.js';

/** The error `run` throws (a RegistryError), or a failure naming what it did instead. */
function thrown(run: () => unknown): RegistryError {
  try {
    run();
  } catch (e) {
    if (e instanceof RegistryError) return e;
    throw e;
  }
  throw new Error('expected a RegistryError, nothing was thrown');
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
};

/**
 * The deepest nesting of objects and arrays a JSON Schema admits; Infinity where it admits any JSON
 * (an `unknown`, a schema with no type), which the depth limit would then cut.
 */
function schemaDepth(schema: JsonSchema | boolean | undefined, defs: Record<string, JsonSchema>): number {
  if (schema === undefined || schema === false) return 0;
  if (schema === true) return Number.POSITIVE_INFINITY;
  if (schema.$ref) return schemaDepth(defs[schema.$ref.replace('#/$defs/', '')], defs);
  const alternatives = [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])];
  if (alternatives.length > 0) return Math.max(...alternatives.map((s) => schemaDepth(s, defs)));
  const types = [schema.type ?? []].flat();
  if (types.length === 0) return Number.POSITIVE_INFINITY;
  if (types.includes('object'))
    return (
      1 +
      Math.max(
        0,
        ...Object.values(schema.properties ?? {}).map((s) => schemaDepth(s, defs)),
        schema.additionalProperties === undefined ? 0 : schemaDepth(schema.additionalProperties, defs),
      )
    );
  if (types.includes('array'))
    return (
      1 +
      Math.max(
        schemaDepth(schema.items, defs),
        ...(schema.prefixItems ?? []).map((s) => schemaDepth(s, defs)),
      )
    );
  return 0;
}

const segment = (i: number, char: string, length: number) => `${i}${char.repeat(length)}`.slice(0, length);

/**
 * A manifest at the schema's maxima: MAX_VERSION_FILES files whose paths are as long as FilePath allows
 * in bytes (segments of 255 bytes of 3-byte characters), each with every optional field.
 */
function maximalManifest() {
  const path = (i: number) =>
    [...[0, 1, 2, 3, 4].map((k) => segment(i * 10 + k, '語', 85)), segment(i, '語', 77)].join('/');
  return {
    version: '1.0.0',
    files: Array.from({ length: MAX_VERSION_FILES }, (_, i) => ({
      path: path(i),
      size: Number.MAX_SAFE_INTEGER,
      sha256: 'a'.repeat(64),
      md5: 'b'.repeat(32),
      format: 'other',
    })),
    inputShapes: { input: Array(16).fill(1) },
    inputValues: { input: 'v'.repeat(1024) },
    memoryBudgetBytes: 1,
    publisher: 'p'.repeat(200),
  };
}

/** A commit naming 100 000 parts: one multipart upload of 10 parts per file, for the most files. */
function largestCommit() {
  return {
    multipart: Array.from({ length: MAX_VERSION_FILES }, (_, f) => ({
      sha256: f.toString(16).padStart(64, '0'),
      uploadId: 'u'.repeat(1024),
      parts: Array.from({ length: 10 }, (_, i) => ({
        partNumber: i + 1,
        checksumSha256: `${'A'.repeat(43)}=`,
        etag: `"${'e'.repeat(32)}"`,
      })),
    })),
  };
}

const jsonEvent = (body: string, isBase64Encoded = false) =>
  ({
    body,
    isBase64Encoded,
    headers: { 'content-type': 'application/json' },
  }) as unknown as APIGatewayProxyEventV2;

describe('the JSON body limits checked before JSON.parse', () => {
  it('lets every route take the deepest body its schema allows', () => {
    const depths = ROUTES.filter((r) => r.body).map((r) => {
      const schema = z.toJSONSchema(r.body!, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
      return { route: `${r.method} ${r.path}`, depth: schemaDepth(schema, schema.$defs ?? {}) };
    });
    expect(depths.length).toBeGreaterThan(5);
    for (const { route, depth } of depths) expect(depth, route).toBeLessThanOrEqual(MAX_JSON_DEPTH);
    // The commit is the deepest, as json-limits.ts says.
    expect(Math.max(...depths.map((d) => d.depth))).toBe(5);
  });

  it('accepts a manifest at the schema maxima and a commit of 100 000 parts, which their schemas accept', () => {
    for (const [schema, body] of [
      [StartVersionRequest, maximalManifest()],
      [CommitVersionRequest, largestCommit()],
    ] as const) {
      const text = JSON.stringify(body);
      expect(() => assertJsonWithinLimits(text)).not.toThrow();
      expect(parseBody(schema, jsonEvent(text))).toBeDefined();
    }
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels with 400 naming the body and the limit`, () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(() => assertJsonWithinLimits(nested(MAX_JSON_DEPTH))).not.toThrow();
    const e = thrown(() => assertJsonWithinLimits(nested(MAX_JSON_DEPTH + 1)));
    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.message).toBe(`body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(e.details).toEqual({ field: 'body', maxDepth: MAX_JSON_DEPTH });
    // Siblings are not depth: many arrays side by side at one level pass.
    const siblings = `[${Array(100)
      .fill(nested(MAX_JSON_DEPTH - 1))
      .join(',')}]`;
    expect(() => assertJsonWithinLimits(siblings)).not.toThrow();
  });

  it('counts no bracket, brace or comma inside a string, after escaped quotes and backslashes too', () => {
    const brackets = '['.repeat(100);
    for (const text of [
      `{"a":"${brackets}"}`,
      `{"a":"${','.repeat(MAX_JSON_VALUES + 1)}"}`,
      `{"a":"\\"${brackets}"}`, // an escaped quote: still inside the string
      `{"a":"\\\\\\"${brackets}"}`, // an escaped backslash, then an escaped quote
    ]) {
      expect(JSON.parse(text).a).toMatch(/[[,]{100}$/);
      expect(() => assertJsonWithinLimits(text)).not.toThrow();
    }
    // An escaped backslash before the quote: the string ends there, and the brackets after it count.
    const after = `["\\\\",${brackets}`;
    expect(thrown(() => assertJsonWithinLimits(after)).details).toMatchObject({ maxDepth: MAX_JSON_DEPTH });
  });

  it(`refuses more than ${MAX_JSON_CONTAINERS} objects and arrays with 413, stopping there`, () => {
    const objects = (n: number) => `[${Array(n).fill('{}').join(',')}]`;
    expect(() => assertJsonWithinLimits(objects(MAX_JSON_CONTAINERS - 1))).not.toThrow();
    const e = thrown(() => assertJsonWithinLimits(objects(MAX_JSON_CONTAINERS)));
    expect(e.code).toBe('PAYLOAD_TOO_LARGE');
    expect(e.message).toBe(`body: more than ${MAX_JSON_CONTAINERS} JSON objects and arrays`);
    expect(e.details).toEqual({ field: 'body', maxContainers: MAX_JSON_CONTAINERS });
  });

  it(`refuses more than ${MAX_JSON_VALUES} values with 413`, () => {
    const zeros = (n: number) => `[${Array(n).fill('0').join(',')}]`;
    // The array itself counts one, each comma one more.
    expect(() => assertJsonWithinLimits(zeros(MAX_JSON_VALUES))).not.toThrow();
    const e = thrown(() => assertJsonWithinLimits(zeros(MAX_JSON_VALUES + 1)));
    expect(e.code).toBe('PAYLOAD_TOO_LARGE');
    expect(e.details).toEqual({ field: 'body', maxValues: MAX_JSON_VALUES });
  });

  it('applies in parseBody, the parse of every Lambda handler and of the local server, base64 bodies too', () => {
    const deep = `{"version":"1",${'['.repeat(100_000)}`;
    for (const event of [jsonEvent(deep), jsonEvent(Buffer.from(deep).toString('base64'), true)]) {
      const e = thrown(() => parseBody(StartVersionRequest, event));
      expect(e.code).toBe('INVALID_REQUEST');
      expect(e.details).toEqual({ field: 'body', maxDepth: MAX_JSON_DEPTH });
    }
    // Malformed JSON within the limits is still JSON.parse's to report.
    expect(thrown(() => parseBody(StartVersionRequest, jsonEvent('{"version": '))).message).toMatch(
      /^body: not valid JSON/,
    );
  });
});
