import type { LoadReport } from '../schemas/load-report.schema.js';
import type { Model } from '../schemas/model.schema.js';
import type { NodeClass } from '../schemas/node-class.schema.js';
import type { ProviderRecord } from '../schemas/provider.schema.js';
import type { LoadError, ValidationReport } from '../schemas/report.schema.js';
import type {
  Alias,
  PartChecksum,
  PartTarget,
  StagedFile,
  StagedUploadTarget,
  TransferTarget,
  UploadedPart,
  UploadTarget,
  Version,
  VersionStatus,
} from '../schemas/version.schema.js';
import type { ScrubService } from './scrub.js';

export interface VersionRef {
  readonly model: string;
  readonly version: string;
}

export interface PageRequest {
  readonly limit: number;
  /** Opaque: produced by the same store's previous page. */
  readonly cursor?: string | undefined;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string | undefined;
}

/** The fields of a version that may change after it is created. Everything else is immutable. */
export type VersionPatch = Partial<
  Pick<
    Version,
    | 'status'
    | 'statusReason'
    | 'report'
    | 'validation'
    | 'updatedAt'
    | 'memoryBudgetBytes'
    | 'deprecation'
    | 'signatures'
  >
>;

/** What must hold for a conditional version update to apply. */
export interface VersionCondition {
  readonly status: readonly VersionStatus[];
  /** When set, the version's current lease owner must be exactly this. */
  readonly leaseOwner?: string;
}

/**
 * Models, versions, aliases, report history, providers and load reports. Storage only: the rules are
 * in the use cases of core/. Every backend extends MetadataStoreBase (core/metadata-store-base.ts),
 * which checks the input and builds every error below, so both deployments answer alike; the contract
 * suite (test/contract/metadata-store.contract.ts) holds each backend to this list.
 *
 * Errors common to every method (not repeated below):
 * - INVALID_REQUEST, field `limit`: a page or report limit that is not a positive integer. A page
 *   limit over 1000 is served as 1000.
 * - INVALID_REQUEST, field `cursor`: a cursor not returned by the same listing of the same store (same
 *   model, version or provider).
 * - UNAVAILABLE: the storage service is throttling or down; retry later.
 * - PAYLOAD_TOO_LARGE: a record over what one storage item holds (DynamoDB's 400 KB). Manifests and
 *   reports are not such records: DynamoDB keeps a large one in parts outside its item and outside any
 *   transaction, so a version of MAX_VERSION_FILES files of the longest paths is stored on every backend.
 *
 * Every write that changes a version's state is conditional: if the condition does not hold the store
 * throws CONFLICT and writes nothing, so two racing writers cannot both win.
 */
export interface MetadataStore {
  /** Stores a new model. ALREADY_EXISTS (details `model`) if one of that name exists; it is kept. */
  createModel(model: Model): Promise<void>;
  /** The model, or null. */
  getModel(name: string): Promise<Model | null>;
  /** Models by name, paginated. */
  listModels(page: PageRequest): Promise<Page<Model>>;

  /**
   * Stores a new version with the next per-model sequence number (1, 2, …, without gaps, also under
   * concurrent calls) and returns it. NOT_FOUND (details `model`) if the model does not exist;
   * ALREADY_EXISTS (details `model`, `version`) if the version exists; CONFLICT (field `version`) if an
   * alias of the model has the version's name; CONFLICT if no seq could be allocated under heavy
   * contention. Nothing is written on any of them.
   */
  createVersion(version: Omit<Version, 'seq'>): Promise<Version>;
  /** The version, or null (also for an unknown model). */
  getVersion(ref: VersionRef): Promise<Version | null>;
  /** A model's versions, newest (highest seq) first, only those of `status` when given; none for an unknown model. */
  listVersions(
    model: string,
    page: PageRequest & { status?: VersionStatus | undefined },
  ): Promise<Page<Version>>;
  /** Across all models, oldest update first (then model, version): the work list of the validation queue. */
  listVersionsByStatus(status: VersionStatus, page: PageRequest): Promise<Page<Version>>;
  /**
   * Applies the patch if the condition holds, atomically, and returns the version as stored. A patch key
   * whose value is undefined removes that field. NOT_FOUND (details `model`, `version`) if the version
   * does not exist; CONFLICT (details `status`: what it is, `expected`) if its status is not one of
   * `condition.status` or its lease owner is not `condition.leaseOwner`; INVALID_REQUEST (field
   * `condition.status`) for an empty status list, (field: the key) for a key outside VersionPatch or
   * the removal of `status`, `validation` or `updatedAt`. Nothing is written on any of them.
   */
  updateVersion(ref: VersionRef, condition: VersionCondition, patch: VersionPatch): Promise<Version>;
  /** The highest-seq VERIFIED version, or null. */
  latestVerified(model: string): Promise<Version | null>;

