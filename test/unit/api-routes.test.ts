import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineRoute, pathParamNames } from '../../lambdas/http/define-route.js';
import { makeRouteGroupHandler } from '../../lambdas/http/make-handler.js';
import { buildOpenApiDocument } from '../../lambdas/http/openapi.js';
import { ROUTE_IMPLS, ROUTES, routeKey } from '../../lambdas/routes.js';
import { ModelName, type VersionString } from '../../schemas/names.schema.js';
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

  it('declares a schema for exactly the path parameters of each route, and documents them', () => {
    const doc = buildOpenApiDocument('test') as {
      paths: Record<string, Record<string, { parameters: { name: string; in: string }[] }>>;
    };
    for (const r of ROUTES) {
      expect(Object.keys(r.params), routeKey(r)).toEqual(pathParamNames(r.path));
      const documented = doc.paths[r.path]![r.method.toLowerCase()]!.parameters.filter(
        (p) => p.in === 'path',
      );
      expect(documented.map((p) => p.name)).toEqual(pathParamNames(r.path));
      expect(doc.paths[r.path]![r.method.toLowerCase()]).toMatchObject({
        tags: [r.group],
        'x-modelgate-role': r.role,
      });
    }
  });

  it('refuses at definition a route whose params do not match its path', () => {
    const declare = () =>
      defineRoute({
        method: 'GET',
        path: '/api/v1/models/{name}/versions/{version}',
        group: 'versions',
        role: 'reader',
        summary: 'broken',
        // A cast stands for a declaration the compiler could not see (built at run time).
        params: { name: ModelName } as { name: typeof ModelName; version: typeof VersionString },
        response: ModelName,
        run: async () => null,
      });
    expect(declare).toThrow(/params declare \[name\], the path has \[name, version\]/);
  });

  it('parses every path parameter before the use case runs and names the one at fault', async () => {
    const handler = makeRouteGroupHandler('versions', deps);
    const res = await handler(
      event('GET /api/v1/models/{name}/versions/{version}', {
        pathParameters: { name: 'ocr-det', version: '../etc' },
      }),
      context,
    );
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body!).error.details.field).toBe('version');
  });

  it.each(['..', 'a/../b', 'a%2Fb', 'dét', 'x'.repeat(129)])(
    'refuses the ref %s of resolve and download with 400 naming `ref`, not a 404 lookup',
    async (ref) => {
      for (const [group, key] of [
        ['versions', 'GET /api/v1/models/{name}/resolve/{ref}'],
        ['downloads', 'GET /api/v1/models/{name}/download/{ref}'],
      ] as const) {
        const res = await makeRouteGroupHandler(group, deps)(
          event(key, { pathParameters: { name: 'ocr-det', ref } }),
          context,
        );
        expect(res.statusCode).toBe(400);
        expect(JSON.parse(res.body!).error).toMatchObject({
          code: 'INVALID_REQUEST',
          details: { field: 'ref' },
        });
      }
    },
  );

  it('refuses a base64 body that is not UTF-8 with 400 naming the body, as the local server does, and stores nothing', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"name":"det","provider":"p","description":"caf'),
      Buffer.from([0xe9, 0x20, 0xff]),
      Buffer.from('"}'),
    ]);
    const res = await makeRouteGroupHandler('models', deps)(
      event('POST /api/v1/models', { body: bytes.toString('base64'), isBase64Encoded: true }),
      context,
    );
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body!).error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'body' },
    });
    expect(await deps.metadata.getModel('det')).toBeNull();
    const good = Buffer.from('{"name":"det","provider":"p","description":"café"}').toString('base64');
    const ok = await makeRouteGroupHandler('models', deps)(
      event('POST /api/v1/models', { body: good, isBase64Encoded: true }),
      context,
    );
    expect(ok.statusCode).toBe(201);
    expect(JSON.parse(ok.body!).description).toBe('café');
  });

  it("records the authenticated caller as a version's publisher, and the claimed name only on an open server", async () => {
    await makeRouteGroupHandler('models', deps)(
      event('POST /api/v1/models', { body: JSON.stringify({ name: 'ocr-det', provider: 'paddle' }) }),
      context,
    );
    const handler = makeRouteGroupHandler('versions', deps);
    const start = (version: string, userArn?: string) =>
      handler(
        event('POST /api/v1/models/{name}/versions', {
          pathParameters: { name: 'ocr-det' },
          body: JSON.stringify({
            version,
            publisher: 'alice',
            files: [{ path: 'm.onnx', size: 4, sha256: 'a'.repeat(64), md5: 'b'.repeat(32) }],
          }),
          requestContext: {
            requestId: 'r1',
            http: { method: 'POST' },
            ...(userArn ? { authorizer: { iam: { userArn } } } : {}),
          } as never,
        }),
        context,
      );
    const arn = 'arn:aws:iam::123456789012:user/ci';
    const signed = await start('1', arn);
    expect(signed.statusCode, signed.body).toBe(201);
    expect(JSON.parse(signed.body!).version.publisher).toBe(arn);
    const open = await start('2', 'modelgate:open');
    expect(JSON.parse(open.body!).version.publisher).toBe('alice');
  });
});
