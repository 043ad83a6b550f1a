import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbMetadataStore } from '../../adapters/dynamodb/dynamodb-metadata-store.js';
import { READ_CACHE_METRIC, routeGroupHandler } from '../../lambdas/aws/aws-deps.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../helpers/aws-local.js';
import { aManifestFile, aNewVersion } from '../helpers/builders.js';
import { needs } from '../helpers/system-programs.js';

const ROUTE = 'GET /api/v1/models/{name}/download/{ref}';
const download = (name: string, ref: string) =>
  ({
    version: '2.0',
    routeKey: ROUTE,
    rawPath: `/api/v1/models/${name}/download/${ref}`,
    rawQueryString: '',
    queryStringParameters: {},
    pathParameters: { name, ref },
    headers: {},
    isBase64Encoded: false,
    requestContext: { requestId: 'r1', http: { method: 'GET' } },
  }) as unknown as APIGatewayProxyEventV2;

let local: DynamoDbLocal | undefined;
const need = needs(['java']);

beforeAll(async () => {
  if (!need.skip) local = await startDynamoDbLocal();
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await local?.stop();
});

/**
 * The downloads Lambda as deployed (Powertools middlewares, real SDK clients) against DynamoDB Local:
 * a repeated plan is answered from the read cache, and each invocation's hits and misses leave as EMF.
 */
describe.skipIf(need.skip)(need.title('downloads Lambda read cache'), () => {
  it('answers a repeat from memory and emits metadata_cache_hits / metadata_cache_misses per invocation', async () => {
    const server = local!;
    const table = await server.createMetadataTable();
    try {
      const seed = new DynamoDbMetadataStore(server.doc, table);
      await seed.createModel({ name: 'det', provider: 'p', description: '', tags: [], createdAt: 'x' });
      await seed.createProviderIfAbsent({
        name: 'p',
        state: 'enabled',
        revision: 0,
        createdAt: 'x',
        updatedAt: 'x',
      });
      await seed.createVersion(
        aNewVersion({ model: 'det', version: '1', status: 'VERIFIED', files: [aManifestFile()] }),
      );
      await seed.setAlias({ model: 'det', alias: 'production', version: '1', updatedAt: 'x' });
      for (const [name, value] of Object.entries({
        MODELGATE_TABLE_NAME: table,
        MODELGATE_BUCKET_NAME: 'modelgate-test',
        POWERTOOLS_SERVICE_NAME: 'modelgate-test',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_DYNAMODB: server.endpoint,
      }))
        vi.stubEnv(name, value);
      const emf: Record<string, unknown>[] = [];
      const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        for (const line of String(chunk).split('\n').filter(Boolean))
          if (line.startsWith('{') && line.includes('"_aws"')) emf.push(JSON.parse(line));
        return true;
      });
      try {
        const handler = routeGroupHandler('downloads');
        const context = { functionName: 'downloads', awsRequestId: 'r1' } as never;
        const first = await handler(download('det', 'production'), context);
        const second = await handler(download('det', 'production'), context);
        expect(first.statusCode).toBe(200);
        expect(JSON.parse(second.body!).version.version).toBe('1');
        const counts = emf
          .filter((d) => READ_CACHE_METRIC.hits in d)
          .map((d) => [d[READ_CACHE_METRIC.hits], d[READ_CACHE_METRIC.misses]]);
        // The first plan reads everything (alias, version, provider); the second reads nothing new.
        expect(counts).toHaveLength(2);
        expect(counts[0]![0]).toBe(0);
        expect(counts[0]![1]).toBeGreaterThanOrEqual(3);
        expect(counts[1]).toEqual([counts[0]![1], 0]);
      } finally {
        write.mockRestore();
      }
    } finally {
      await server.deleteTable(table);
    }
  });
});
