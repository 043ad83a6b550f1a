/**
 * MetadataStore on one DynamoDB table (single-table design).
 *
 * Table (metadataTableDefinition; the CDK storage construct must create exactly this):
 *   partition key `pk` (S), sort key `sk` (S), on-demand billing,
 *   GSI `gsi1`: partition key `gsi1pk` (S), sort key `gsi1sk` (S), projection ALL.
 *   GSI `gsi2`: partition key `gsi2pk` (S), sort key `gsi2sk` (S), projection ALL.
 *
 * Items, all in the model's partition `pk = MODEL#<model>`:
 *   sk = MODEL                      the model.             gsi1pk = MODELS, gsi1sk = <model>  (listModels)
 *   sk = COUNTER                    { seq }: the last version sequence number handed out for this model
 *   sk = VNAME#<version>            { seq }: version string → seq. Immutable, written with the version.
 *   sk = VERSION#<seq, 10 digits>   the version. gsi1pk = STATUS#<status>,
 *                                   gsi1sk = <updatedAt ISO>#<model>#<version>      (listVersionsByStatus)
 *                                   also `reportCount`, the last report number handed out.
 *   sk = ALIAS#<alias>              an alias
 *   sk = REPORT#<version>#<n, 10 digits>  one validation report of the history
 *   sk = LOAD#<version>#<at ISO>#<id>      one load report (field or validation).
 *                                   gsi2pk = LOADS#<provider>, gsi2sk = <at ISO>#<id>   (by provider, by time)
 * The model item also carries gsi2pk = PROVIDER#<provider>, gsi2sk = <model>           (models of a provider)
 * Providers live in their own partition `pk = PROVIDER#<name>`, sk = PROVIDER,
 *                                   gsi1pk = PROVIDERS, gsi1sk = <name>                  (listProviders)
 *   with a `revision` that every update is conditional on.
 *
 * Why versions are keyed by seq and not by name: listVersions must be newest-first by seq, a query on the
 * zero-padded sort key; the VNAME item turns a version string into that key (one extra GetItem, cached
 * in memory because the mapping never changes). Names cannot contain '#' (schemas/names.schema.ts), so
 * every prefix above is unambiguous.
 *
 * Every version state change is an UpdateItem whose ConditionExpression holds the expected statuses (and
 * the lease owner); a failed condition becomes RegistryError('CONFLICT'). Sequence numbers come from the
 * COUNTER item, advanced with a conditional ADD in the same TransactWrite that puts the version, so two
 * racing publishers can never get the same seq, and a duplicate version leaves no gap.
 * Reads are strongly consistent (GetItem, Query on the table); GSI queries are eventually consistent on
 * AWS, which the validation queue tolerates because every claim is a conditional write.
 */

import { randomUUID } from 'node:crypto';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { aliasShadowsVersion, versionShadowsAlias } from '../../core/aliases.js';
import { invalid, notFound, RegistryError } from '../../core/errors.js';
import type {
  LoadReportScope,
  MetadataStore,
  Page,
  PageRequest,
  VersionCondition,
  VersionPatch,
  VersionRef,
} from '../../core/ports.js';
import type { LoadReport } from '../../schemas/load-report.schema.js';
import type { Model } from '../../schemas/model.schema.js';
import type { ProviderRecord } from '../../schemas/provider.schema.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import type { Alias, Version, VersionStatus } from '../../schemas/version.schema.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import {
  cancellationCodes,
  isConditionFailed,
  isTransient,
  mapSdkError,
  oldStatusOf,
} from './dynamodb-errors.js';

