import type { LoadReport } from '../schemas/load-report.schema.js';
import type { Model } from '../schemas/model.schema.js';
import type { ProviderRecord } from '../schemas/provider.schema.js';
import type { ValidationReport } from '../schemas/report.schema.js';
import type { Alias, Version, VersionStatus } from '../schemas/version.schema.js';
import { aliasShadowsVersion, versionShadowsAlias } from './aliases.js';
import { invalid, notFound, RegistryError } from './errors.js';
import type {
  LoadReportScope,
  LoadTally,
  MetadataStore,
  Page,
  PageRequest,
  TalliedLoad,
  TallyScope,
  VersionCondition,
  VersionPatch,
  VersionRef,
} from './ports.js';
import { withRecordedDigests } from './recorded-digests.js';

/** What a backend's alias write saw (MetadataStoreBase.writeAlias states when each holds). */
export type AliasWriteOutcome =
  | 'ok'
  | 'shadows-version'
  | 'version-missing'
  | { readonly notVerified: VersionStatus | undefined }
  | 'contention';

/**
 * The one implementation of the MetadataStore contract (core/ports.ts), in the manner of Powertools'
 * BasePersistenceLayer: the public operations check their input, interpret what the storage reports
 * and build every RegistryError; a backend implements only the protected storage methods below. A
 * storage method never throws for an outcome the contract names (a duplicate, a missing row, a failed
 * condition, a foreign cursor): it returns the outcome, so every backend answers with the same code,
 * message and details. It throws only for faults (I/O, a busy service), built with `storeBusy`,
 * `recordTooLarge` or `concurrentUpdate` below, or as the error it is when it is a bug.
 */
export abstract class MetadataStoreBase implements MetadataStore {
  // ---- storage: what each backend implements ----

  /** Stores the model unless one of that name exists. */
  protected abstract insertModel(model: Model): Promise<'ok' | 'exists'>;
  protected abstract readModel(name: string): Promise<Model | null>;
  /** Models by name, `page.limit` already checked (1..MAX_PAGE_LIMIT). */
  protected abstract queryModels(page: PageRequest): Promise<PageOutcome<Model>>;
  /**
   * Stores the version with the model's next seq, atomically with the checks. Outcomes, when more
   * than one holds: 'model-missing', then 'exists', then 'shadows-alias'. 'contention': no seq could
   * be allocated after bounded retries.
   */
  protected abstract insertVersion(
    version: Omit<Version, 'seq'>,
  ): Promise<Version | 'model-missing' | 'exists' | 'shadows-alias' | 'contention'>;
  protected abstract readVersion(ref: VersionRef): Promise<Version | null>;
  /** A model's versions, highest seq first, only those of `status` when given. */
  protected abstract queryVersions(
    model: string,
    page: PageRequest,
    status: VersionStatus | undefined,
  ): Promise<PageOutcome<Version>>;
  /** Versions of one status across models, by (updatedAt, model, version). */
  protected abstract queryVersionsByStatus(
    status: VersionStatus,
    page: PageRequest,
  ): Promise<PageOutcome<Version>>;
  /**
   * Applies the patch (only VersionPatch keys; a key whose value is undefined removes the field; the
   * required fields are never removed) if the condition holds, in one atomic write. `conflict` carries
   * the status the write found.
   */
  protected abstract writeVersion(
    ref: VersionRef,
    condition: VersionCondition,
    patch: VersionPatch,
  ): Promise<Version | 'missing' | { readonly conflict: VersionStatus }>;
  protected abstract readLatestVerified(model: string): Promise<Version | null>;
  /**
   * Upserts the alias if, in the same write, its target is VERIFIED and no version is named like it.
   * Outcomes, when more than one holds: 'shadows-version', then 'version-missing', then `notVerified`
   * (with the status the write saw, when the backend can tell). 'contention': retries ran out.
   */
  protected abstract writeAlias(alias: Alias): Promise<AliasWriteOutcome>;
  protected abstract readAlias(model: string, alias: string): Promise<Alias | null>;
  /** A model's aliases, by alias name. */
  protected abstract queryAliases(model: string): Promise<Alias[]>;
  /** Removes the alias; nothing when there is none. */
  protected abstract removeAlias(model: string, alias: string): Promise<void>;
  /** Appends the report to the version's history, atomically with the check that the version exists. */
  protected abstract insertReport(ref: VersionRef, report: ValidationReport): Promise<'ok' | 'missing'>;
  /** A version's reports, newest first. */
  protected abstract queryReports(ref: VersionRef, page: PageRequest): Promise<PageOutcome<ValidationReport>>;
  /** Models whose provider is `provider`, by name. */
  protected abstract queryModelsByProvider(provider: string, page: PageRequest): Promise<PageOutcome<Model>>;
  protected abstract insertProvider(record: ProviderRecord): Promise<'ok' | 'exists'>;
  protected abstract readProvider(name: string): Promise<ProviderRecord | null>;
  /** Every provider record, by name. */
  protected abstract queryProviders(): Promise<ProviderRecord[]>;
  /** Replaces the record if the stored revision is `expectedRevision`; `conflict` carries the stored one. */
  protected abstract replaceProvider(
    record: ProviderRecord,
    expectedRevision: number,
  ): Promise<'ok' | 'missing' | { readonly conflict: number }>;
  protected abstract insertLoadReport(report: LoadReport): Promise<void>;
  /**
   * Newest first by `at` (then by arrival), `at >= since` when given, at most `limit` (checked, not
   * capped);
   * `{ all: true }`: the reports of the providers that have a record.
   */
  protected abstract queryLoadReports(
    scope: LoadReportScope,
    options: { readonly since?: string | undefined; readonly limit: number },
  ): Promise<LoadReport[]>;

