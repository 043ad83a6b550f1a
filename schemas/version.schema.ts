import { z } from 'zod';
import { FilePath, Md5Hex, ModelName, ProviderName, Sha256Hex, VersionString } from './names.schema.js';
import { LoadError, ValidationReport } from './report.schema.js';
import { VersionSignatures } from './signature.schema.js';

/** A version's place in DESIGN.md's state machine (core/version-state.ts lists the allowed transitions). */
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

/** `onnx` for a file the runtime loads, `other` for every other file (inspected or integrity-checked). */
export const FileFormat = z.enum(['onnx', 'other']);
export type FileFormat = z.infer<typeof FileFormat>;

/**
 * One file of a version: its path in the version, its size in bytes, and its SHA-256 and MD5 digests.
 * The publisher declares the sha256; the md5 may be declared too (then validation checks it) or left out:
 * the registry then records the md5 of the bytes it verified against the sha256 (`FileReport.md5`), and
 * every read of a validated version carries it here (core/recorded-digests.ts). A VERIFIED version's files
 * always have both digests.
 */
export const ManifestFile = z.object({
  path: FilePath,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  sha256: Sha256Hex,
  md5: Md5Hex.optional(),
  format: FileFormat,
});
export type ManifestFile = z.infer<typeof ManifestFile>;

const InputName = z.string().min(1).max(256);
const Dims = z.array(z.number().int().min(1)).max(16);

/** Input shapes a version is served at: input name → dims (every dim ≥ 1). */
export const InputShapes = z.record(InputName, Dims);

/**
 * The most elements one input's shape may hold: 2^32, the longest typed array the runtime's Node binding
 * can be fed. A larger shape is the publisher's typo, not the model's failure, so publish refuses it
 * before a validation could blame the model; a shape under it that does not fit the memory budget is the
 * model's INSUFFICIENT_MEMORY at that shape.
 */
export const MAX_INPUT_ELEMENTS = 2 ** 32;

/**
 * InputShapes as a publish gives them: each shape at most MAX_INPUT_ELEMENTS. Only publishing checks it;
 * versions already stored are read as they are.
 */
export const PublishInputShapes = z.record(
  InputName,
  Dims.refine((dims) => dims.reduce((n, d) => n * d, 1) <= MAX_INPUT_ELEMENTS, {
    message: `a shape of more than ${MAX_INPUT_ELEMENTS} elements (2^32) cannot be fed to any run: check the dims`,
  }),
);
export type InputShapes = z.infer<typeof InputShapes>;

/**
 * Values a version is served with, per input name: a number (the fill value of that input's tensor, or
 * the scalar) or a string (for string inputs). Used by the smoke run instead of synthesized values.
 */
export const InputValues = z.record(
  z.string().min(1).max(256),
  z.union([z.number().finite(), z.string().max(1024)]),
);
export type InputValues = z.infer<typeof InputValues>;

/**
 * A published version: its files, status, input shapes and values, memory budget (bytes), the latest
 * validation report and the state of its validation job (attempts, lease, backoff).
 */
export const Version = z.object({
  model: ModelName,
  version: VersionString,
  seq: z.number().int().positive(),
  provider: ProviderName,
  status: VersionStatus,
  files: z.array(ManifestFile),
  totalSize: z.number().int().nonnegative(),
  inputShapes: InputShapes,
  /** Absent on versions published before input values existed: the same as `{}`. */
  inputValues: InputValues.optional(),
  memoryBudgetBytes: z.number().int().positive().optional(),
  publisher: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Why the version is in its state: the validation error for FAILED, the operator's reason otherwise. */
  statusReason: LoadError.optional(),
  report: ValidationReport.optional(),
  /** Set when an admin deprecated the version: when, and why in their words. */
  deprecation: z.object({ at: z.string(), reason: z.string().max(500).optional() }).optional(),
  /** The registry's signatures of the VERIFIED verdict (schemas/signature.schema.ts); absent before it is signed. */
  signatures: VersionSignatures.optional(),
  validation: z.object({
    attempts: z.number().int().nonnegative(),
    leaseOwner: z.string().optional(),
    leaseExpiresAt: z.string().optional(),
    /** Not before this time: a retried job waits out its backoff. */
    notBefore: z.string().optional(),
    /**
     * Set while `leaseOwner` (a Step Functions execution) has a validation job waiting in, or retried
     * from, the AWS Batch queue: until this ISO time nobody sweeps the version back.
     */
    queuedUntil: z.string().optional(),
  }),
});
export type Version = z.infer<typeof Version>;

