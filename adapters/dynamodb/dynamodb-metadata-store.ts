/**
 * MetadataStore on one DynamoDB table; the layout is in dynamodb-table-layout.ts, the contract (errors,
 * limits, patch rules) in core/metadata-store-base.ts. Each storage method here is one or a few SDK
 * calls and returns the outcome the contract names; an SDK fault becomes a RegistryError through
 * mapSdkError (dynamodb-errors.ts), anything else is rethrown as the bug it is.
 *
 * Every version state change is an UpdateItem whose ConditionExpression holds the expected statuses (and
 * the lease owner). Sequence numbers come from the COUNTER item, advanced with a conditional ADD in the
 * same TransactWrite that puts the version, so two racing publishers can never get the same seq, and a
 * duplicate version leaves no gap. Reads are strongly consistent (GetItem, Query on the table) unless
 * the store is built with `consistentReads: false` (a read-only path such as downloads, where a read a
 * second stale is fine and costs half); reads that a write depends on are always strong. GSI queries
 * are eventually consistent on AWS, which the validation queue tolerates because every claim is a
 * conditional write. A version's manifest and latest report, and a history report, that are too large
 * for their item live in part items beside it (dynamodb-spill.ts) and are read back with one Query.
 */

import { randomUUID } from 'node:crypto';
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
import {
  type AliasWriteOutcome,
  concurrentUpdate,
  MetadataStoreBase,
  type PageOutcome,
} from '../../core/metadata-store-base.js';
import type {
  LoadReportScope,
  LoadTally,
  PageRequest,
  TallyScope,
  VersionCondition,
  VersionPatch,
  VersionRef,
} from '../../core/ports.js';
import type { LoadReport } from '../../schemas/load-report.schema.js';
import type { Model } from '../../schemas/model.schema.js';
import type { ProviderRecord } from '../../schemas/provider.schema.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import type { Alias, Version, VersionStatus } from '../../schemas/version.schema.js';
import {
  cancellationCodes,
  cancelledItemStatus,
  isConditionFailed,
  isTransient,
  mapSdkError,
  oldStatusOf,
} from './dynamodb-errors.js';
import { mapPage, queryAll, queryPage } from './dynamodb-pagination.js';
import { unspill } from './dynamodb-spill.js';
import {
  aliasItem,
  GSI_KEY_ATTRS,
  GSI2_KEY_ATTRS,
  type Item,
  key,
  loadReportItem,
  loadReportRange,
  METADATA_TABLE_KEYS,
  MODELS_GSI_PK,
  modelItem,
  modelPk,
  PROVIDERS_GSI_PK,
  partPrefix,
  providerItem,
  providerKey,
  providerLoadsPk,
  providerModelsPk,
  reportItems,
  reportPartItems,
  statusGsiPk,
  strip,
  TABLE_KEY_ATTRS,
  versionItems,
} from './dynamodb-table-layout.js';
import { versionUpdate } from './dynamodb-update-expression.js';

export { bulkItems, METADATA_TABLE_KEYS, metadataTableDefinition } from './dynamodb-table-layout.js';

const MAX_SEQ_ATTEMPTS = 40;
const MAX_ALIAS_ATTEMPTS = 5;
const MAX_TALLY_ATTEMPTS = 25;
const SEQ_CACHE_LIMIT = 10_000;
const CHECK_FAILED = 'ConditionalCheckFailed';

export class DynamoDbMetadataStore extends MetadataStoreBase {
  /** version ref → seq. The mapping is immutable, so caching it is always correct. */
  private readonly seqCache = new Map<string, number>();
  /** The arrival stamp of the last load report this store wrote (arrivalId). */
  private lastArrival = 0;

  private readonly consistentReads: boolean;

