import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbMetadataStore,
  metadataTableDefinition,
} from '../../adapters/dynamodb/dynamodb-metadata-store.js';
import type { RegistryError } from '../../core/errors.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../helpers/aws-local.js';
import { describeSkipped, needs } from '../helpers/system-programs.js';
import { describeMetadataStoreContract } from './metadata-store.contract.js';
import { describeOperationsStoreContract } from './operations-store.contract.js';

// One DynamoDB Local (a JVM: seconds to start) for the whole file; each test gets its own fresh table.
let local: DynamoDbLocal | undefined;
const need = needs(['java']);

beforeAll(async () => {
  if (!need.skip) local = await startDynamoDbLocal();
});

afterAll(async () => {
  await local?.stop();
});

if (need.skip) describeSkipped(need, 'metadata and operations store contracts on DynamoDB Local');
else {
  describeMetadataStoreContract('dynamodb (DynamoDB Local)', async () => {
    if (!local) throw new Error('DynamoDB Local did not start: see the beforeAll error');
    const server = local;
    const table = await server.createMetadataTable();
    return {
      // A fresh store per test: the version-name cache must not outlive its table.
      store: new DynamoDbMetadataStore(server.doc, table),
      cleanup: () => server.deleteTable(table),
    };
  });

  describeOperationsStoreContract('dynamodb (DynamoDB Local)', async () => {
    if (!local) throw new Error('DynamoDB Local did not start: see the beforeAll error');
    const server = local;
    const table = await server.createMetadataTable();
    return { store: new DynamoDbMetadataStore(server.doc, table), cleanup: () => server.deleteTable(table) };
  });
}

describe.skipIf(need.skip)(need.title('DynamoDbMetadataStore specifics'), () => {
  it('creates the documented key schema', () => {
    const def = metadataTableDefinition('t');
    expect(def.BillingMode).toBe('PAY_PER_REQUEST');
    expect(def.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(
      def.GlobalSecondaryIndexes?.map((g) => [g.IndexName, g.KeySchema, g.Projection?.ProjectionType]),
    ).toEqual([
      [
        'gsi1',
        [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        'ALL',
      ],
      [
        'gsi2',
        [
          { AttributeName: 'gsi2pk', KeyType: 'HASH' },
          { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
        ],
        'ALL',
      ],
    ]);
  });

  it('accepts undefined optional fields from a document client without removeUndefinedValues', async () => {
    const server = local!;
    const table = await server.createMetadataTable();
    try {
      // server.doc is DynamoDBDocumentClient.from(client) with default marshalling, which rejects undefined.
      const store = new DynamoDbMetadataStore(server.doc, table);
      await store.createModel({ name: 'm', provider: 'p', description: '', tags: [], createdAt: 'x' });
      const version = await store.createVersion({
        model: 'm',
        version: '1',
        provider: 'p',
        status: 'PENDING_UPLOAD',
        files: [],
        totalSize: 0,
        inputShapes: {},
        memoryBudgetBytes: undefined,
        publisher: 'me',
        createdAt: 'x',
        updatedAt: 'x',
        validation: { attempts: 0, leaseOwner: undefined },
      });
      expect(version.seq).toBe(1);
      const stored = await store.getVersion({ model: 'm', version: '1' });
      expect(stored && Object.keys(stored.validation)).toEqual(['attempts']);
      expect(stored && 'memoryBudgetBytes' in stored).toBe(false);
    } finally {
      await server.deleteTable(table);
    }
  });

  it('refuses a cursor of another model, a version of an unknown model and an oversized manifest', async () => {
    const server = local!;
    const table = await server.createMetadataTable();
    try {
      const store = new DynamoDbMetadataStore(server.doc, table);
      const model = (name: string) => ({ name, provider: 'p', description: '', tags: [], createdAt: 'x' });
      const version = (m: string, v: string) => ({
        model: m,
        version: v,
        provider: 'p',
        status: 'PENDING_UPLOAD' as const,
        files: [],
        totalSize: 0,
        inputShapes: {},
        publisher: 'me',
        createdAt: 'x',
        updatedAt: 'x',
        validation: { attempts: 0 },
      });
      await store.createModel(model('a'));
      await store.createModel(model('b'));
      for (const v of ['1', '2']) await store.createVersion(version('a', v));
      const page = await store.listVersions('a', { limit: 1 });
      expect(page.nextCursor).toBeDefined();
      const err = await store
        .listVersions('b', { limit: 1, cursor: page.nextCursor })
        .catch((e: unknown) => e);
      expect((err as RegistryError).code).toBe('INVALID_REQUEST');
      const missing = await store.createVersion(version('ghost', '1')).catch((e: unknown) => e);
      expect((missing as RegistryError).code).toBe('NOT_FOUND');
      // DynamoDB's 400 KB item limit bounds a manifest: past it the store answers PAYLOAD_TOO_LARGE.
      const files = Array.from({ length: 5000 }, (_, i) => ({
        path: `weights/shard-${String(i).padStart(5, '0')}.bin`,
        size: i,
        sha256: 'a'.repeat(64),
        md5: 'b'.repeat(32),
        format: 'other' as const,
      }));
      const huge = await store.createVersion({ ...version('a', 'huge'), files }).catch((e: unknown) => e);
      expect((huge as RegistryError).code).toBe('PAYLOAD_TOO_LARGE');
      expect(await store.getVersion({ model: 'a', version: 'huge' })).toBeNull();
      expect((await store.createVersion(version('a', '3'))).seq).toBe(3); // the refused one took no seq
    } finally {
      await server.deleteTable(table);
    }
  });
});
