/**
 * The layout of the metadata table (single-table design): its definition, its keys and the items the
 * store writes. The layout is this module's alone: the store, the CDK construct and bulk loaders use
 * these builders and never spell a key themselves.
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
 *                                   A manifest or latest report over INLINE_BYTES of JSON is not in
 *                                   the item: `filesParts` (with `filesPartsId`, its generation) /
 *                                   `reportParts` say how many parts hold it (dynamodb-spill.ts), in
 *                                   the items below.
 *   sk = VFILES#<seq>#<id>#<p, 4 digits>  part p of a spilled manifest, generation `id` (`b`: gzipped
 *                                   JSON bytes). Items written before generations have no
 *                                   `filesPartsId` and their parts at VFILES#<seq>#<p>. A reader that
 *                                   predates generations reads every part under VFILES#<seq>#: right
 *                                   while that seq has one generation, which orphans (a writer that died
 *                                   between its parts and its transaction, a racer's parts) break; so
 *                                   deploy readers (the validator image) before writers.
 *   sk = VREPORT#<seq>#<id>#<p, 4 digits>  part p of a spilled latest report, generation `id`
 *   sk = ALIAS#<alias>              an alias, with `targetSeq`: its version's seq
 *   sk = REPORT#<version>#<n, 10 digits>  one validation report of the history; a large one has
 *                                   `reportParts` instead, its parts at RPART#<version>#<n>#<p>
 *   sk = TALLY#<version>            the version's bounded field-load tally (LoadTally, core/ports.ts)
 *   sk = LOAD#<version>#<at ISO>#<id>      one load report (field or validation).
 *                                   gsi2pk = LOADS#<provider>, gsi2sk = <at ISO>#<id>   (by provider, by time)
 * The model item also carries gsi2pk = PROVIDER#<provider>, gsi2sk = <model>           (models of a provider)
 * Providers live in their own partition `pk = PROVIDER#<name>`, sk = PROVIDER,
 *                                   gsi1pk = PROVIDERS, gsi1sk = <name>                  (listProviders)
 *   with a `revision` that every update is conditional on; sk = TALLY: the provider's failure tally.
 *
 * Why versions are keyed by seq and not by name: listVersions must be newest-first by seq, a query on the
 * zero-padded sort key; the VNAME item turns a version string into that key (one extra GetItem, cached
 * in memory because the mapping never changes). Names cannot contain '#' (schemas/names.schema.ts), so
 * every prefix above is unambiguous.
 */

import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { VersionRef } from '../../core/ports.js';
import type { LoadReport } from '../../schemas/load-report.schema.js';
import type { Model } from '../../schemas/model.schema.js';
import type { ProviderRecord } from '../../schemas/provider.schema.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import type { Alias, Version, VersionStatus } from '../../schemas/version.schema.js';
import { spill } from './dynamodb-spill.js';

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

export type Item = Record<string, unknown>;

export const pad = (n: number): string => String(n).padStart(10, '0');
export const modelPk = (model: string) => `MODEL#${model}`;
/** The table keys of the items of a model's partition. */
export const key = {
  model: (model: string) => ({ pk: modelPk(model), sk: 'MODEL' }),
  counter: (model: string) => ({ pk: modelPk(model), sk: 'COUNTER' }),
  versionName: (ref: VersionRef) => ({ pk: modelPk(ref.model), sk: `VNAME#${ref.version}` }),
  version: (model: string, seq: number) => ({ pk: modelPk(model), sk: `VERSION#${pad(seq)}` }),
  alias: (model: string, alias: string) => ({ pk: modelPk(model), sk: `ALIAS#${alias}` }),
  report: (ref: VersionRef, n: number) => ({ pk: modelPk(ref.model), sk: `REPORT#${ref.version}#${pad(n)}` }),
  versionTally: (ref: VersionRef) => ({ pk: modelPk(ref.model), sk: `TALLY#${ref.version}` }),
  providerTally: (provider: string) => ({ pk: `PROVIDER#${provider}`, sk: 'TALLY' }),
};
/** Sort key prefixes of the parts of spilled documents (dynamodb-spill.ts); a part's key adds `<p, 4 digits>`. */
export const partPrefix = {
  /** A manifest's parts of generation `id`, or (`id` omitted) as written before generations. */
  files: (seq: number, id?: string) => `VFILES#${pad(seq)}#${id === undefined ? '' : `${id}#`}`,
  /** Every generation of a version's latest report (`id` omitted), or one generation. */
  report: (seq: number, id?: string) => `VREPORT#${pad(seq)}#${id === undefined ? '' : `${id}#`}`,
  history: (ref: VersionRef, n: number) => `RPART#${ref.version}#${pad(n)}#`,
};
const partItems = (pk: string, prefix: string, parts: readonly Uint8Array[]): Item[] =>
  parts.map((b, p) => ({ pk, sk: `${prefix}${String(p).padStart(4, '0')}`, b }));
export const MODELS_GSI_PK = 'MODELS';
export const statusGsiPk = (status: VersionStatus) => `STATUS#${status}`;
export const statusGsiSk = (updatedAt: string, ref: VersionRef) => `${updatedAt}#${ref.model}#${ref.version}`;

