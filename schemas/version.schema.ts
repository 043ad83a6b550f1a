import { z } from 'zod';
import { FilePath, Md5Hex, ModelName, ProviderName, Sha256Hex, VersionString } from './names.schema.js';
import { LoadError, ValidationReport } from './report.schema.js';

export const VersionStatus = z.enum([
  'PENDING_UPLOAD',
  'UPLOADED',
  'VALIDATING',
  'VERIFIED',
  'FAILED',
  'QUARANTINED',
  'DEPRECATED',
]);
export type VersionStatus = z.infer<typeof VersionStatus>;

export const FileFormat = z.enum(['onnx', 'other']);
export type FileFormat = z.infer<typeof FileFormat>;

export const ManifestFile = z.object({
  path: FilePath,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  sha256: Sha256Hex,
  md5: Md5Hex,
  format: FileFormat,
});
export type ManifestFile = z.infer<typeof ManifestFile>;

/** Input shapes a version is served at: input name → dims (every dim ≥ 1). */
export const InputShapes = z.record(z.string().min(1).max(256), z.array(z.number().int().min(1)).max(16));
export type InputShapes = z.infer<typeof InputShapes>;

export const Version = z.object({
  model: ModelName,
  version: VersionString,
  seq: z.number().int().positive(),
  provider: ProviderName,
  status: VersionStatus,
  files: z.array(ManifestFile),
  totalSize: z.number().int().nonnegative(),
  inputShapes: InputShapes,
  memoryBudgetBytes: z.number().int().positive().optional(),
  publisher: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Why the version is in its state: the validation error for FAILED, the operator's reason otherwise. */
  statusReason: LoadError.optional(),
  report: ValidationReport.optional(),
  validation: z.object({
    attempts: z.number().int().nonnegative(),
    leaseOwner: z.string().optional(),
    leaseExpiresAt: z.string().optional(),
    /** Not before this time: a retried job waits out its backoff. */
    notBefore: z.string().optional(),
  }),
});
export type Version = z.infer<typeof Version>;

export const StartVersionRequest = z.object({
  version: VersionString,
  files: z
    .array(ManifestFile.extend({ format: FileFormat.optional() }))
    .min(1)
    .max(10_000),
  inputShapes: InputShapes.default({}),
  memoryBudgetBytes: z.number().int().positive().optional(),
  publisher: z.string().max(200).default('unknown'),
});
export type StartVersionRequest = z.infer<typeof StartVersionRequest>;

/** Where and how to send or get a blob's bytes: an S3 presigned URL on AWS, a signed local URL otherwise. */
export const TransferTarget = z.object({
  url: z.string(),
  method: z.enum(['PUT', 'GET']),
  headers: z.record(z.string(), z.string()),
  expiresAt: z.string(),
});
export type TransferTarget = z.infer<typeof TransferTarget>;

export const UploadInstruction = TransferTarget.extend({
  sha256: Sha256Hex,
  size: z.number().int().nonnegative(),
});
export type UploadInstruction = z.infer<typeof UploadInstruction>;

export const StartVersionResponse = z.object({
  version: Version,
  /** One per distinct blob the registry does not hold yet: blobs it has are never uploaded again. */
  uploads: z.array(UploadInstruction),
});
export type StartVersionResponse = z.infer<typeof StartVersionResponse>;

export const DownloadFile = ManifestFile.extend({ download: TransferTarget });
export const DownloadPlan = z.object({
  version: Version,
  files: z.array(DownloadFile),
});
export type DownloadPlan = z.infer<typeof DownloadPlan>;

export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().optional() });

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(2000).optional(),
});
export const ListVersionsQuery = ListQuery.extend({ status: VersionStatus.optional() });

export const Alias = z.object({
  model: ModelName,
  alias: z.string(),
  version: VersionString,
  updatedAt: z.string(),
});
export type Alias = z.infer<typeof Alias>;

export const SetAliasRequest = z.object({ version: VersionString });