  /**
   * Creates or moves the alias, checking in the same write that its target is VERIFIED and that no
   * version of the model is named like the alias. CONFLICT (field `alias`) if a version has the
   * alias's name; NOT_FOUND (details `model`, `version`) if the target does not exist; NOT_VERIFIED
   * (details `status`) if it is not VERIFIED; CONFLICT if concurrent writes of the target kept the
   * write from landing. In that order when several hold; nothing is written on any of them.
   */
  setAlias(alias: Alias): Promise<void>;
  /** The alias, or null. */
  getAlias(model: string, alias: string): Promise<Alias | null>;
  /** A model's aliases by name; none for an unknown model. */
  listAliases(model: string): Promise<Alias[]>;
  /** Removes the alias; nothing happens if there is none. */
  deleteAlias(model: string, alias: string): Promise<void>;

  /** Appends a validation report to the version's history. NOT_FOUND (details `model`, `version`) if the version does not exist. */
  appendReport(ref: VersionRef, report: ValidationReport): Promise<void>;
  /** A version's report history, newest first; none for an unknown version. */
  listReports(ref: VersionRef, page: PageRequest): Promise<Page<ValidationReport>>;

  /** Models whose `provider` is this one, by name, paginated by cursor. */
  listModelsByProvider(provider: string, page: PageRequest): Promise<Page<Model>>;
  /** Stores the record unless one with that name exists. True when it was created; no error. */
  createProviderIfAbsent(record: ProviderRecord): Promise<boolean>;
  /** The provider record, or null. */
  getProvider(name: string): Promise<ProviderRecord | null>;
  /** Every provider record, by name (providers are few: no pagination). */
  listProviders(): Promise<ProviderRecord[]>;
  /**
   * Replaces the record only if the stored one has revision `expectedRevision`: CONFLICT (details
   * `provider`, `revision`: the stored one) otherwise, NOT_FOUND (details `provider`) if there is none.
   * The caller sets `record.revision` to `expectedRevision + 1`.
   */
  updateProvider(record: ProviderRecord, expectedRevision: number): Promise<void>;
  /** Stores a load report (field or validation). No existence check: a node may report what it has. */
  appendLoadReport(report: LoadReport): Promise<void>;
  /**
   * Load reports of one version, one provider, or all (those of every provider that has a record:
   * core/providers.ts creates one with a provider's first model), newest first (by `at`, then by
   * arrival), only those with `at >= since` (ISO 8601) when given, at most `limit` (a positive integer;
   * not capped: the caller bounds what it reads).
   */
  listLoadReports(
    scope: LoadReportScope,
    options: { readonly since?: string | undefined; readonly limit: number },
  ): Promise<LoadReport[]>;
  /**
   * Adds a field load to the bounded tally of a version (or, for failures during a ramp, of a provider)
   * and returns the tally as it is after this load, in one atomic step: concurrent loads are never lost.
   * What decides quarantine, ramp rollback and "loaded somewhere" is read from this tally, so a field
   * report costs the same few reads whatever the size of the fleet. Each map keeps its `keep` most
   * recent entries. INVALID_REQUEST (field `keep`) unless a positive integer; CONFLICT if the tally
   * stayed contended through bounded retries (nothing was added); no existence check.
   */
  tallyFieldLoad(scope: TallyScope, load: TalliedLoad, keep: number): Promise<LoadTally>;
}