/** The most files one version may hold. */
export const MAX_VERSION_FILES = 10_000;

/**
 * The most upload targets one declaration answers. A presigned S3 URL signed with a Lambda's temporary
 * credentials is 1.5–2 KB, and a Lambda answers at most 6 MB: all targets of a version of a few thousand
 * new files at once would not pass it. 500 stay under 1 MB.
 */
export const UPLOAD_TARGETS_PAGE = 500;

/**
 * The most UTF-8 bytes of JSON a publish's input shapes, and its input values, may each take. A version is
 * one record on every backend, and DynamoDB holds at most 400 KB an item: with both at this size beside the
 * inline manifest and report there is room to spare. Names of up to 256 characters leave room for about
 * 200 inputs each; short ones for thousands (a 32-layer LLM's past key values are 64 inputs).
 */
export const MAX_SERVED_INPUTS_BYTES = 64 * 1024;

const withinServedInputsBytes = <T extends z.ZodType>(schema: T) =>
  schema.refine((value) => Buffer.byteLength(JSON.stringify(value)) <= MAX_SERVED_INPUTS_BYTES, {
    message: `more than ${MAX_SERVED_INPUTS_BYTES / 1024} KiB of JSON: give the inputs that need it only`,
  });

/**
 * POST …/versions: the version name and its manifest (1..10 000 files), with the input shapes and values
 * it is served at (each at most MAX_SERVED_INPUTS_BYTES of JSON) and an optional memory budget in bytes.
 */
