import type { Model } from '../schemas/model.schema.js';
import type { NodeClass } from '../schemas/node-class.schema.js';
import type { ValidationReport } from '../schemas/report.schema.js';
import type { Alias, TransferTarget, Version, VersionStatus } from '../schemas/version.schema.js';

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
  Pick<Version, 'status' | 'statusReason' | 'report' | 'validation' | 'updatedAt' | 'memoryBudgetBytes'>
>;

/** What must hold for a conditional version update to apply. */
export interface VersionCondition {
  readonly status: readonly VersionStatus[];
  /** When set, the version's current lease owner must be exactly this. */
  readonly leaseOwner?: string;
}

/**
 * Models, versions, aliases and report history. Every write that changes a version's state is
 * conditional: if the condition does not hold the store throws RegistryError('CONFLICT') and
 * writes nothing, so two racing writers cannot both win.
 */
export interface MetadataStore {
  createModel(model: Model): Promise<void>;
  getModel(name: string): Promise<Model | null>;
  listModels(page: PageRequest): Promise<Page<Model>>;

  /** Stores a new version with the next per-model sequence number. ALREADY_EXISTS if it exists. */
  createVersion(version: Omit<Version, 'seq'>): Promise<Version>;
  getVersion(ref: VersionRef): Promise<Version | null>;
  /** Newest (highest seq) first. */
  listVersions(model: string, page: PageRequest & { status?: VersionStatus | undefined }): Promise<Page<Version>>;
  /** Across all models, oldest update first: the work list of the validation queue. */
  listVersionsByStatus(status: VersionStatus, page: PageRequest): Promise<Page<Version>>;
  updateVersion(ref: VersionRef, condition: VersionCondition, patch: VersionPatch): Promise<Version>;
  /** The highest-seq VERIFIED version, or null. */
  latestVerified(model: string): Promise<Version | null>;

  /** Points the alias at the version only if that version is VERIFIED at the moment of the write. */
  setAlias(alias: Alias): Promise<void>;
  getAlias(model: string, alias: string): Promise<Alias | null>;
  listAliases(model: string): Promise<Alias[]>;
  deleteAlias(model: string, alias: string): Promise<void>;

  appendReport(ref: VersionRef, report: ValidationReport): Promise<void>;
  /** Newest first. */
  listReports(ref: VersionRef, page: PageRequest): Promise<Page<ValidationReport>>;
}

export interface BlobInfo {
  readonly sha256: string;
  readonly size: number;
}

/** Content-addressed file bytes. Bytes never pass through the API: the store hands out URLs. */
export interface BlobStore {
  /** The stored size of the blob, or null if it is not (completely) stored. */
  stat(sha256: string): Promise<{ size: number } | null>;
  uploadTarget(blob: BlobInfo & { md5: string }, ttlSeconds: number): Promise<TransferTarget>;
  downloadTarget(blob: BlobInfo, ttlSeconds: number): Promise<TransferTarget>;
  /** Places the blob's bytes at `destPath` (a hard link where the store is local, a download otherwise). */
  materialize(blob: BlobInfo, destPath: string): Promise<void>;
}

/** Hands a committed version to whatever validates it (a local worker pool, Step Functions). */
export interface ValidationQueue {
  enqueue(ref: VersionRef): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface RegistryDeps {
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  readonly queue: ValidationQueue;
  readonly clock: Clock;
  readonly settings: RegistrySettings;
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
}

export const defaultSettings: RegistrySettings = {
  urlTtlSeconds: 3600,
  leaseMs: 30_000,
  maxValidationAttempts: 3,
  defaultMemoryBudgetBytes: 4 * 1024 ** 3,
  nodeClasses: [],
};
