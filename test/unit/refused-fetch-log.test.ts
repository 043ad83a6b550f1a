import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { disableProvider } from '../../core/providers.js';
import type { ErrorLogger } from '../../lambdas/http/errors-middleware.js';
import { makeRouteGroupHandler } from '../../lambdas/http/make-handler.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

const ROUTE = 'GET /api/v1/models/{name}/download/{ref}';

const download = (name: string, ref: string, query: Record<string, string> = {}) =>
  ({
    version: '2.0',
    routeKey: ROUTE,
    rawPath: `/api/v1/models/${name}/download/${ref}`,
    rawQueryString: new URLSearchParams(query).toString(),
    queryStringParameters: query,
    pathParameters: { name, ref },
    headers: {},
    isBase64Encoded: false,
    requestContext: { requestId: 'r1', http: { method: 'GET' } },
  }) as unknown as APIGatewayProxyEventV2;

/** A fetch refused by design (memory fit, a disabled provider) is a warning with its code, not a crash. */
describe('refused fetches in the logs', () => {
  let deps: TestDeps;
  let logged: Parameters<ErrorLogger>[0][];
  beforeEach(async () => {
    deps = await localTestDeps();
    logged = [];
  });
  afterEach(() => deps.cleanup());

  const handler = () => makeRouteGroupHandler('downloads', deps, (e) => logged.push(e));

  it('logs a fetch that would not fit in memory as a warning naming the code, answered 507', async () => {
    const v = await validated(deps, 'det@1', { provider: 'paddle' });
    // the version as a real validation leaves it: one loaded file that peaked at 80 MiB
    const file = { path: 'model.onnx', sha256: 'a'.repeat(64), size: 1000, format: 'onnx' };
    const profiled = {
      ...v,
      report: {
        ...v.report!,
        files: [{ ...file, check: 'loaded' as const, ok: true, peakRssBytes: 80 << 20 }],
      },
    };
    const withProfile = Object.assign(Object.create(deps), {
      metadata: Object.assign(Object.create(deps.metadata), { getVersion: async () => profiled }),
    });
    const res = await makeRouteGroupHandler('downloads', withProfile, (e) => logged.push(e))(
      download('det', '1', { freeMemoryBytes: String(64 << 20) }),
      {} as never,
    );
    expect(res.statusCode).toBe(507);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'warn', code: 'INSUFFICIENT_MEMORY', routeKey: ROUTE });
    expect(logged[0]!.message).toMatch(/^request refused: INSUFFICIENT_MEMORY: det@1 peaks at \d+ bytes/);
  });

  it('logs a fetch of a disabled provider as a warning, answered 423', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await disableProvider(deps, 'paddle', 'incident 7');
    const res = await handler()(download('det', '1'), {} as never);
    expect(res.statusCode).toBe(423);
    expect(logged).toEqual([
      expect.objectContaining({ level: 'warn', code: 'PROVIDER_DISABLED', routeKey: ROUTE }),
    ]);
    expect(logged[0]!.message).toContain('incident 7');
  });

  it('still logs an unexpected failure at error, with its cause', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    const broken = Object.assign(Object.create(deps), {
      metadata: Object.assign(Object.create(deps.metadata), {
        getVersion: () => Promise.reject(new Error('disk I/O error')),
        getAlias: () => Promise.reject(new Error('disk I/O error')),
      }),
    });
    const res = await makeRouteGroupHandler('downloads', broken, (e) => logged.push(e))(
      download('det', '1'),
      {} as never,
    );
    expect(res.statusCode).toBe(500);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'error' });
    expect(String((logged[0]!.error as Error).stack)).toContain('disk I/O error');
  });
});
