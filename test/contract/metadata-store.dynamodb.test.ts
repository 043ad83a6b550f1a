import { createHash, randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bulkItems,
  DynamoDbMetadataStore,
  metadataTableDefinition,
} from '../../adapters/dynamodb/dynamodb-metadata-store.js';
import type { RegistryError } from '../../core/errors.js';
import { defaultSettings, systemClock } from '../../core/ports.js';
import { resolveVersion } from '../../core/resolve.js';
import { ManifestFile } from '../../schemas/version.schema.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../helpers/aws-local.js';
import { aNewVersion, aShardedManifest, aVersion } from '../helpers/builders.js';
import { countingDocClient } from '../helpers/dynamodb-reads.js';
import { describeSkipped, needs } from '../helpers/system-programs.js';
import { describeMetadataStoreContract } from './metadata-store.contract.js';
import { describeOperationsStoreContract } from './operations-store.contract.js';

// One DynamoDB Local (a JVM: seconds to start) for the whole file; each test gets its own fresh table.
let local: DynamoDbLocal | undefined;

/**
 * A fresh table on DynamoDB Local with a store over it and model `m` of provider `p`; the table is
 * deleted after `run`, whatever it does.
 */
async function withModelTable(
  run: (ctx: { server: DynamoDbLocal; table: string; store: DynamoDbMetadataStore }) => Promise<void>,
): Promise<void> {
  const server = local!;
  const table = await server.createMetadataTable();
  try {
    const store = new DynamoDbMetadataStore(server.doc, table);
    await store.createModel({ name: 'm', provider: 'p', description: '', tags: [], createdAt: 'x' });
    await run({ server, table, store });
  } finally {
    await server.deleteTable(table);
  }
}
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

  it('refuses a cursor of another model and a version of an unknown model', async () => {
    const server = local!;
    const table = await server.createMetadataTable();
    try {
      const store = new DynamoDbMetadataStore(server.doc, table);
      const model = (name: string) => ({ name, provider: 'p', description: '', tags: [], createdAt: 'x' });
      const version = (m: string, v: string) =>
        aNewVersion({ model: m, version: v, status: 'PENDING_UPLOAD', totalSize: 0 });
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
      expect((await store.createVersion(version('a', '3'))).seq).toBe(3);
    } finally {
      await server.deleteTable(table);
    }
  });

  it('keeps a version of 5 000 files in items far under 400 KB: a small version item, the manifest in parts', async () => {
    await withModelTable(async ({ server, table, store }) => {
      const files = aShardedManifest(5000);
      const base = { status: 'PENDING_UPLOAD' as const, totalSize: 0 };
      await store.createVersion(aNewVersion({ ...base, version: 'big', files }));
      await store.createVersion(aNewVersion({ ...base, version: 'small', files: files.slice(0, 2) }));
      const items = (
        await server.doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :p',
            ExpressionAttributeValues: { ':p': 'MODEL#m' },
          }),
        )
      ).Items!;
      const size = (i: Record<string, unknown>) => JSON.stringify(i).length;
      const head = items.find((i) => i.sk === 'VERSION#0000000001')!;
      expect(head.files).toBeUndefined();
      expect(head.filesParts).toBeGreaterThanOrEqual(1);
      expect(size(head)).toBeLessThan(2000);
      const parts = items.filter((i) => String(i.sk).startsWith(`VFILES#0000000001#${head.filesPartsId}#`));
      expect(parts).toHaveLength(head.filesParts as number);
      // A reader from before part generations finds the same parts under the old prefix.
      expect(items.filter((i) => String(i.sk).startsWith('VFILES#0000000001#'))).toEqual(parts);
      for (const p of parts) expect((p.b as Uint8Array).length).toBeLessThanOrEqual(300 * 1024);
      // A small manifest stays in the version item, as before: one GetItem reads the version.
      expect(items.find((i) => i.sk === 'VERSION#0000000002')?.files).toHaveLength(2);
      // An eventually consistent store reads the same version back.
      const eventual = new DynamoDbMetadataStore(server.doc, table, { consistentReads: false });
      expect((await eventual.getVersion({ model: 'm', version: 'big' }))?.files).toEqual(files);
    });
  });

  it('stores a manifest whose parts pass TransactWriteItems’ 4 MB limit, and leaves no parts of a refused duplicate', async () => {
    await withModelTable(async ({ server, table, store }) => {
      // 6 000 files whose paths are as long as a manifest allows (six segments of 80 random CJK
      // characters, 240 bytes each): ~10 MB of JSON, a body the local server takes, that gzip cannot
      // shrink under 4 MB, the most one transaction may carry.
      const files = Array.from({ length: 6000 }, (_, i) => {
        const noise = randomBytes(960);
        const segments = Array.from({ length: 6 }, (_, s) =>
          Array.from({ length: 80 }, (_, k) =>
            String.fromCharCode(0x4e00 + (noise.readUInt16LE((s * 80 + k) * 2) % 20000)),
          ).join(''),
        );
        return ManifestFile.parse({
          path: `${i}/${segments.join('/')}`.slice(0, 512),
          size: i,
          sha256: createHash('sha256').update(`${i}`).digest('hex'),
          md5: createHash('md5').update(`${i}`).digest('hex'),
          format: 'other',
        });
      });
      const version = aNewVersion({ version: 'wide', status: 'PENDING_UPLOAD', files, totalSize: 0 });
      expect((await store.createVersion(version)).seq).toBe(1);
      expect((await store.getVersion({ model: 'm', version: 'wide' }))?.files).toEqual(files);
      const partKeys = async () =>
        (
          await server.doc.send(
            new QueryCommand({
              TableName: table,
              KeyConditionExpression: 'pk = :p AND begins_with(sk, :f)',
              ExpressionAttributeValues: { ':p': 'MODEL#m', ':f': 'VFILES#' },
              ProjectionExpression: 'sk',
            }),
          )
        ).Items!.map((i) => i.sk as string);
      const stored = await partKeys();
      const again = await store.createVersion(version).catch((e: unknown) => e);
      expect((again as RegistryError).code).toBe('ALREADY_EXISTS');
      expect(await partKeys()).toEqual(stored);
    });
  }, 120_000);

  it('keeps the parts of a version whose transaction committed though its answer was lost', async () => {
    const server = local!;
    const table = await server.createMetadataTable();
    const client = new DynamoDBClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    // The transaction reaches DynamoDB and commits; the answer is lost on the way back.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'TransactWriteItemsCommand')
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return out;
      },
      { step: 'initialize', name: 'loseTransactAnswer' },
    );
    try {
      const lossy = new DynamoDbMetadataStore(DynamoDBDocumentClient.from(client), table);
      await lossy.createModel({ name: 'm', provider: 'p', description: '', tags: [], createdAt: 'x' });
      const files = aShardedManifest(5000);
      const lost = await lossy
        .createVersion(aNewVersion({ model: 'm', version: 'big', files }))
        .catch((e) => e);
      expect(lost).toBeInstanceOf(Error);
      // It did commit: read back whole, its parts not dropped for an error that did not say "not written".
      const store = new DynamoDbMetadataStore(server.doc, table);
      expect((await store.getVersion({ model: 'm', version: 'big' }))?.files).toEqual(files);
    } finally {
      client.destroy();
      await server.deleteTable(table);
    }
  });

  it('reads a manifest spilled before part generations (a bare part count, parts at VFILES#<seq>#<p>)', async () => {
    await withModelTable(async ({ server, table, store }) => {
      const files = aShardedManifest(2000);
      const v = aVersion({ model: 'm', version: 'old', files, seq: 1 });
      const items = bulkItems({ name: 'm', provider: 'p', description: '', tags: [], createdAt: 'x' }, [
        v,
      ]).map((i) => {
        // Rewrites the items to the layout stored before generations.
        if (i.sk === 'VERSION#0000000001') {
          const { filesPartsId: _, ...before } = i;
          return before;
        }
        if (String(i.sk).startsWith('VFILES#')) return { ...i, sk: String(i.sk).replace(/#r0#/, '#') };
        return i;
      });
      for (const Item of items) await server.doc.send(new PutCommand({ TableName: table, Item }));
      expect((await store.getVersion({ model: 'm', version: 'old' }))?.files).toEqual(files);
    });
  });

  it('resolves an alias with two GetItems and a version with two, from a cold store; eventual reads cost half', async () => {
    const server = local!;
    const table = await server.createMetadataTable();
    const counting = countingDocClient(server.endpoint);
    try {
      const seed = new DynamoDbMetadataStore(server.doc, table);
      await seed.createModel({ name: 'm', provider: 'p', description: '', tags: [], createdAt: 'x' });
      for (const version of ['1.0.0', '2.0.0'])
        await seed.createVersion({
          model: 'm',
          version,
          provider: 'p',
          status: 'VERIFIED',
          files: [],
          totalSize: 0,
          inputShapes: {},
          publisher: 'me',
          createdAt: 'x',
          updatedAt: 'x',
          validation: { attempts: 1 },
        });
      await seed.setAlias({ model: 'm', alias: 'production', version: '1.0.0', updatedAt: 'x' });
      const deps = (consistentReads: boolean) => ({
        metadata: new DynamoDbMetadataStore(counting.doc, table, { consistentReads }),
        blobs: undefined as never,
        queue: undefined as never,
        clock: systemClock,
        settings: defaultSettings,
      });
      const cases = [
        ['production', '1.0.0', { GetItemCommand: 2 }], // the alias (with its target's seq), the version
        ['2.0.0', '2.0.0', { GetItemCommand: 2 }], // never an alias name: VNAME, the version
      ] as const;
      for (const [ref, expected, byCommand] of cases) {
        counting.reset();
        expect((await resolveVersion(deps(true), 'm', ref)).version).toBe(expected);
        expect(counting.reads.byCommand).toEqual(byCommand);
        const strong = counting.reads.readUnits;
        counting.reset();
        await resolveVersion(deps(false), 'm', ref);
        expect(counting.reads.readUnits).toBe(strong / 2);
      }
    } finally {
      counting.destroy();
      await server.deleteTable(table);
    }
  });
});