export const TABLE_KEY_ATTRS = ['pk', 'sk'] as const;
export const GSI_KEY_ATTRS = ['pk', 'sk', 'gsi1pk', 'gsi1sk'] as const;
/** Bookkeeping attributes that are not part of the domain objects. */
const STORAGE_ATTRS = new Set([
  'pk',
  'sk',
  'gsi1pk',
  'gsi1sk',
  'gsi2pk',
  'gsi2sk',
  'reportCount',
  'filesParts',
  'filesPartsId',
  'reportParts',
  'targetSeq',
]);
export const GSI2_KEY_ATTRS = ['pk', 'sk', 'gsi2pk', 'gsi2sk'] as const;
export const PROVIDERS_GSI_PK = 'PROVIDERS';
export const providerKey = (name: string) => ({ pk: `PROVIDER#${name}`, sk: 'PROVIDER' });
export const providerModelsPk = (provider: string) => `PROVIDER#${provider}`;
export const providerLoadsPk = (provider: string) => `LOADS#${provider}`;
/** A model's item: listed by name (gsi1) and by provider (gsi2). */
export const modelItem = (model: Model) => ({
  ...key.model(model.name),
  gsi1pk: MODELS_GSI_PK,
  gsi1sk: model.name,
  gsi2pk: providerModelsPk(model.provider),
  gsi2sk: model.name,
  ...clean(model),
});
/**
 * A version's items: first its item, in the status index (gsi1) at its status and update time, then the
 * parts of its manifest and latest report when they are too large to stay in it (`generation` names the
 * generation of both).
 */
export function versionItems(version: Version, generation = 'r0'): Item[] {
  const { files, report, ...rest } = version;
  const head: Item = {
    ...key.version(version.model, version.seq),
    gsi1pk: statusGsiPk(version.status),
    gsi1sk: statusGsiSk(version.updatedAt, version),
    ...clean(rest),
  };
  const pk = modelPk(version.model);
  const fileParts = spill(clean(files));
  if (fileParts) {
    // A bare count, as before generations: an older reader (a validator image not yet updated) still
    // reads the parts by the VFILES#<seq># prefix.
    head.filesParts = fileParts.length;
    head.filesPartsId = generation;
  } else head.files = clean(files);
  const extra = fileParts ? partItems(pk, partPrefix.files(version.seq, generation), fileParts) : [];
  if (report !== undefined) {
    const reportParts = spill(clean(report));
    if (reportParts) {
      head.reportParts = { id: generation, parts: reportParts.length };
      extra.push(...partItems(pk, partPrefix.report(version.seq, generation), reportParts));
    } else head.report = clean(report);
  }
  return [head, ...extra];
}

/** The part items of a report too large for its item (none if it fits), under `prefix`. */
export function reportPartItems(model: string, prefix: string, report: ValidationReport): Item[] | null {
  const parts = spill(clean(report));
  return parts ? partItems(modelPk(model), prefix, parts) : null;
}
/** A provider's record, listed by name (gsi1). */
export const providerItem = (record: ProviderRecord) => ({
  ...providerKey(record.name),
  gsi1pk: PROVIDERS_GSI_PK,
  gsi1sk: record.name,
  ...clean(record),
});

/**
 * An alias of a model, with its target's seq when known (`targetSeq`): resolving the alias then reads
 * the target version's item directly, without its VNAME lookup.
 */
export const aliasItem = (alias: Alias, targetSeq?: number) => ({
  ...key.alias(alias.model, alias.alias),
  ...clean(alias),
  ...(targetSeq === undefined ? {} : { targetSeq }),
});

/** Report `n` of a version's validation history, and the parts that hold it when it is large. */
export function reportItems(ref: VersionRef, n: number, report: ValidationReport): Item[] {
  const parts = reportPartItems(ref.model, partPrefix.history(ref, n), report);
  if (!parts) return [{ ...key.report(ref, n), report: clean(report) }];
  return [{ ...key.report(ref, n), reportParts: parts.length }, ...parts];
}

/** The sort key range of a version's load reports at or after `since` (ISO; '' for all). */
export const loadReportRange = (ref: VersionRef, since: string) => ({
  from: `LOAD#${ref.version}#${since}`,
  to: `LOAD#${ref.version}#\uffff`,
});

/** A load report, under its model and in its provider's time index (gsi2); `id` orders equal times. */
export const loadReportItem = (report: LoadReport, id: string) => ({
  pk: modelPk(report.model),
  sk: `${loadReportRange(report, report.at).from}#${id}`,
  gsi2pk: providerLoadsPk(report.provider),
  gsi2sk: `${report.at}#${id}`,
  report: clean(report),
});

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
    ...versions.flatMap((v) => [{ ...key.versionName(v), seq: v.seq }, ...versionItems(v)]),
    ...aliases.map((a) => aliasItem(a, versions.find((v) => v.version === a.version)?.seq)),
  ];
}

/** Removes the storage attributes: what is left is the domain object as it was written. */
export function strip(item: Item): Item {
  return Object.fromEntries(Object.entries(item).filter(([k]) => !STORAGE_ATTRS.has(k)));
}

/**
 * Drops undefined object members, deeply. Optional zod fields arrive as `key: undefined`, which the
 * document client refuses unless it was built with removeUndefinedValues; the store must not depend on
 * how its caller configured the client.
 */
export function clean<T>(value: T): T {
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