/** Whose tally a field load goes into: a version's, or a provider's. */
export type TallyScope = { readonly ref: VersionRef } | { readonly provider: string };

/** A field load as the tally counts it: who sent it (core/load-reports.ts reporterOf), where, what, when (ISO). */
export interface TalliedLoad {
  readonly reporter: string;
  readonly principal: string;
  readonly node: string;
  readonly outcome: 'ok' | 'failed';
  readonly at: string;
}

/**
 * A bounded summary of field loads: each map holds at most the `keep` most recent entries (by time), and
 * each value is an ISO time. Enough for every decision core makes as long as `keep` is at least the
 * largest reporter threshold (quarantineNodes, rampRollbackReporters) and 2.
 */
export interface LoadTally {
  /** Reporter → its latest failed load. */
  readonly failedReporters: Readonly<Record<string, string>>;
  /** Credential (principal) → its latest failed load. */
  readonly failedPrincipals: Readonly<Record<string, string>>;
  /** Node → its latest load, for the nodes whose latest load was ok. */
  readonly okNodes: Readonly<Record<string, string>>;
}

export type LoadReportScope =
  | { readonly ref: VersionRef }
  | { readonly provider: string }
  | { readonly all: true };

export interface BlobInfo {
  readonly sha256: string;
  readonly size: number;
}

/** What a store knows of a stored blob. */
export interface BlobStat {
  readonly size: number;
  /**
   * True when the stored bytes were found not to hash to their name (rot on disk, a bad copy): such a
   * blob counts as missing for publish, so the next upload of the right bytes replaces it. Absent: intact
   * as far as the store knows.
   */
  readonly corrupt?: true;
}

/** The verdict of re-hashing a stored blob. */
export type BlobCheck = 'intact' | 'corrupt' | 'missing';

/**
 * Content-addressed file bytes, named by their sha256 (64 lowercase hex digits). Bytes never pass
 * through the API: the store hands out URLs. Common to every method: INVALID_REQUEST (field `sha256`)
 * for a name that is not 64 lowercase hex digits, so a name can never steer a path or key; an error of
 * the storage service itself is thrown as it is (a 500). Contract: test/contract/blob-store.contract.ts.
 */
/** A blob's digests (hex) and size, proven by a store on bytes it wrote or read. */
export interface ProvenDigests {
  readonly sha256: string;
  readonly md5: string;
  readonly size: number;
}