  /**
   * `options.consistentReads` (default true): false makes the plain reads (getModel, getVersion,
   * getAlias, getProvider, latestVerified, listings) eventually consistent.
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: { readonly consistentReads?: boolean } = {},
  ) {
    super();
    this.consistentReads = options.consistentReads ?? true;
  }

  protected async insertModel(model: Model): Promise<'ok' | 'exists'> {
    const put = new PutCommand({
      TableName: this.tableName,
      Item: modelItem(model),
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    return (await this.conditionalWrite(put)) ? 'ok' : 'exists';
  }

  protected async readModel(name: string): Promise<Model | null> {
    const item = await this.get(key.model(name));
    return item ? (strip(item) as Model) : null;
  }

  protected async queryModels(page: PageRequest): Promise<PageOutcome<Model>> {
    const result = await queryPage(
      this.query,
      {
        IndexName: METADATA_TABLE_KEYS.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': MODELS_GSI_PK },
      },
      page,
      { keyAttrs: GSI_KEY_ATTRS, partitionAttr: 'gsi1pk', partition: MODELS_GSI_PK },
    );
    return mapPage(result, (i) => strip(i) as Model);
  }

  protected async insertVersion(
    input: Omit<Version, 'seq'>,
  ): Promise<Version | 'model-missing' | 'exists' | 'shadows-alias' | 'contention'> {
    for (let attempt = 0; attempt < MAX_SEQ_ATTEMPTS; attempt++) {
      const counter = await this.get(key.counter(input.model), true);
      const current = typeof counter?.seq === 'number' ? counter.seq : 0;
      const version: Version = { ...input, seq: current + 1 };
      const [head, ...parts] = versionItems(version, reportGeneration());
      // The parts of a large manifest or report go first, under a generation of their own, outside the
      // transaction: with them inside, a manifest of a few thousand long paths passes TransactWriteItems'
      // 4 MB limit. No reader finds them before the version item that names them, and a racer's parts
      // are another generation, so they cannot overwrite these.
      const written = await Promise.allSettled(parts.map((Item) => this.put(Item)));
      const failedPut = written.find((w) => w.status === 'rejected');
      if (failedPut) {
        // Every put has settled, so none lands after the drop; no version names these parts.
        await this.dropItems(parts);
        throw mapSdkError(failedPut.reason);
      }
      try {
        await this.transact(this.createVersionWrites(version, head!, current));
        this.remember(version, version.seq);
        return version;
      } catch (e) {
        const codes = cancellationCodes(e);
        // Only a cancelled transaction surely wrote nothing. Any other error (a timeout, a lost answer)
        // may follow a commit, and the version would then name parts that were dropped: they are left, an
        // orphan costing storage at worst.
        if (!codes) throw mapSdkError(e);
        await this.dropItems(parts);
        if (codes[0] === CHECK_FAILED) return 'model-missing';
        if (codes[2] === CHECK_FAILED) return 'exists';
        if (codes[4] === CHECK_FAILED) return 'shadows-alias';
        // The counter moved (another publisher took this seq) or the transaction collided: read it again.
        // Anything else (a validation error of one item) would fail the same way again.
        const counterMoved = codes[1] === CHECK_FAILED || codes[3] === CHECK_FAILED;
        if (!counterMoved && !isTransient(codes)) throw mapSdkError(e);
        await backoff(attempt);
      }
    }
    return 'contention';
  }

  /** Order matters: insertVersion reads the cancellation reasons by index. */
  private createVersionWrites(
    version: Version,
    head: Item,
    current: number,
  ): TransactWriteCommandInput['TransactItems'] {
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
      { Put: { TableName, Item: head, ConditionExpression: 'attribute_not_exists(pk)' } },
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

  /**
   * Deletes items by their keys. Best effort: an orphan part costs storage; a reader that predates part
   * generations reads every part under the version's seq, so it may then refuse that seq's version.
   */
  private async dropItems(items: readonly Item[]): Promise<void> {
    await Promise.all(
      items.map((i) =>
        this.client
          .send(new DeleteCommand({ TableName: this.tableName, Key: { pk: i.pk, sk: i.sk } }))
          .catch(() => {}),
      ),
    );
  }

  protected async readVersion(ref: VersionRef): Promise<Version | null> {
    const seq = await this.seqOf(ref);
    if (seq === null) return null;
    const item = await this.get(key.version(ref.model, seq));
    return item ? this.hydrate(item) : null;
  }

  protected async queryVersions(
    model: string,
    page: PageRequest,
    status: VersionStatus | undefined,
  ): Promise<PageOutcome<Version>> {
    const input: Omit<QueryCommandInput, 'TableName'> = {
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':p': modelPk(model), ':prefix': 'VERSION#' },
      ScanIndexForward: false,
      ConsistentRead: this.consistentReads,
    };
    if (status) {
      input.FilterExpression = '#status = :status';
      input.ExpressionAttributeNames = { '#status': 'status' };
      input.ExpressionAttributeValues = { ...input.ExpressionAttributeValues, ':status': status };
    }
    const result = await queryPage(this.query, input, page, {
      keyAttrs: TABLE_KEY_ATTRS,
      partitionAttr: 'pk',
      partition: modelPk(model),
      sortPrefix: 'VERSION#',
    });
    return this.hydratePage(result);
  }