/** Attribute and index names of the table, for the CDK storage construct and tests. */
export const METADATA_TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  gsi1: { indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  gsi2: { indexName: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
} as const;

export function metadataTableDefinition(tableName: string): CreateTableCommandInput {
  const k = METADATA_TABLE_KEYS;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      k.partitionKey,
      k.sortKey,
      k.gsi1.partitionKey,
      k.gsi1.sortKey,
      k.gsi2.partitionKey,
      k.gsi2.sortKey,
    ].map((name) => ({
      AttributeName: name,
      AttributeType: 'S',
    })),
    KeySchema: [
      { AttributeName: k.partitionKey, KeyType: 'HASH' },
      { AttributeName: k.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: k.gsi1.indexName,
        KeySchema: [
          { AttributeName: k.gsi1.partitionKey, KeyType: 'HASH' },
          { AttributeName: k.gsi1.sortKey, KeyType: 'RANGE' },
        ],
        // ALL: listVersionsByStatus answers full versions without a second read per item.
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: k.gsi2.indexName,
        KeySchema: [
          { AttributeName: k.gsi2.partitionKey, KeyType: 'HASH' },
          { AttributeName: k.gsi2.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

type Item = Record<string, unknown>;

const pad = (n: number): string => String(n).padStart(10, '0');
const modelPk = (model: string) => `MODEL#${model}`;
const key = {
  model: (model: string) => ({ pk: modelPk(model), sk: 'MODEL' }),
  counter: (model: string) => ({ pk: modelPk(model), sk: 'COUNTER' }),
  versionName: (ref: VersionRef) => ({ pk: modelPk(ref.model), sk: `VNAME#${ref.version}` }),
  version: (model: string, seq: number) => ({ pk: modelPk(model), sk: `VERSION#${pad(seq)}` }),
  alias: (model: string, alias: string) => ({ pk: modelPk(model), sk: `ALIAS#${alias}` }),
  report: (ref: VersionRef, n: number) => ({ pk: modelPk(ref.model), sk: `REPORT#${ref.version}#${pad(n)}` }),
};
const MODELS_GSI_PK = 'MODELS';
const statusGsiPk = (status: VersionStatus) => `STATUS#${status}`;
const statusGsiSk = (updatedAt: string, ref: VersionRef) => `${updatedAt}#${ref.model}#${ref.version}`;

const TABLE_KEY_ATTRS = ['pk', 'sk'] as const;
const GSI_KEY_ATTRS = ['pk', 'sk', 'gsi1pk', 'gsi1sk'] as const;
/** Bookkeeping attributes that are not part of the domain objects. */
const STORAGE_ATTRS = new Set(['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'reportCount']);
const GSI2_KEY_ATTRS = ['pk', 'sk', 'gsi2pk', 'gsi2sk'] as const;
const PROVIDERS_GSI_PK = 'PROVIDERS';
const providerKey = (name: string) => ({ pk: `PROVIDER#${name}`, sk: 'PROVIDER' });
const providerModelsPk = (provider: string) => `PROVIDER#${provider}`;
const providerLoadsPk = (provider: string) => `LOADS#${provider}`;
/** A model's item: listed by name (gsi1) and by provider (gsi2). */
const modelItem = (model: Model) => ({
  ...key.model(model.name),
  gsi1pk: MODELS_GSI_PK,
  gsi1sk: model.name,
  gsi2pk: providerModelsPk(model.provider),
  gsi2sk: model.name,
  ...clean(model),
});
/** A version's item, in the status index (gsi1) at its status and update time. */
const versionItem = (version: Version) => ({
  ...key.version(version.model, version.seq),
  gsi1pk: statusGsiPk(version.status),
  gsi1sk: statusGsiSk(version.updatedAt, version),
  ...clean(version),
});
const providerItem = (record: ProviderRecord) => ({
  ...providerKey(record.name),
  gsi1pk: PROVIDERS_GSI_PK,
  gsi1sk: record.name,
  ...clean(record),
});

/** Patchable fields (core/ports.ts VersionPatch) and those of them a patch may not remove. */
const PATCHABLE = [
  'status',
  'statusReason',
  'report',
  'validation',
  'updatedAt',
  'memoryBudgetBytes',
  'deprecation',
] as const satisfies readonly (keyof VersionPatch)[];
const REQUIRED = new Set<string>(['status', 'validation', 'updatedAt']);

const MAX_SEQ_ATTEMPTS = 40;
const MAX_FILTERED_ROUNDS = 10;
const SEQ_CACHE_LIMIT = 10_000;

export class DynamoDbMetadataStore implements MetadataStore {
  /** version ref → seq. The mapping is immutable, so caching it is always correct. */
  private readonly seqCache = new Map<string, number>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createModel(model: Model): Promise<void> {
    const item = modelItem(model);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (e) {
      if (isConditionFailed(e))
        throw new RegistryError('ALREADY_EXISTS', `model ${model.name} already exists`, {
          model: model.name,
        });
      throw mapSdkError(e);
    }
  }

  async getModel(name: string): Promise<Model | null> {
    const item = await this.get(key.model(name));
    return item ? (strip(item) as Model) : null;
  }

  async listModels(page: PageRequest): Promise<Page<Model>> {
    const result = await this.queryPage(
      {
        IndexName: METADATA_TABLE_KEYS.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': MODELS_GSI_PK },
      },
      page,
      { keyAttrs: GSI_KEY_ATTRS, partitionAttr: 'gsi1pk', partition: MODELS_GSI_PK },
    );
    return { ...result, items: result.items.map((i) => strip(i) as Model) };
  }

  async createVersion(input: Omit<Version, 'seq'>): Promise<Version> {
    for (let attempt = 0; attempt < MAX_SEQ_ATTEMPTS; attempt++) {
      const counter = await this.get(key.counter(input.model));
      const current = typeof counter?.seq === 'number' ? counter.seq : 0;
      const version: Version = { ...input, seq: current + 1 };
      try {
        await this.transact(this.createVersionWrites(version, current));
        this.remember(version, version.seq);
        return version;
      } catch (e) {
        const codes = cancellationCodes(e);
        if (!codes) throw mapSdkError(e);
        if (codes[2] === 'ConditionalCheckFailed')
          throw new RegistryError(
            'ALREADY_EXISTS',
            `version ${input.model}@${input.version} already exists`,
            {
              model: input.model,
              version: input.version,
            },
          );
        if (codes[0] === 'ConditionalCheckFailed')
          throw notFound(`model ${input.model}`, { model: input.model });
        if (codes[4] === 'ConditionalCheckFailed') throw versionShadowsAlias(input.model, input.version);
        // The counter moved (another publisher took this seq) or the transaction collided: read it again.
        // Anything else (a validation error of one item) would fail the same way again.
        const counterMoved = codes[1] === 'ConditionalCheckFailed' || codes[3] === 'ConditionalCheckFailed';
        if (!counterMoved && !isTransient(codes)) throw mapSdkError(e);
        await backoff(attempt);
      }
    }
    throw new RegistryError(
      'CONFLICT',
      `could not allocate a sequence number for ${input.model}: too much contention`,
      {
        model: input.model,
      },
    );
  }

  /** Order matters: createVersion reads the cancellation reasons by index. */
  private createVersionWrites(version: Version, current: number): TransactWriteCommandInput['TransactItems'] {
    const TableName = this.tableName;
    return [
      {
        ConditionCheck: {
          TableName,
          Key: key.model(version.model),
          ConditionExpression: 'attribute_exists(pk)',
        },
      },
      {
        Update: {
          TableName,
          Key: key.counter(version.model),
          UpdateExpression: 'ADD #seq :one',
          ConditionExpression: current === 0 ? 'attribute_not_exists(#seq)' : '#seq = :current',
          ExpressionAttributeNames: { '#seq': 'seq' },
          ExpressionAttributeValues: current === 0 ? { ':one': 1 } : { ':one': 1, ':current': current },
        },
      },
      {
        Put: {
          TableName,
          Item: { ...key.versionName(version), seq: version.seq },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName,
          Item: versionItem(version),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        // No alias of the model may be named like the version (core/aliases.ts): checked in this write.
        ConditionCheck: {
          TableName,
          Key: key.alias(version.model, version.version),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ];
  }

  async getVersion(ref: VersionRef): Promise<Version | null> {
    const seq = await this.seqOf(ref);
    if (seq === null) return null;
    const item = await this.get(key.version(ref.model, seq));
    return item ? (strip(item) as Version) : null;
  }

  async listVersions(
    model: string,
    page: PageRequest & { status?: VersionStatus | undefined },
  ): Promise<Page<Version>> {
    const input: Omit<QueryCommandInput, 'TableName'> = {
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':p': modelPk(model), ':prefix': 'VERSION#' },
      ScanIndexForward: false,
      ConsistentRead: true,
    };
    if (page.status) {
      input.FilterExpression = '#status = :status';
      input.ExpressionAttributeNames = { '#status': 'status' };
      input.ExpressionAttributeValues = { ...input.ExpressionAttributeValues, ':status': page.status };
    }
    const result = await this.queryPage(input, page, {
      keyAttrs: TABLE_KEY_ATTRS,
      partitionAttr: 'pk',
      partition: modelPk(model),
      sortPrefix: 'VERSION#',
    });
    return { ...result, items: result.items.map((i) => strip(i) as Version) };
  }

  async listVersionsByStatus(status: VersionStatus, page: PageRequest): Promise<Page<Version>> {
    const result = await this.queryPage(
      {
        IndexName: METADATA_TABLE_KEYS.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': statusGsiPk(status) },
        ScanIndexForward: true, // gsi1sk starts with updatedAt: oldest update first
      },
      page,
      { keyAttrs: GSI_KEY_ATTRS, partitionAttr: 'gsi1pk', partition: statusGsiPk(status) },
    );
    return { ...result, items: result.items.map((i) => strip(i) as Version) };
  }

  async updateVersion(ref: VersionRef, condition: VersionCondition, patch: VersionPatch): Promise<Version> {
    const seq = await this.seqOf(ref);
    if (seq === null) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
    const update = buildUpdate(ref, condition, patch);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key.version(ref.model, seq),
          ...update,
          ReturnValues: 'ALL_NEW',
          // On failure DynamoDB returns the item as it is, so the error can say what the status was.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return strip(out.Attributes ?? {}) as Version;
    } catch (e) {
      if (!isConditionFailed(e)) throw mapSdkError(e);
      const actual = oldStatusOf(e);
      if (actual === undefined) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
      throw new RegistryError(
        'CONFLICT',
        `${ref.model}@${ref.version} is ${actual}; expected ${condition.status.join(' or ')}${
          condition.leaseOwner === undefined ? '' : ` held by ${condition.leaseOwner}`
        }`,
        { ...ref, status: actual, expected: [...condition.status] },
      );
    }
  }

  async latestVerified(model: string): Promise<Version | null> {
    // Newest first with a filter: stops at the first VERIFIED version, normally on the first page.
    let start: Item | undefined;
    do {
      const out = await this.query({
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
        FilterExpression: '#status = :verified',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':p': modelPk(model), ':prefix': 'VERSION#', ':verified': 'VERIFIED' },
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: 25,
        ExclusiveStartKey: start,
      });
      const found = out.Items?.[0];
      if (found) return strip(found) as Version;
      start = out.LastEvaluatedKey;
    } while (start);
    return null;
  }

  async setAlias(alias: Alias): Promise<void> {
    const ref = { model: alias.model, version: alias.version };
    const seq = await this.seqOf(ref);
    if (seq === null) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
    const TableName = this.tableName;
    const writes: TransactWriteCommandInput['TransactItems'] = [
      {
        ConditionCheck: {
          TableName,
          Key: key.version(ref.model, seq),
          ConditionExpression: '#status = :verified',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':verified': 'VERIFIED' },
        },
      },
      { Put: { TableName, Item: { ...key.alias(alias.model, alias.alias), ...clean(alias) } } },
      {
        // No version of the model may be named like the alias (core/aliases.ts): checked in this write.
        ConditionCheck: {
          TableName,
          Key: key.versionName({ model: alias.model, version: alias.alias }),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.transact(writes);
        return;
      } catch (e) {
        const codes = cancellationCodes(e);
        if (!codes) throw mapSdkError(e);
        if (codes[2] === 'ConditionalCheckFailed') throw aliasShadowsVersion(alias.model, alias.alias);
        if (codes[0] === 'ConditionalCheckFailed')
          throw new RegistryError(
            'NOT_VERIFIED',
            `${ref.model}@${ref.version} is not VERIFIED: it cannot be aliased`,
            {
              ...ref,
            },
          );
        // A TransactionConflict with a concurrent write of the version: try again, a few times.
        if (!isTransient(codes)) throw mapSdkError(e);
        if (attempt >= 4)
          throw new RegistryError('CONFLICT', `alias ${alias.alias}: concurrent updates`, { ...ref });
        await backoff(attempt);
      }
    }
  }

  async getAlias(model: string, alias: string): Promise<Alias | null> {
    const item = await this.get(key.alias(model, alias));
    return item ? (strip(item) as Alias) : null;
  }

  async listAliases(model: string): Promise<Alias[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':p': modelPk(model), ':prefix': 'ALIAS#' },
      ConsistentRead: true,
    });
    return items.map((i) => strip(i) as Alias);
  }

  async deleteAlias(model: string, alias: string): Promise<void> {
    try {
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: key.alias(model, alias) }));
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  async appendReport(ref: VersionRef, report: ValidationReport): Promise<void> {
    const seq = await this.seqOf(ref);
    if (seq === null) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
    // An atomic ADD on the version hands out the report number: concurrent appends never collide.
    let n: number;
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key.version(ref.model, seq),
          UpdateExpression: 'ADD reportCount :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      n = Number(out.Attributes?.reportCount);
    } catch (e) {
      if (isConditionFailed(e)) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
      throw mapSdkError(e);
    }
    try {
      await this.client.send(
        new PutCommand({ TableName: this.tableName, Item: { ...key.report(ref, n), report: clean(report) } }),
      );
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  async listReports(ref: VersionRef, page: PageRequest): Promise<Page<ValidationReport>> {
    const prefix = `REPORT#${ref.version}#`;
    const result = await this.queryPage(
      {
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':p': modelPk(ref.model), ':prefix': prefix },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      page,
      { keyAttrs: TABLE_KEY_ATTRS, partitionAttr: 'pk', partition: modelPk(ref.model), sortPrefix: prefix },
    );
    return { ...result, items: result.items.map((i) => i.report as ValidationReport) };
  }

  // ---- operations (issue 5): providers and load reports ----

  async listModelsByProvider(provider: string, page: PageRequest): Promise<Page<Model>> {
    const result = await this.queryPage(
      {
        IndexName: METADATA_TABLE_KEYS.gsi2.indexName,
        KeyConditionExpression: 'gsi2pk = :p',
        ExpressionAttributeValues: { ':p': providerModelsPk(provider) },
      },
      page,
      { keyAttrs: GSI2_KEY_ATTRS, partitionAttr: 'gsi2pk', partition: providerModelsPk(provider) },
    );
    return { ...result, items: result.items.map((i) => strip(i) as Model) };
  }

  async createProviderIfAbsent(record: ProviderRecord): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: providerItem(record),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw mapSdkError(e);
    }
  }

  async getProvider(name: string): Promise<ProviderRecord | null> {
    const item = await this.get(providerKey(name));
    return item ? (strip(item) as ProviderRecord) : null;
  }

  async listProviders(): Promise<ProviderRecord[]> {
    const items = await this.queryAll({
      IndexName: METADATA_TABLE_KEYS.gsi1.indexName,
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': PROVIDERS_GSI_PK },
    });
    return items.map((i) => strip(i) as ProviderRecord);
  }

  async updateProvider(record: ProviderRecord, expectedRevision: number): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: providerItem(record),
          ConditionExpression: 'attribute_exists(pk) AND #revision = :expected',
          ExpressionAttributeNames: { '#revision': 'revision' },
          ExpressionAttributeValues: { ':expected': expectedRevision },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (e) {
      if (!isConditionFailed(e)) throw mapSdkError(e);
      const old = (e as { Item?: Item }).Item;
      if (!old) throw notFound(`provider ${record.name}`, { provider: record.name });
      throw new RegistryError('CONFLICT', `provider ${record.name} changed concurrently`, {
        provider: record.name,
        revision: old.revision,
      });
    }
  }

  async appendLoadReport(report: LoadReport): Promise<void> {
    const id = randomUUID();
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: modelPk(report.model),
            sk: `LOAD#${report.version}#${report.at}#${id}`,
            gsi2pk: providerLoadsPk(report.provider),
            gsi2sk: `${report.at}#${id}`,
            report: clean(report),
          },
        }),
      );
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  async listLoadReports(
    scope: LoadReportScope,
    options: { readonly since?: string | undefined; readonly limit: number },
  ): Promise<LoadReport[]> {
    const limit = checkLimit(options.limit);
    if ('all' in scope) {
      // Every provider's newest `limit`, merged: providers are few, and each query is by index.
      const perProvider = await Promise.all(
        (await this.listProviders()).map((p) => this.listLoadReports({ provider: p.name }, options)),
      );
      return perProvider
        .flat()
        .sort((a, b) => b.at.localeCompare(a.at))
        .slice(0, limit);
    }
    const since = options.since ?? '';
    const input: Omit<QueryCommandInput, 'TableName'> =
      'ref' in scope
        ? {
            KeyConditionExpression: 'pk = :p AND sk BETWEEN :from AND :to',
            ExpressionAttributeValues: {
              ':p': modelPk(scope.ref.model),
              ':from': `LOAD#${scope.ref.version}#${since}`,
              ':to': `LOAD#${scope.ref.version}#\uffff`,
            },
            ConsistentRead: true,
          }
        : {
            IndexName: METADATA_TABLE_KEYS.gsi2.indexName,
            // DynamoDB refuses an empty string as a key value: no lower bound without `since`.
            KeyConditionExpression: since ? 'gsi2pk = :p AND gsi2sk >= :from' : 'gsi2pk = :p',
            ExpressionAttributeValues: {
              ':p': providerLoadsPk(scope.provider),
              ...(since ? { ':from': since } : {}),
            },
          };
    const items = await this.queryAll({ ...input, ScanIndexForward: false }, limit);
    return items.map((i) => i.report as LoadReport);
  }

  // ---- helpers ----

  private async seqOf(ref: VersionRef): Promise<number | null> {
    const cached = this.seqCache.get(cacheKey(ref));
    if (cached !== undefined) return cached;
    const item = await this.get(key.versionName(ref));
    if (!item || typeof item.seq !== 'number') return null;
    this.remember(ref, item.seq);
    return item.seq;
  }

  private remember(ref: VersionRef, seq: number): void {
    if (this.seqCache.size >= SEQ_CACHE_LIMIT) {
      const oldest = this.seqCache.keys().next().value;
      if (oldest !== undefined) this.seqCache.delete(oldest);
    }
    this.seqCache.set(cacheKey(ref), seq);
  }

  private async get(k: { pk: string; sk: string }): Promise<Item | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: k, ConsistentRead: true }),
      );
      return out.Item;
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  /** Every item a query matches, following LastEvaluatedKey, at most `limit`. */
  private async queryAll(
    input: Omit<QueryCommandInput, 'TableName'>,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.query({
        ...input,
        ...(Number.isFinite(limit) ? { Limit: limit - items.length } : {}),
        ExclusiveStartKey: start,
      });
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit);
    return items;
  }

  private async query(input: Omit<QueryCommandInput, 'TableName'>) {
    try {
      return await this.client.send(new QueryCommand({ TableName: this.tableName, ...input }));
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  private async transact(items: TransactWriteCommandInput['TransactItems']): Promise<void> {
    await this.client.send(new TransactWriteCommand({ TransactItems: items }));
  }

  /**
   * One page of a query, filled up to `limit` items even when a filter drops some (bounded rounds).
   * The cursor is the key of the last item returned (or DynamoDB's LastEvaluatedKey when the page ends
   * on a filtered-out stretch), so no item is ever skipped or repeated between pages.
   */
  private async queryPage(
    input: Omit<QueryCommandInput, 'TableName'>,
    page: PageRequest,
    cursorShape: {
      keyAttrs: readonly string[];
      partitionAttr: string;
      partition: string;
      sortPrefix?: string;
    },
  ): Promise<Page<Item>> {
    const limit = checkLimit(page.limit);
    let start = page.cursor === undefined ? undefined : decodeCursor(page.cursor, cursorShape);
    const items: Item[] = [];
    const filtered = input.FilterExpression !== undefined;
    for (let round = 0; !filtered || round < MAX_FILTERED_ROUNDS; round++) {
      const wanted = limit - items.length;
      // One extra item tells whether another page exists, so a full last page carries no cursor.
      const out = await this.query({
        ...input,
        Limit: filtered ? Math.min(1000, Math.max(wanted + 1, 50)) : wanted + 1,
        ExclusiveStartKey: start,
      });
      const batch = out.Items ?? [];
      const taken = batch.slice(0, wanted);
      items.push(...taken);
      const last = taken.at(-1);
      if (batch.length > taken.length && last)
        return { items, nextCursor: encodeCursor(pick(last, cursorShape.keyAttrs)) };
      if (!out.LastEvaluatedKey) return { items };
      start = out.LastEvaluatedKey;
      if (items.length >= limit) return { items, nextCursor: encodeCursor(start) };
    }
    // A sparse filter: hand back what was found and let the caller continue from here.
    return { items, nextCursor: start ? encodeCursor(start) : undefined };
  }
}

/**
 * The items a model with these versions and aliases is stored as, for bulk loading (BatchWriteItem) by
 * benchmarks and data migrations. The layout is this module's alone: callers never build keys.
 */
export function bulkItems(
  model: Model,
  versions: readonly Version[],
  aliases: readonly Alias[] = [],
): Item[] {
  const maxSeq = versions.reduce((m, v) => Math.max(m, v.seq), 0);
  return [
    modelItem(model),
    ...(maxSeq > 0 ? [{ ...key.counter(model.name), seq: maxSeq }] : []),
    ...versions.flatMap((v) => [{ ...key.versionName(v), seq: v.seq }, versionItem(v)]),
    ...aliases.map((a) => ({ ...key.alias(a.model, a.alias), ...clean(a) })),
  ];
}

function buildUpdate(ref: VersionRef, condition: VersionCondition, patch: VersionPatch) {
  if (condition.status.length === 0) throw invalid('condition.status', 'must name at least one status');
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = {};
  const conditions = ['attribute_exists(pk)'];
  const expected = condition.status.map((s, i) => {
    values[`:expected${i}`] = s;
    return `:expected${i}`;
  });
  conditions.push(`#status IN (${expected.join(', ')})`);
  if (condition.leaseOwner !== undefined) {
    names['#validation'] = 'validation';
    names['#leaseOwner'] = 'leaseOwner';
    values[':owner'] = condition.leaseOwner;
    conditions.push('#validation.#leaseOwner = :owner');
  }
  const sets: string[] = [];
  const removes: string[] = [];
  for (const field of PATCHABLE) {
    if (!Object.hasOwn(patch, field)) continue;
    const value = patch[field];
    names[`#${field}`] = field;
    if (value === undefined) {
      if (REQUIRED.has(field)) throw invalid(field, 'is required and cannot be removed');
      removes.push(`#${field}`);
    } else {
      values[`:${field}`] = clean(value);
      sets.push(`#${field} = :${field}`);
    }
  }
  // Keep the status index in step with the fields it is built from.
  if (patch.status !== undefined) {
    values[':gsi1pk'] = statusGsiPk(patch.status);
    sets.push('gsi1pk = :gsi1pk');
  }
  if (patch.updatedAt !== undefined) {
    values[':gsi1sk'] = statusGsiSk(patch.updatedAt, ref);
    sets.push('gsi1sk = :gsi1sk');
  }
  // An empty patch is still a conditional write (it checks the condition): a no-op SET keeps it valid.
  if (sets.length === 0 && removes.length === 0) sets.push('#status = #status');
  return {
    UpdateExpression: [
      sets.length ? `SET ${sets.join(', ')}` : '',
      removes.length ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' '),
    ConditionExpression: conditions.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw invalid('limit', 'must be a positive integer');
  return Math.min(limit, 1000);
}

const cacheKey = (ref: VersionRef) => `${ref.model}@${ref.version}`;

function pick(item: Item, attrs: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(attrs.map((a) => [a, item[a]]));
}

/** Removes the storage attributes: what is left is the domain object as it was written. */
function strip(item: Item): Item {
  return Object.fromEntries(Object.entries(item).filter(([k]) => !STORAGE_ATTRS.has(k)));
}

/**
 * Drops undefined object members, deeply. Optional zod fields arrive as `key: undefined`, which the
 * document client refuses unless it was built with removeUndefinedValues; the store must not depend on
 * how its caller configured the client.
 */
function clean<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => clean(v)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, clean(v)]),
    ) as T;
  }
  return value;
}

/** Jittered backoff for optimistic retries: racers spread out instead of colliding again. */
function backoff(attempt: number): Promise<void> {
  const ms = Math.min(200, 5 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random());
  return new Promise((r) => setTimeout(r, ms));
}