export interface BlobStore {
  /** The stored size of the blob (and its corrupt mark), or null if it is not (completely) stored. No error for a missing blob. */
  stat(sha256: string): Promise<BlobStat | null>;
  /**
   * Records that the stored bytes of the blob fail its hash. The mark lasts until an upload of bytes
   * that do hash to the name replaces them; a blob not stored is left alone.
   */
  markCorrupt(sha256: string): Promise<void>;
  /**
   * Re-reads the stored bytes and hashes them, calling `throttle(n)` after each chunk of n bytes (the
   * caller bounds the rate by awaiting there). Does not mark anything: the caller decides.
   */
  check(blob: BlobInfo, throttle?: (bytes: number) => Promise<void>): Promise<BlobCheck>;
  /** Every stored blob, in no particular order (for integrity sweeps). Blobs still uploading are not listed. */
  list(): AsyncIterable<BlobInfo>;
  /**
   * How to send the blob, valid for `ttlSeconds`: one request (the storage refuses bytes whose size or
   * checksum differ), or (stores that take big blobs in parts) a multipart plan.
   */
  uploadTarget(blob: BlobInfo, ttlSeconds: number): Promise<UploadTarget>;
  /**
   * Multipart stores only: the upload URLs of some parts of a plan `uploadTarget` made, each signed with
   * its part's length and SHA-256 so the storage refuses other bytes. INVALID_REQUEST for a part the
   * plan does not have.
   */
  partUploadTargets?(
    blob: BlobInfo,
    uploadId: string,
    parts: readonly PartChecksum[],
    ttlSeconds: number,
  ): Promise<PartTarget[]>;
  /**
   * Multipart stores only: assembles the uploaded parts into the blob. Parts that do not make exactly
   * the plan's parts are refused with CHECKSUM_MISMATCH and the upload is dropped, so nothing is stored
   * under the hash. An upload the storage no longer knows is left alone: the blob stays missing.
   */
  completeUpload?(blob: BlobInfo, uploadId: string, parts: readonly UploadedPart[]): Promise<void>;
  /**
   * Stores that take staged uploads only (the blob folder): a signed target for a file of `file.size`
   * bytes whose sha256 the sender does not know yet, so hashing and sending it overlap. The store hashes
   * the bytes as they arrive and keeps them apart from every blob until `claimStagedUpload` names them; a
   * target unused past `ttlSeconds`, or bytes unclaimed for `ttlSeconds` after they arrived, are dropped.
   * Null when the store holds a blob of that size whose first `HEAD_BYTES` hash to `file.headSha256`
   * (very likely the same file: the sender hashes it first and sends nothing if it is). UNAVAILABLE
   * when too many staged uploads wait at once (the caller tries again later).
   */
  stagedUploadTarget?(file: StagedFile, ttlSeconds: number): Promise<StagedUploadTarget | null>;
  /**
   * Stores the bytes of a finished staged upload as the blob, once: the upload is gone afterwards, claimed
   * or refused. INVALID_REQUEST (details `field: uploadId`) when the store holds no finished upload by that
   * id (never made, still arriving, dropped, or the server restarted); CHECKSUM_MISMATCH (details `sha256`,
   * `actual`) when its bytes' sha256 or size differ from the blob's, and nothing is stored under that hash.
   * A blob already stored intact is left as it is.
   */
  claimStagedUpload?(uploadId: string, blob: BlobInfo): Promise<void>;
  /** A URL that serves the blob's bytes for `ttlSeconds`. Does not check that the blob is stored: the caller has. */
  downloadTarget(blob: BlobInfo, ttlSeconds: number): Promise<TransferTarget>;
  /**
   * Places the blob's bytes at `destPath` (a hard link where the store is local, a download otherwise).
   * FILE_MISSING (details `sha256`) when the blob is not stored; CHECKSUM_MISMATCH when the bytes read
   * back do not hash to the name (stores that re-hash on the way). Answers the digests of the bytes at
   * `destPath` when the store proved them (hashed while writing or reading them, verified by the storage
   * itself, or hashed by an earlier materialize of the very same stored object, which the store recorded),
   * so the caller need not read them again; null when it must hash them itself.
   */
  materialize(blob: BlobInfo, destPath: string): Promise<ProvenDigests | null>;
}

/** Hands a committed version to whatever validates it (a local worker pool, Step Functions). */
export interface ValidationQueue {
  /**
   * Queues one validation of the version. At least once: enqueueing a version already queued or running
   * is harmless (every claim is a conditional write). An error of the queue service is thrown as it is;
   * the version stays UPLOADED, and the sweep (core/validation-jobs.ts) hands it to the queue again.
   */
  enqueue(ref: VersionRef): Promise<void>;
}