  protected async queryVersionsByStatus(
    status: VersionStatus,
    page: PageRequest,
  ): Promise<PageOutcome<Version>> {
    const result = await queryPage(
      this.query,
      {
        IndexName: METADATA_TABLE_KEYS.gsi1.indexName,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': statusGsiPk(status) },
        ScanIndexForward: true, // gsi1sk starts with updatedAt: oldest update first
      },
      page,
      { keyAttrs: GSI_KEY_ATTRS, partitionAttr: 'gsi1pk', partition: statusGsiPk(status) },
    );
    return this.hydratePage(result);
  }

  protected async writeVersion(
    ref: VersionRef,
    condition: VersionCondition,
    patch: VersionPatch,
  ): Promise<Version | 'missing' | { readonly conflict: VersionStatus }> {
    const seq = await this.seqOf(ref);
    if (seq === null) return 'missing';
    const { report, ...rest } = patch;
    const reportPatched = Object.hasOwn(patch, 'report');
    // A report too large for the item goes into parts of a new generation first; the conditional update
    // then points the item at them, so a reader never sees a report half written.
    const generation = reportGeneration();
    const parts =
      report === undefined ? null : reportPartItems(ref.model, partPrefix.report(seq, generation), report);
    const storage = !reportPatched
      ? {}
      : parts
        ? { set: { reportParts: { id: generation, parts: parts.length } }, remove: ['report'] }
        : { remove: ['reportParts'] };
    if (parts) await Promise.all(parts.map((Item) => this.put(Item)));
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key.version(ref.model, seq),
          ...versionUpdate(ref, condition, parts ? rest : patch, storage),
          ReturnValues: 'ALL_NEW',
          // On failure DynamoDB returns the item as it is, so the error can say what the status was.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      if (reportPatched) await this.dropReportGenerations(ref.model, seq, parts ? generation : undefined);
      return this.hydrate(out.Attributes ?? {}, report);
    } catch (e) {
      if (parts) await this.dropReportGenerations(ref.model, seq, undefined, generation);
      if (!isConditionFailed(e)) throw mapSdkError(e);
      const actual = oldStatusOf(e);
      return actual === undefined ? 'missing' : { conflict: actual as VersionStatus };
    }
  }

  /**
   * Deletes the parts of a version's report generations other than `keep` (or only of `only`). Best
   * effort: a part left behind costs storage, never correctness (the item names its generation).
   */
  private async dropReportGenerations(
    model: string,
    seq: number,
    keep?: string,
    only?: string,
  ): Promise<void> {
    try {
      const prefix = partPrefix.report(seq, only);
      const items = await queryAll(this.query, {
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':p': modelPk(model), ':prefix': prefix },
        ProjectionExpression: 'pk, sk',
      });
      const stale =
        keep === undefined
          ? items
          : items.filter((i) => !String(i.sk).startsWith(partPrefix.report(seq, keep)));
      await Promise.all(
        stale.map((i) =>
          this.client.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: i.pk, sk: i.sk } })),
        ),
      );
    } catch {
      // Best effort, see above.
    }
  }

  /**
   * The version an item holds, with its spilled manifest and report read back (`report`: the report
   * the caller just wrote, so it is not read again).
   */
  private async hydrate(item: Item, report?: ValidationReport): Promise<Version> {
    const version = strip(item) as Version;
    const seq = Number(item.seq);
    const pk = String(item.pk);
    const reportParts = item.reportParts as { id?: unknown; parts?: unknown } | undefined;
    const filesId = typeof item.filesPartsId === 'string' ? item.filesPartsId : undefined;
    const [files, spilledReport] = await Promise.all([
      typeof item.filesParts === 'number'
        ? this.readParts(pk, partPrefix.files(seq, filesId), item.filesParts)
        : null,
      reportParts && typeof reportParts.parts === 'number' && !report
        ? this.readParts(pk, partPrefix.report(seq, String(reportParts.id)), reportParts.parts)
        : null,
    ]);
    if (files) version.files = files as Version['files'];
    if (spilledReport) version.report = spilledReport as ValidationReport;
    else if (reportParts && report) version.report = report;
    return version;
  }

  private async hydratePage(page: PageOutcome<Item>): Promise<PageOutcome<Version>> {
    if (page === 'bad-cursor') return page;
    return { ...page, items: await Promise.all(page.items.map((i) => this.hydrate(i))) };
  }

  /**
   * The document `count` parts under `prefix` hold. An eventually consistent read that finds fewer parts
   * (they were written a moment ago) is repeated strongly consistent; still fewer is a fault.
   */
  private async readParts(pk: string, prefix: string, count: number): Promise<unknown> {
    const read = (consistent: boolean) =>
      queryAll(this.query, {
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':p': pk, ':prefix': prefix },
        ConsistentRead: consistent,
      });
    let items = await read(this.consistentReads);
    if (items.length !== count && !this.consistentReads) items = await read(true);
    if (items.length !== count)
      throw new Error(`${pk} ${prefix}: ${count} parts expected, ${items.length} stored`);
    return unspill(items.map((i) => i.b as Uint8Array));
  }

  protected async readLatestVerified(model: string): Promise<Version | null> {
    // Newest first with a filter: stops at the first VERIFIED version, normally on the first page.
    let start: Item | undefined;
    do {
      const out = await this.query({
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
        FilterExpression: '#status = :verified',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':p': modelPk(model), ':prefix': 'VERSION#', ':verified': 'VERIFIED' },
        ScanIndexForward: false,
        ConsistentRead: this.consistentReads,
        Limit: 25,
        ExclusiveStartKey: start,
      });
      const found = out.Items?.[0];
      if (found) return this.hydrate(found);
      start = out.LastEvaluatedKey;
    } while (start);
    return null;
  }

  protected async writeAlias(alias: Alias): Promise<AliasWriteOutcome> {
    const seq = await this.seqOf({ model: alias.model, version: alias.version });
    if (seq === null)
      return (await this.seqOf({ model: alias.model, version: alias.alias })) === null
        ? 'version-missing'
        : 'shadows-version';
    const TableName = this.tableName;
    const writes: TransactWriteCommandInput['TransactItems'] = [
      {
        ConditionCheck: {
          TableName,
          Key: key.version(alias.model, seq),
          ConditionExpression: '#status = :verified',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':verified': 'VERIFIED' },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      { Put: { TableName, Item: aliasItem(alias, seq) } },
      {
        // No version of the model may be named like the alias (core/aliases.ts): checked in this write.
        ConditionCheck: {
          TableName,
          Key: key.versionName({ model: alias.model, version: alias.alias }),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ];
    for (let attempt = 0; attempt < MAX_ALIAS_ATTEMPTS; attempt++) {
      try {
        await this.transact(writes);
        return 'ok';
      } catch (e) {
        const codes = cancellationCodes(e);
        if (!codes) throw mapSdkError(e);
        if (codes[2] === CHECK_FAILED) return 'shadows-version';
        if (codes[0] === CHECK_FAILED)
          return { notVerified: cancelledItemStatus(e, 0) as VersionStatus | undefined };
        // A TransactionConflict with a concurrent write of the version: try again, a few times.
        if (!isTransient(codes)) throw mapSdkError(e);
        await backoff(attempt);
      }
    }
    return 'contention';
  }

  protected async readAlias(model: string, alias: string): Promise<Alias | null> {
    const item = await this.get(key.alias(model, alias));
    if (!item) return null;
    const found = strip(item) as Alias;
    // The target's seq, written with the alias: getVersion of the target then skips its VNAME read.
    if (typeof item.targetSeq === 'number') this.remember({ model, version: found.version }, item.targetSeq);
    return found;
  }

  protected async queryAliases(model: string): Promise<Alias[]> {
    const items = await queryAll(this.query, {
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':p': modelPk(model), ':prefix': 'ALIAS#' },
      ConsistentRead: true,
    });
    return items.map((i) => strip(i) as Alias);
  }

  protected async removeAlias(model: string, alias: string): Promise<void> {
    try {
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: key.alias(model, alias) }));
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  protected async insertReport(ref: VersionRef, report: ValidationReport): Promise<'ok' | 'missing'> {
    const seq = await this.seqOf(ref);
    if (seq === null) return 'missing';
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
      if (isConditionFailed(e)) return 'missing';
      throw mapSdkError(e);
    }
    // The parts first, then the item that names them: a listing never finds a report without its parts.
    const [head, ...parts] = reportItems(ref, n, report);
    await Promise.all(parts.map((Item) => this.put(Item)));
    await this.put(head!);
    return 'ok';
  }

  private async put(Item: Item): Promise<void> {
    try {
      await this.client.send(new PutCommand({ TableName: this.tableName, Item }));
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  protected async queryReports(ref: VersionRef, page: PageRequest): Promise<PageOutcome<ValidationReport>> {
    const prefix = `REPORT#${ref.version}#`;
    const result = await queryPage(
      this.query,
      {
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':p': modelPk(ref.model), ':prefix': prefix },
        ScanIndexForward: false,
        ConsistentRead: this.consistentReads,
      },
      page,
      { keyAttrs: TABLE_KEY_ATTRS, partitionAttr: 'pk', partition: modelPk(ref.model), sortPrefix: prefix },
    );
    if (result === 'bad-cursor') return result;
    const items = await Promise.all(
      result.items.map((i) =>
        typeof i.reportParts === 'number'
          ? this.readParts(
              String(i.pk),
              partPrefix.history(ref, Number(String(i.sk).slice(prefix.length))),
              i.reportParts,
            )
          : i.report,
      ),
    );
    return { ...result, items: items as ValidationReport[] };
  }

  protected async queryModelsByProvider(provider: string, page: PageRequest): Promise<PageOutcome<Model>> {
    const result = await queryPage(
      this.query,
      {
        IndexName: METADATA_TABLE_KEYS.gsi2.indexName,
        KeyConditionExpression: 'gsi2pk = :p',
        ExpressionAttributeValues: { ':p': providerModelsPk(provider) },
      },
      page,
      { keyAttrs: GSI2_KEY_ATTRS, partitionAttr: 'gsi2pk', partition: providerModelsPk(provider) },
    );
    return mapPage(result, (i) => strip(i) as Model);
  }

  protected async insertProvider(record: ProviderRecord): Promise<'ok' | 'exists'> {
    const put = new PutCommand({
      TableName: this.tableName,
      Item: providerItem(record),
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    return (await this.conditionalWrite(put)) ? 'ok' : 'exists';
  }

  protected async readProvider(name: string): Promise<ProviderRecord | null> {
    const item = await this.get(providerKey(name));
    return item ? (strip(item) as ProviderRecord) : null;
  }

  protected async queryProviders(): Promise<ProviderRecord[]> {
    const items = await queryAll(this.query, {
      IndexName: METADATA_TABLE_KEYS.gsi1.indexName,
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': PROVIDERS_GSI_PK },
    });
    return items.map((i) => strip(i) as ProviderRecord);
  }

  protected async replaceProvider(
    record: ProviderRecord,
    expectedRevision: number,
  ): Promise<'ok' | 'missing' | { readonly conflict: number }> {
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
      return 'ok';
    } catch (e) {
      if (!isConditionFailed(e)) throw mapSdkError(e);
      const old = (e as { Item?: { revision?: { N?: string } } }).Item;
      return old ? { conflict: Number(old.revision?.N) } : 'missing';
    }
  }

  protected async insertLoadReport(report: LoadReport): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({ TableName: this.tableName, Item: loadReportItem(report, this.arrivalId()) }),
      );
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  protected async queryLoadReports(
    scope: LoadReportScope,
    options: { readonly since?: string | undefined; readonly limit: number },
  ): Promise<LoadReport[]> {
    return (await this.loadReportItems(scope, options)).map((i) => i.report as LoadReport);
  }

  /** Load report items, newest first by gsi2sk (`at`, then arrival). */
  private async loadReportItems(
    scope: LoadReportScope,
    options: { readonly since?: string | undefined; readonly limit: number },
  ): Promise<Item[]> {
    const { limit } = options;
    if ('all' in scope) {
      // Every provider's newest `limit`, merged: providers are few, and each query is by index.
      const perProvider = await Promise.all(
        (await this.queryProviders()).map((p) => this.loadReportItems({ provider: p.name }, options)),
      );
      return perProvider
        .flat()
        .sort((a, b) => String(b.gsi2sk).localeCompare(String(a.gsi2sk)))
        .slice(0, limit);
    }
    const since = options.since ?? '';
    let input: Omit<QueryCommandInput, 'TableName'>;
    if ('ref' in scope) {
      const range = loadReportRange(scope.ref, since);
      input = {
        KeyConditionExpression: 'pk = :p AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':p': modelPk(scope.ref.model), ':from': range.from, ':to': range.to },
        ConsistentRead: true,
      };
    } else {
      input = {
        IndexName: METADATA_TABLE_KEYS.gsi2.indexName,
        // DynamoDB refuses an empty string as a key value: no lower bound without `since`.
        KeyConditionExpression: since ? 'gsi2pk = :p AND gsi2sk >= :from' : 'gsi2pk = :p',
        ExpressionAttributeValues: {
          ':p': providerLoadsPk(scope.provider),
          ...(since ? { ':from': since } : {}),
        },
      };
    }
    return queryAll(this.query, { ...input, ScanIndexForward: false }, limit);
  }

  /**
   * Read, add, write back conditional on the revision read: a load that lost the race is added again
   * to what won, so none is lost. One strongly consistent GetItem of a bounded item per attempt.
   */
  protected async updateTally(
    scope: TallyScope,
    next: (tally: LoadTally | null) => LoadTally,
  ): Promise<LoadTally> {
    const k = 'ref' in scope ? key.versionTally(scope.ref) : key.providerTally(scope.provider);
    for (let attempt = 0; attempt < MAX_TALLY_ATTEMPTS; attempt++) {
      const item = await this.get(k, true);
      const rev = typeof item?.rev === 'number' ? item.rev : 0;
      const tally = next(
        item
          ? {
              failedReporters: (item.failedReporters ?? {}) as Record<string, string>,
              failedPrincipals: (item.failedPrincipals ?? {}) as Record<string, string>,
              okNodes: (item.okNodes ?? {}) as Record<string, string>,
            }
          : null,
      );
      const put = new PutCommand({
        TableName: this.tableName,
        Item: { ...k, ...tally, rev: rev + 1 },
        ConditionExpression: item ? '#rev = :rev' : 'attribute_not_exists(pk)',
        ...(item
          ? { ExpressionAttributeNames: { '#rev': 'rev' }, ExpressionAttributeValues: { ':rev': rev } }
          : {}),
      });
      if (await this.conditionalWrite(put)) return tally;
      await backoff(attempt);
    }
    throw concurrentUpdate(
      `the load tally of ${'ref' in scope ? `${scope.ref.model}@${scope.ref.version}` : scope.provider} stayed contended`,
    );
  }

  /**
   * The id of a load report: its arrival (milliseconds, strictly increasing within this store) then a
   * random part, so reports with the same `at` sort by arrival, as on SQLite, and never collide.
   */
  private arrivalId(): string {
    this.lastArrival = Math.max(Date.now(), this.lastArrival + 1);
    return `${String(this.lastArrival).padStart(15, '0')}-${randomUUID()}`;
  }

  // ---- SDK calls ----

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

  /** One GetItem: consistent as the store is configured, or always when `consistent`. */
  private async get(
    k: { pk: string; sk: string },
    consistent = this.consistentReads,
  ): Promise<Item | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: k, ConsistentRead: consistent }),
      );
      return out.Item;
    } catch (e) {
      throw mapSdkError(e);
    }
  }

  /** A conditional put: true when it was written, false when its condition failed. */
  private async conditionalWrite(put: PutCommand): Promise<boolean> {
    try {
      await this.client.send(put);
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw mapSdkError(e);
    }
  }

  private readonly query = async (input: Omit<QueryCommandInput, 'TableName'>) => {
    try {
      return await this.client.send(new QueryCommand({ TableName: this.tableName, ...input }));
    } catch (e) {
      throw mapSdkError(e);
    }
  };

  /**
   * One TransactWriteItems, idempotent across the SDK's own retries: a retry of a transaction that
   * committed but whose answer was lost succeeds instead of failing on its own writes' conditions (which
   * would read as "exists", and make insertVersion drop the parts the committed version names).
   */
  private async transact(items: TransactWriteCommandInput['TransactItems']): Promise<void> {
    await this.client.send(
      new TransactWriteCommand({ TransactItems: items, ClientRequestToken: randomUUID() }),
    );
  }
}

const cacheKey = (ref: VersionRef) => `${ref.model}@${ref.version}`;

/** A fresh id for a generation of a version's spilled latest report. */
const reportGeneration = () => randomUUID().slice(0, 8);

/** Jittered backoff for optimistic retries: racers spread out instead of colliding again. */
function backoff(attempt: number): Promise<void> {
  const ms = Math.min(200, 5 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random());
  return new Promise((r) => setTimeout(r, ms));
}