export const StartVersionRequest = z.object({
  version: VersionString,
  files: z
    .array(ManifestFile.extend({ format: FileFormat.optional() }))
    .min(1)
    .max(MAX_VERSION_FILES),
  inputShapes: withinServedInputsBytes(PublishInputShapes).default({}),
  inputValues: withinServedInputsBytes(InputValues).default({}),
  memoryBudgetBytes: z.number().int().positive().optional(),
  publisher: z.string().max(200).default('unknown'),
  /**
   * The client follows `moreUploadsAfter`: upload targets come UPLOAD_TARGETS_PAGE at a time. Without it
   * every target comes in one answer, as clients from before paging expect (they would commit with blobs
   * missing); past a few thousand new files that answer no longer passes a Lambda.
   */
  pagedUploads: z.boolean().default(false),
  /** The next page of upload targets: the `moreUploadsAfter` of the previous answer (same declaration). */
  uploadsAfter: Sha256Hex.optional(),
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

/** S3's most parts in one multipart upload. */
export const MAX_UPLOAD_PARTS = 10_000;
const PartNumber = z.number().int().min(1).max(MAX_UPLOAD_PARTS);
const UploadId = z.string().min(1).max(1024);

/** A SHA-256 digest in base64 (44 characters), as S3's `x-amz-checksum-sha256` carries it. */
export const Sha256Base64 = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a base64 SHA-256 digest');

/**
 * A blob sent in parts (an S3 multipart upload): the file cut into `partCount` consecutive parts of
 * `partSize` bytes, the last one shorter. The uploader asks for each part's URL with that part's
 * SHA-256 (POST …/versions/{version}/upload-parts), so the storage checks every part as it arrives.
 */
export const MultipartPlan = z.object({
  uploadId: UploadId,
  partSize: z.number().int().positive(),
  partCount: PartNumber,
});
export type MultipartPlan = z.infer<typeof MultipartPlan>;

/**
 * What a BlobStore answers for an upload: one request (url, method, headers), or, with `multipart`,
 * a plan of parts; then `url` is empty and `method`/`headers` are unused.
 */
export const UploadTarget = TransferTarget.extend({ multipart: MultipartPlan.optional() });
export type UploadTarget = z.infer<typeof UploadTarget>;

/** How to upload one blob the registry does not hold yet: the signed target, and the blob's SHA-256 and size. */
export const UploadInstruction = UploadTarget.extend({
  sha256: Sha256Hex,
  size: z.number().int().nonnegative(),
});
export type UploadInstruction = z.infer<typeof UploadInstruction>;

const distinctBy =
  <T>(key: (item: T) => unknown) =>
  (items: readonly T[]): boolean =>
    new Set(items.map(key)).size === items.length;

/** A multipart upload's part number and the base64 SHA-256 of that part's bytes. */
export const PartChecksum = z.object({ partNumber: PartNumber, checksumSha256: Sha256Base64 });
export type PartChecksum = z.infer<typeof PartChecksum>;

/** Asks for the upload URLs of some parts of a multipart upload, each signed with its part's SHA-256. */
export const UploadPartsRequest = z.object({
  sha256: Sha256Hex,
  uploadId: UploadId,
  // At most 100 a call: the answer stays far below a Lambda's 6 MB response limit.
  parts: z
    .array(PartChecksum)
    .min(1)
    .max(100)
    .refine(
      distinctBy((p: PartChecksum) => p.partNumber),
      'part numbers must be distinct',
    ),
});
export type UploadPartsRequest = z.infer<typeof UploadPartsRequest>;

/** The signed upload URL of one part of a multipart upload. */
export const PartTarget = TransferTarget.extend({ partNumber: PartNumber });
export type PartTarget = z.infer<typeof PartTarget>;

/** The signed upload URLs of the parts asked for, one per part. */
export const UploadPartsResponse = z.object({ parts: z.array(PartTarget) });
export type UploadPartsResponse = z.infer<typeof UploadPartsResponse>;

/** A part the storage accepted: its ETag (from the PUT's answer) is what assembling it needs. */
export const UploadedPart = PartChecksum.extend({ etag: z.string().min(1).max(1024) });
export type UploadedPart = z.infer<typeof UploadedPart>;

/** A multipart upload to assemble at commit: the blob's SHA-256, the upload id and every uploaded part. */
export const CompletedUpload = z.object({
  sha256: Sha256Hex,
  uploadId: UploadId,
  parts: z
    .array(UploadedPart)
    .min(1)
    .max(MAX_UPLOAD_PARTS)
    .refine(
      distinctBy((p: UploadedPart) => p.partNumber),
      'part numbers must be distinct',
    ),
});
export type CompletedUpload = z.infer<typeof CompletedUpload>;

/** The id of a staged upload: 32 lower-case hex digits, made by the registry. */
export const StagedUploadId = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits');

/** The bytes a file's head digest covers: its first MiB, or all of a smaller file. */
export const HEAD_BYTES = 1024 * 1024;

/**
 * A file to send before its sha256 is known: its size in bytes and `headSha256`, the sha256 of its first
 * `HEAD_BYTES`. The head tells a file the registry very likely holds (a blob of that size and head: the
 * same weights published again) from new bytes (retrained weights of the same size differ from the start).
 */
export const StagedFile = z.object({
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  headSha256: Sha256Hex,
});
export type StagedFile = z.infer<typeof StagedFile>;

/**
 * POST /api/v1/staged-uploads: files to send before their sha256 is known (one target each). The
 * publisher hashes while it sends and names the digest at commit.
 */
export const StageUploadsRequest = z.object({ files: z.array(StagedFile).min(1).max(100) });
export type StageUploadsRequest = z.infer<typeof StageUploadsRequest>;

/** Where to send one staged upload: a signed PUT for exactly `size` bytes, valid until `expiresAt`. */
export const StagedUploadTarget = TransferTarget.extend({
  uploadId: StagedUploadId,
  size: z.number().int().nonnegative(),
});
export type StagedUploadTarget = z.infer<typeof StagedUploadTarget>;

/**
 * The answer of POST /api/v1/staged-uploads: one entry per file asked for, a target, or null for a file
 * the registry very likely holds or one past its limit of staged uploads (hash it first and upload it to
 * the target of POST …/versions, if the registry asks for it). `staged: false` (and no
 * targets) where the storage takes no staged uploads (S3, whose presigned PUT must name the checksum up
 * front): the publisher hashes first and uploads to the targets of POST …/versions instead.
 */
export const StageUploadsResponse = z.object({
  staged: z.boolean(),
  uploads: z.array(StagedUploadTarget.nullable()),
});
export type StageUploadsResponse = z.infer<typeof StageUploadsResponse>;

/** A finished staged upload claimed at commit as the bytes of the version's blob `sha256`. */
export const StagedUpload = z.object({ sha256: Sha256Hex, uploadId: StagedUploadId });
export type StagedUpload = z.infer<typeof StagedUpload>;

/**
 * The commit's body, optional: the multipart uploads to assemble and the staged uploads to claim before
 * every blob must be stored.
 */
export const CommitVersionRequest = z.object({
  multipart: z
    .array(CompletedUpload)
    .max(10_000)
    .refine(
      distinctBy((u: CompletedUpload) => u.sha256),
      'sha256 values must be distinct',
    )
    .default([]),
  staged: z
    .array(StagedUpload)
    .max(10_000)
    .refine(
      (staged) =>
        distinctBy((u: StagedUpload) => u.sha256)(staged) &&
        distinctBy((u: StagedUpload) => u.uploadId)(staged),
      'sha256 values and upload ids must be distinct',
    )
    .default([]),
});
export type CommitVersionRequest = z.infer<typeof CommitVersionRequest>;

/** The answer of POST …/versions: the version (PENDING_UPLOAD) and the uploads still needed. */
export const StartVersionResponse = z.object({
  version: Version,
  /**
   * One per distinct blob the registry does not hold yet (blobs it has are never uploaded again), in
   * sha256 order; with `pagedUploads`, at most UPLOAD_TARGETS_PAGE of them.
   */
  uploads: z.array(UploadInstruction),
  /** Present when more blobs are missing: declare the same version again with `uploadsAfter` set to it. */
  moreUploadsAfter: Sha256Hex.optional(),
});
export type StartVersionResponse = z.infer<typeof StartVersionResponse>;

/** A file of a download plan: the manifest entry and where to GET its bytes. */
export const DownloadFile = ManifestFile.extend({ download: TransferTarget });
/**
 * GET …/download/{ref}: the version and, for each of its files, a signed download target. A version of
 * many files is answered in pages (core/download.ts DOWNLOAD_PAGE_FILES files each, in manifest order):
 * `nextCursor`, when present, is passed back as `?cursor=` for the next page of the same version.
 */
export const DownloadPlan = z.object({
  version: Version,
  files: z.array(DownloadFile),
  nextCursor: z.string().max(2000).optional(),
});
export type DownloadPlan = z.infer<typeof DownloadPlan>;

/** A page of a listing: the items and, when there are more, the cursor that continues it. */
export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().optional() });

/** Paging query of every listing: `limit` 1..1000 (default 100) and the `cursor` of the previous page. */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(2000).optional(),
});
/** Paging query of a model's versions, optionally of one status. */
export const ListVersionsQuery = ListQuery.extend({ status: VersionStatus.optional() });

/** A named pointer (`production`) from a model to one of its versions, and when it was last moved. */
export const Alias = z.object({
  model: ModelName,
  alias: z.string(),
  version: VersionString,
  updatedAt: z.string(),
});
export type Alias = z.infer<typeof Alias>;

/** PUT …/aliases/{alias}: the version the alias should point at. */
export const SetAliasRequest = z.object({ version: VersionString });

/** POST …/versions/{version}/deprecate: the admin's reason, optional. */
export const DeprecateVersionRequest = z.object({ reason: z.string().min(1).max(500).optional() });
export type DeprecateVersionRequest = z.infer<typeof DeprecateVersionRequest>;