/** The time, injectable so tests control it. */
export interface Clock {
  /** The current instant. Never throws. */
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface RegistryDeps {
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  readonly queue: ValidationQueue;
  readonly clock: Clock;
  readonly settings: RegistrySettings;
  /** Where domain events go (metrics, logs; EMF on AWS). Absent: nowhere. */
  readonly events?: RegistryEvents;
  /** The background blob scrub (scrub.ts); absent where nothing runs in the background (Lambda). */
  readonly scrub?: ScrubService;
  /** Signs VERIFIED verdicts (provenance.ts); absent: versions are not signed (the validator's Batch job). */
  readonly signer?: Signer;
}

/**
 * The registry's signing key (an embedded P-256 key file, or AWS KMS). Errors of the key service are
 * thrown as they are.
 */
export interface Signer {
  /** The public key, PEM (SubjectPublicKeyInfo), as `modelgate signing-key` prints it. */
  publicKeyPem(): Promise<string>;
  /** ECDSA P-256 signature of SHA-256(`message`), DER-encoded (as DSSE envelopes carry it). */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * Domain events, emitted by the use cases after the write they describe succeeded. The local server
 * wires them to prom-client and JSON logs; AWS can wire them to EMF. A sink must not throw or block:
 * the use case has already happened.
 */
export interface RegistryEvents {
  /** A provider exists now that did not (its first model), so its counters can start at 0. */
  providerSeen(e: { readonly provider: string }): void;
  /** A version was committed: its error counters can start at 0 before its first failure. */
  versionCommitted(e: { readonly version: Version }): void;
  /** A validation settled a version (VERIFIED, or FAILED with `error`). */
  validationFinished(e: {
    readonly version: Version;
    readonly error?: LoadError | undefined;
    readonly durationMs?: number | undefined;
    readonly peakRssBytes?: number | undefined;
  }): void;
  /** A node reported a load; `loaded` says whether some node has the version loaded now. */
  fieldReportReceived(e: {
    readonly version: Version;
    readonly report: LoadReport;
    readonly loaded: boolean;
  }): void;
  versionQuarantined(e: {
    readonly version: Version;
    readonly by: 'field-reports' | 'operator';
    readonly reason: string;
  }): void;
  versionReleased(e: { readonly version: Version; readonly by: string }): void;
  providerChanged(e: {
    readonly provider: ProviderRecord;
    readonly change: 'disabled' | 'enabled' | 'ramp-started' | 'ramp-rolled-back';
  }): void;
  /** An alias points at a version that cannot be served; the last VERIFIED one before it is served instead. */
  aliasFellBack(e: {
    readonly model: string;
    readonly alias: string;
    readonly target: Version;
    readonly served: Version;
  }): void;
}

export interface RegistrySettings {
  /** How long upload and download URLs stay valid. */
  readonly urlTtlSeconds: number;
  /** Validation lease length; a worker heartbeats well within it. */
  readonly leaseMs: number;
  /** Attempts before a version whose validations keep dying is FAILED with TIMEOUT. */
  readonly maxValidationAttempts: number;
  /** Default memory budget for a validation when the version names none and no node class is configured. */
  readonly defaultMemoryBudgetBytes: number;
  /** The serving node classes every report is judged against (memory-fit.ts). */
  readonly nodeClasses: readonly NodeClass[];
  /** Quarantine, health and ramp rules; absent fields take `defaultOperationsSettings`. */
  readonly operations?: Partial<OperationsSettings>;
}

export interface OperationsSettings {
  /**
   * A VERIFIED version is quarantined when this many distinct authenticated reporters report failures
   * (core/load-reports.ts says who counts as one) …
   */
  readonly quarantineNodes: number;
  /** … within this window. */
  readonly quarantineWindowMs: number;
  /** A provider's ramp is rolled back when this many distinct authenticated reporters report failures during it. */
  readonly rampRollbackReporters: number;
  /** The health score counts the loads (validations and field reports) of this window. */
  readonly healthWindowMs: number;
  /** A provider whose health score is below this is unhealthy. */
  readonly unhealthyBelow: number;
  /** A version counts as loaded on a node when the node's latest report, within this window, is ok. */
  readonly loadedWindowMs: number;
  /** POST /api/v1/ocr/test waits this long for verdicts (under API Gateway's 30 s on AWS). */
  readonly providerTestWaitMs: number;
}

export const defaultOperationsSettings: OperationsSettings = {
  quarantineNodes: 3,
  quarantineWindowMs: 15 * 60_000,
  rampRollbackReporters: 2,
  healthWindowMs: 60 * 60_000,
  unhealthyBelow: 0.5,
  loadedWindowMs: 24 * 3600_000,
  providerTestWaitMs: 25_000,
};

export const operationsSettings = (deps: Pick<RegistryDeps, 'settings'>): OperationsSettings => ({
  ...defaultOperationsSettings,
  ...deps.settings.operations,
});

export const defaultSettings: RegistrySettings = {
  urlTtlSeconds: 3600,
  leaseMs: 30_000,
  maxValidationAttempts: 3,
  defaultMemoryBudgetBytes: 4 * 1024 ** 3,
  nodeClasses: [],
};