  /**
   * Replaces the scope's tally (null: none yet) by `next` of it, atomically (a transaction, or a write
   * conditional on what was read, retried a bounded number of times, then `concurrentUpdate`).
   */
  protected abstract updateTally(
    scope: TallyScope,
    next: (tally: LoadTally | null) => LoadTally,
  ): Promise<LoadTally>;

  // ---- the contract ----

  async createModel(model: Model): Promise<void> {
    if ((await this.insertModel(model)) === 'exists')
      throw new RegistryError('ALREADY_EXISTS', `model ${model.name} already exists`, { model: model.name });
  }

  getModel(name: string): Promise<Model | null> {
    return this.readModel(name);
  }

  async listModels(page: PageRequest): Promise<Page<Model>> {
    return pageOrThrow(await this.queryModels(checkPage(page)));
  }

  async createVersion(input: Omit<Version, 'seq'>): Promise<Version> {
    const ref = { model: input.model, version: input.version };
    const outcome = await this.insertVersion(input);
    switch (outcome) {
      case 'model-missing':
        throw notFound(`model ${input.model}`, { model: input.model });
      case 'exists':
        throw new RegistryError(
          'ALREADY_EXISTS',
          `version ${input.model}@${input.version} already exists`,
          ref,
        );
      case 'shadows-alias':
        throw versionShadowsAlias(input.model, input.version);
      case 'contention':
        throw new RegistryError(
          'CONFLICT',
          `could not allocate a sequence number for ${input.model}: too much contention`,
          { model: input.model },
        );
      default:
        return outcome;
    }
  }

  async getVersion(ref: VersionRef): Promise<Version | null> {
    const version = await this.readVersion(ref);
    return version && withRecordedDigests(version);
  }

  async listVersions(
    model: string,
    page: PageRequest & { status?: VersionStatus | undefined },
  ): Promise<Page<Version>> {
    return withDigestsOnPage(pageOrThrow(await this.queryVersions(model, checkPage(page), page.status)));
  }

  async listVersionsByStatus(status: VersionStatus, page: PageRequest): Promise<Page<Version>> {
    return withDigestsOnPage(pageOrThrow(await this.queryVersionsByStatus(status, checkPage(page))));
  }

