import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROUTE_IMPLS } from '../../lambdas/api/all-routes.js';
import { makeRouteGroupHandler } from '../../lambdas/http/make-handler.js';
import { buildOpenApiDocument } from '../../lambdas/http/openapi.js';
import { ROUTES, routeKey } from '../../lambdas/routes.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

const event = (key: string, init: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 =>
  ({
    version: '2.0',
    routeKey: key,
    rawPath: '/',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    requestContext: { requestId: 'r1', http: { method: key.split(' ')[0] } },
    ...init,
  }) as unknown as APIGatewayProxyEventV2;

const context = {} as never;

describe('the route table, its handlers and the OpenAPI document', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
  });
  afterEach(() => deps.cleanup());

  it('has exactly one implementation per route', () => {
    expect([...ROUTE_IMPLS.keys()].sort()).toEqual(ROUTES.map(routeKey).sort());
  });

  it('documents every route in the OpenAPI document with its error envelope', () => {
    const doc = buildOpenApiDocument('test') as {
      paths: Record<string, Record<string, { responses: object }>>;
    };
    for (const r of ROUTES) {
      const op = doc.paths[r.path]?.[r.method.toLowerCase()];
      expect(op, routeKey(r)).toBeDefined();
      expect(Object.keys(op!.responses)).toContain('400');
    }
    const create = doc.paths['/api/v1/models']!.post as unknown as {
      requestBody: { content: Record<string, { schema: { properties: object } }> };
    };
    expect(Object.keys(create.requestBody.content['application/json']!.schema.properties)).toContain('name');
  });

  it('answers a Lambda event with the same JSON the local server gives', async () => {
    const handler = makeRouteGroupHandler('models', deps);
    const created = await handler(
      event('POST /api/v1/models', { body: JSON.stringify({ name: 'ocr-det', provider: 'paddle' }) }),
      context,
    );
    expect(created.statusCode).toBe(201);
    expect(JSON.parse(created.body!)).toMatchObject({ name: 'ocr-det', provider: 'paddle' });
    const got = await handler(
      event('GET /api/v1/models/{name}', { pathParameters: { name: 'ocr-det' } }),
      context,
    );
    expect(JSON.parse(got.body!).name).toBe('ocr-det');
    const dup = await handler(
      event('POST /api/v1/models', { body: JSON.stringify({ name: 'ocr-det' }) }),
      context,
    );
    expect(dup.statusCode).toBe(409);
    expect(JSON.parse(dup.body!).error.code).toBe('ALREADY_EXISTS');
  });

  it('never exposes the details of a 5xx', async () => {
    const broken = {
      ...deps,
      metadata: {
        ...deps.metadata,
        getModel: async () => {
          throw new Error('SQLITE_CORRUPT at /secret/path');
        },
      },
    };
    const logged: unknown[] = [];
    const handler = makeRouteGroupHandler('models', broken as never, (e) => logged.push(e));
    const res = await handler(event('GET /api/v1/models/{name}', { pathParameters: { name: 'x' } }), context);
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret');
    expect(JSON.parse(res.body!)).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(logged).toHaveLength(1);
  });

  it('names the query parameter at fault', async () => {
    const handler = makeRouteGroupHandler('models', deps);
    const res = await handler(
      event('GET /api/v1/models', { queryStringParameters: { limit: '0' } }),
      context,
    );
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body!).error.details.field).toBe('query.limit');
  });
});