  async updateVersion(ref: VersionRef, condition: VersionCondition, patch: VersionPatch): Promise<Version> {
    if (condition.status.length === 0) throw invalid('condition.status', 'must name at least one status');
    const outcome = await this.writeVersion(ref, condition, checkPatch(patch));
    if (outcome === 'missing') throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
    if ('conflict' in outcome) {
      const owner = condition.leaseOwner === undefined ? '' : ` held by ${condition.leaseOwner}`;
      throw new RegistryError(
        'CONFLICT',
        `${ref.model}@${ref.version} is ${outcome.conflict}; expected ${condition.status.join(' or ')}${owner}`,
        { ...ref, status: outcome.conflict, expected: [...condition.status] },
      );
    }
    return withRecordedDigests(outcome);
  }

  async latestVerified(model: string): Promise<Version | null> {
    const version = await this.readLatestVerified(model);
    return version && withRecordedDigests(version);
  }

  async setAlias(alias: Alias): Promise<void> {
    const ref = { model: alias.model, version: alias.version };
    const outcome = await this.writeAlias(alias);
    if (outcome === 'ok') return;
    if (outcome === 'shadows-version') throw aliasShadowsVersion(alias.model, alias.alias);
    if (outcome === 'version-missing') throw notFound(`version ${ref.model}@${ref.version}`, ref);
    if (outcome === 'contention')
      throw new RegistryError('CONFLICT', `alias ${alias.alias}: concurrent updates`, ref);
    throw new RegistryError(
      'NOT_VERIFIED',
      `${ref.model}@${ref.version} is ${outcome.notVerified ?? 'not VERIFIED'}: only a VERIFIED version can be aliased`,
      { ...ref, status: outcome.notVerified ?? null },
    );
  }

  getAlias(model: string, alias: string): Promise<Alias | null> {
    return this.readAlias(model, alias);
  }

  listAliases(model: string): Promise<Alias[]> {
    return this.queryAliases(model);
  }

  deleteAlias(model: string, alias: string): Promise<void> {
    return this.removeAlias(model, alias);
  }

  async appendReport(ref: VersionRef, report: ValidationReport): Promise<void> {
    if ((await this.insertReport(ref, report)) === 'missing')
      throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  }

  async listReports(ref: VersionRef, page: PageRequest): Promise<Page<ValidationReport>> {
    return pageOrThrow(await this.queryReports(ref, checkPage(page)));
  }

  async listModelsByProvider(provider: string, page: PageRequest): Promise<Page<Model>> {
    return pageOrThrow(await this.queryModelsByProvider(provider, checkPage(page)));
  }

  async createProviderIfAbsent(record: ProviderRecord): Promise<boolean> {
    return (await this.insertProvider(record)) === 'ok';
  }

  getProvider(name: string): Promise<ProviderRecord | null> {
    return this.readProvider(name);
  }

  listProviders(): Promise<ProviderRecord[]> {
    return this.queryProviders();
  }

  async updateProvider(record: ProviderRecord, expectedRevision: number): Promise<void> {
    const outcome = await this.replaceProvider(record, expectedRevision);
    if (outcome === 'ok') return;
    if (outcome === 'missing') throw notFound(`provider ${record.name}`, { provider: record.name });
    throw new RegistryError('CONFLICT', `provider ${record.name} changed concurrently`, {
      provider: record.name,
      revision: outcome.conflict,
    });
  }

  appendLoadReport(report: LoadReport): Promise<void> {
    return this.insertLoadReport(report);
  }

  async listLoadReports(
    scope: LoadReportScope,
    options: { readonly since?: string | undefined; readonly limit: number },
  ): Promise<LoadReport[]> {
    // Not paginated, so not capped: the caller bounds what it reads (a window of `since`, a limit).
    return this.queryLoadReports(scope, { since: options.since, limit: checkLimit(options.limit, Infinity) });
  }

  async tallyFieldLoad(scope: TallyScope, load: TalliedLoad, keep: number): Promise<LoadTally> {
    if (!Number.isInteger(keep) || keep < 1) throw invalid('keep', 'must be a positive integer');
    return this.updateTally(scope, (tally) => addToTally(tally, load, keep));
  }
}

/**
 * The tally after one more field load: a failure sets its reporter's and principal's latest failure and
 * takes its node off the ok nodes; an ok load makes its node an ok node. Each map keeps its `keep` most
 * recent entries. Maps are built with Object.fromEntries, so no key (not even `__proto__`) is special.
 */
export function addToTally(tally: LoadTally | null, load: TalliedLoad, keep: number): LoadTally {
  const reporters = new Map(Object.entries(tally?.failedReporters ?? {}));
  const principals = new Map(Object.entries(tally?.failedPrincipals ?? {}));
  const okNodes = new Map(Object.entries(tally?.okNodes ?? {}));
  if (load.outcome === 'failed') {
    setLatest(reporters, load.reporter, load.at);
    setLatest(principals, load.principal, load.at);
    okNodes.delete(load.node);
  } else okNodes.set(load.node, load.at);
  return {
    failedReporters: mostRecent(reporters, keep),
    failedPrincipals: mostRecent(principals, keep),
    okNodes: mostRecent(okNodes, keep),
  };
}

function setLatest(map: Map<string, string>, key: string, at: string): void {
  const seen = map.get(key);
  if (seen === undefined || seen < at) map.set(key, at);
}

function mostRecent(map: Map<string, string>, keep: number): Record<string, string> {
  const entries = [...map.entries()];
  if (entries.length > keep) entries.sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0));
  return Object.fromEntries(entries.slice(0, keep));
}

/** What a storage listing returns: a page, or 'bad-cursor' when the cursor is not one of this listing. */
export type PageOutcome<T> = Page<T> | 'bad-cursor';

/** The most items one page holds: a larger `limit` is served as this many (DynamoDB's Query cap). */
export const MAX_PAGE_LIMIT = 1000;

const withDigestsOnPage = (page: Page<Version>): Page<Version> => ({
  ...page,
  items: page.items.map(withRecordedDigests),
});

/** The fields a VersionPatch may carry, and those of them a patch may not remove. */
export const PATCHABLE_VERSION_FIELDS = [
  'status',
  'statusReason',
  'report',
  'validation',
  'updatedAt',
  'memoryBudgetBytes',
  'deprecation',
  'signatures',
] as const satisfies readonly (keyof VersionPatch)[];
const REQUIRED_VERSION_FIELDS = new Set<string>(['status', 'validation', 'updatedAt']);

/** INVALID_REQUEST (field `limit`) unless a positive integer; capped at `cap`. */
function checkLimit(limit: number, cap = MAX_PAGE_LIMIT): number {
  if (!Number.isInteger(limit) || limit < 1) throw invalid('limit', 'must be a positive integer');
  return Math.min(limit, cap);
}

function checkPage<P extends PageRequest>(page: P): PageRequest {
  return { limit: checkLimit(page.limit), cursor: page.cursor };
}

function pageOrThrow<T>(outcome: PageOutcome<T>): Page<T> {
  if (outcome === 'bad-cursor') throw invalid('cursor', 'not a cursor returned by this listing');
  return outcome;
}

/** INVALID_REQUEST naming the field for a key outside VersionPatch or the removal of a required field. */
function checkPatch(patch: VersionPatch): VersionPatch {
  for (const field of Object.keys(patch)) {
    if (!(PATCHABLE_VERSION_FIELDS as readonly string[]).includes(field))
      throw invalid(field, 'cannot be changed after the version is created');
    if (REQUIRED_VERSION_FIELDS.has(field) && patch[field as keyof VersionPatch] === undefined)
      throw invalid(field, 'is required and cannot be removed');
  }
  return patch;
}

/** UNAVAILABLE: the storage service is throttling or down (`cause`: its error name); retry later. */
export const storeBusy = (store: string, cause: string) =>
  new RegistryError('UNAVAILABLE', `${store} is busy (${cause}): retry later`, { cause });

/** PAYLOAD_TOO_LARGE: the record exceeds what one storage item holds (`limit`, e.g. "400 KB"). */
export const recordTooLarge = (store: string, limit: string, cause: string | undefined) =>
  new RegistryError('PAYLOAD_TOO_LARGE', `the record exceeds ${store}’s ${limit} item limit`, { cause });

/** CONFLICT: a write lost a race the store could not attribute to a named condition. */
export const concurrentUpdate = (cause: string) =>
  new RegistryError('CONFLICT', `concurrent update: ${cause}`);
