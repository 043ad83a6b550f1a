/**
 * BlobStore on one S3 bucket. Blobs are content-addressed: `<keyPrefix>blobs/sha256/<first 2 hex>/<hex>`,
 * so versions that share a file share the object and a re-publish uploads only what changed.
 *
 * Bytes never pass through the registry: uploads and downloads go straight to S3 by presigned URL.
 *
 * Up to `multipartThresholdBytes` a blob is one PUT, signed with the manifest's SHA-256
 * (`x-amz-checksum-sha256`, base64 of the raw digest) and the exact Content-Length as signed headers:
 * S3 recomputes the checksum and refuses the PUT when the bytes differ, so an object under a hash key
 * holds exactly those bytes. The uploader must send the headers of the TransferTarget verbatim, or the
 * signature does not match.
 *
 * Above it (and necessarily above 5 GiB, S3's single-PUT limit) a blob is a multipart upload created
 * with ChecksumAlgorithm SHA256: `uploadTarget` answers a plan (upload id, part size, part count), the
 * uploader hashes each part and asks for that part's URL (`partUploadTargets`), signed with the part's
 * length and SHA-256, so S3 refuses a part whose bytes differ from what the uploader hashed. Part URLs
 * are signed on demand because S3 refuses an unsigned `x-amz-*` header on a presigned request
 * ("There were headers present in the request which were not signed"): the checksum must be known when
 * the URL is signed. `completeUpload` assembles the parts the uploader reports (part number, ETag,
 * checksum) once they are exactly the plan's parts. The multipart checksum S3 keeps is a checksum of
 * the part checksums, not the file's SHA-256: per-part checksums catch bytes corrupted in transit, and
 * the validator (`materialize`, which hashes every byte it reads of an object S3 did not verify whole)
 * catches a wrong file, once: it then writes a proof naming the object (`S3_KEY_LAYOUT.proofs`), and a
 * later validation of the same object only downloads it.
 *
 * The part size is a function of the blob size and the options, so a plan made at start is the plan
 * checked at commit without storing it: `partSizeBytes`, grown for huge blobs to stay within 10 000
 * parts. Uploads that are never completed are aborted by the bucket's lifecycle rule (cdk/).
 *
 * A blob found rotten is marked by an object `<keyPrefix>corrupt/sha256/<hex>` naming the ETag and
 * LastModified of the bad object: the mark applies to that object only, so an upload that replaces it
 * (a new LastModified) repairs the blob without the registry seeing the upload.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { z } from 'zod';
import { RegistryError } from '../../core/errors.js';
import { storeBusy } from '../../core/metadata-store-base.js';
import type { BlobCheck, BlobInfo, BlobStat, BlobStore, ProvenDigests } from '../../core/ports.js';
import { isSha256Hex } from '../../schemas/names.schema.js';
import {
  MAX_UPLOAD_PARTS,
  type MultipartPlan,
  type PartChecksum,
  type PartTarget,
  type TransferTarget,
  type UploadedPart,
  type UploadTarget,
} from '../../schemas/version.schema.js';
import { blobKeys, S3_KEY_LAYOUT } from './s3-key-layout.js';

/**
 * Settings every S3Client handed to this store needs. With the SDK's default (WHEN_SUPPORTED), presigned
 * PUT URLs carry the CRC32 of an empty body and S3 rejects the real upload; integrity comes from
 * the manifest's SHA-256, signed into each upload, and from `materialize`'s hash.
 */
export const S3_CLIENT_CHECKSUM_SETTINGS = {
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
} as const;

export interface S3BlobStoreOptions {
  /** Prepended to every key, e.g. `registry/`; a missing trailing slash is added. */
  readonly keyPrefix?: string;
  /** Blobs bigger than this go by multipart upload (default 64 MiB; at most 5 GiB, S3's single PUT). */
  readonly multipartThresholdBytes?: number;
  /** Size of a part (default 64 MiB; 5 MiB to 5 GiB, S3's limits), grown for blobs over 10 000 parts. */
  readonly partSizeBytes?: number;
}

const MiB = 1024 ** 2;
/** S3's single-PUT object size limit. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;
/** S3's object size limit. */
export const MAX_OBJECT_BYTES = 5 * 1024 ** 4;
/** S3's part size limits (the last part may be smaller). */
export const MIN_PART_BYTES = 5 * MiB;
export const MAX_PART_BYTES = 5 * 1024 ** 3;
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = 64 * MiB;
export const DEFAULT_PART_SIZE_BYTES = 64 * MiB;
/** SigV4 presigned URLs live at most 7 days. */
const MAX_TTL_SECONDS = 7 * 24 * 3600;

export class S3BlobStore implements BlobStore {
  private readonly keyPrefix: string;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  /** `client.send`, answering S3's throttling and server faults as UNAVAILABLE (`sendMappingBusy`). */
  private readonly send: S3Client['send'];

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    options: S3BlobStoreOptions = {},
  ) {
    this.send = sendMappingBusy(client);
    const prefix = options.keyPrefix ?? '';
    this.keyPrefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.multipartThreshold = options.multipartThresholdBytes ?? DEFAULT_MULTIPART_THRESHOLD_BYTES;
    this.partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES;
    if (!Number.isInteger(this.multipartThreshold) || this.multipartThreshold < 0)
      throw new RangeError('multipartThresholdBytes must be a non-negative integer');
    if (this.multipartThreshold > MAX_SINGLE_PUT_BYTES)
      throw new RangeError(`multipartThresholdBytes must be at most ${MAX_SINGLE_PUT_BYTES} (one PUT)`);
    if (!Number.isInteger(this.partSize) || this.partSize < MIN_PART_BYTES || this.partSize > MAX_PART_BYTES)
      throw new RangeError(`partSizeBytes must be an integer from ${MIN_PART_BYTES} to ${MAX_PART_BYTES}`);
  }

  /** How a blob of this size is cut into parts, or null when it goes in one PUT. */
  partsOf(size: number): Omit<MultipartPlan, 'uploadId'> | null {
    if (size <= this.multipartThreshold) return null;
    // Whole MiB, and large enough that the parts stay within S3's 10 000 (≤ 525 MiB at 5 TiB).
    const least = Math.ceil(size / MAX_UPLOAD_PARTS / MiB) * MiB;
    const partSize = Math.max(this.partSize, least);
    return { partSize, partCount: Math.ceil(size / partSize) };
  }

  /** The object key of a blob. Public so that operators and tests can find an object. */
  keyOf(sha256: string): string {
    return blobKeys(this.keyPrefix, sha256).blob;
  }

  async stat(sha256: string): Promise<BlobStat | null> {
    let head: {
      ContentLength?: number | undefined;
      ETag?: string | undefined;
      LastModified?: Date | undefined;
    };
    try {
      head = await this.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
    const size = head.ContentLength ?? 0;
    const mark = await this.readMark(sha256);
    return mark !== null && mark === identityOf(head) ? { size, corrupt: true } : { size };
  }

  private markKey(sha256: string): string {
    return blobKeys(this.keyPrefix, sha256).corruptMark;
  }

  /** The identity (ETag and LastModified) of the object the corrupt mark names, or null. */
  private async readMark(sha256: string): Promise<string | null> {
    return (await this.readSmallObject(this.markKey(sha256), MARK_MAX_BYTES))?.trim() ?? null;
  }

  async markCorrupt(sha256: string): Promise<void> {
    let head: { ETag?: string | undefined; LastModified?: Date | undefined };
    try {
      head = await this.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    await this.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.markKey(sha256), Body: identityOf(head) }),
    );
  }

  async check(blob: BlobInfo, throttle?: (bytes: number) => Promise<void>): Promise<BlobCheck> {
    let body: Readable;
    try {
      ({ body } = await this.openObject(blob));
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'FILE_MISSING') return 'missing';
      throw e;
    }
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      await throttle?.(chunk.length);
    }
    return size === blob.size && hash.digest('hex') === blob.sha256 ? 'intact' : 'corrupt';
  }

  async *list(): AsyncIterable<BlobInfo> {
    const prefix = `${this.keyPrefix}${S3_KEY_LAYOUT.blobs}`;
    let token: string | undefined;
    do {
      const page = await this.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const name = o.Key?.slice(o.Key.lastIndexOf('/') + 1) ?? '';
        if (isSha256Hex(name)) yield { sha256: name, size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async uploadTarget(blob: BlobInfo, ttlSeconds: number): Promise<UploadTarget> {
    if (blob.size > MAX_OBJECT_BYTES)
      throw new RegistryError('PAYLOAD_TOO_LARGE', `a file over ${MAX_OBJECT_BYTES} bytes cannot be stored`, {
        sha256: blob.sha256,
        size: blob.size,
      });
    const parts = this.partsOf(blob.size);
    if (parts) return this.startMultipart(blob, parts, clampTtl(ttlSeconds));
    return this.singlePutTarget(blob, ttlSeconds);
  }

  private async startMultipart(
    blob: BlobInfo,
    parts: Omit<MultipartPlan, 'uploadId'>,
    expiresIn: number,
  ): Promise<UploadTarget> {
    const created = await this.send(
      new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.keyOf(blob.sha256),
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    if (!created.UploadId) throw new Error(`S3 answered CreateMultipartUpload without an UploadId`);
    // No URL of its own: each part's URL is asked for with that part's checksum (see the header comment).
    return {
      url: '',
      method: 'PUT',
      headers: {},
      expiresAt: expiry(expiresIn),
      multipart: { uploadId: created.UploadId, ...parts },
    };
  }

  async partUploadTargets(
    blob: BlobInfo,
    uploadId: string,
    parts: readonly PartChecksum[],
    ttlSeconds: number,
  ): Promise<PartTarget[]> {
    const plan = this.partsOf(blob.size);
    if (!plan)
      throw new RegistryError('INVALID_REQUEST', `uploadId: blob ${blob.sha256} is uploaded in one PUT`, {
        field: 'uploadId',
      });
    const expiresIn = clampTtl(ttlSeconds);
    return Promise.all(
      parts.map(async (p) => {
        if (p.partNumber > plan.partCount)
          throw new RegistryError(
            'INVALID_REQUEST',
            `parts: blob ${blob.sha256} has ${plan.partCount} parts, not ${p.partNumber}`,
            { field: 'parts' },
          );
        const length = partLength(blob.size, plan, p.partNumber);
        const url = await getSignedUrl(
          this.client,
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: this.keyOf(blob.sha256),
            UploadId: uploadId,
            PartNumber: p.partNumber,
            ChecksumSHA256: p.checksumSha256,
            ContentLength: length,
          }),
          { expiresIn, ...SIGNED_CHECKSUM_AND_LENGTH },
        );
        return {
          partNumber: p.partNumber,
          url,
          method: 'PUT' as const,
          headers: { 'x-amz-checksum-sha256': p.checksumSha256, 'content-length': String(length) },
          expiresAt: expiry(expiresIn),
        };
      }),
    );
  }

  async completeUpload(blob: BlobInfo, uploadId: string, parts: readonly UploadedPart[]): Promise<void> {
    const key = this.keyOf(blob.sha256);
    const plan = this.partsOf(blob.size);
    const numbers = parts.map((p) => p.partNumber).sort((a, b) => a - b);
    // Exactly parts 1..N of the plan, each signed with its length: together exactly the declared size.
    if (!plan || numbers.length !== plan.partCount || numbers.some((n, i) => n !== i + 1)) {
      await this.abort(key, uploadId);
      throw refusedParts(
        blob,
        `parts ${numbers.join(',')} are not the plan's parts 1..${plan?.partCount ?? 0}`,
      );
    }
    try {
      await this.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: [...parts]
              .sort((a, b) => a.partNumber - b.partNumber)
              .map((p) => ({ PartNumber: p.partNumber, ETag: p.etag, ChecksumSHA256: p.checksumSha256 })),
          },
        }),
      );
    } catch (e) {
      if (errorName(e) === 'NoSuchUpload') return; // aborted or expired: the blob stays missing
      if (!isClientError(e)) throw e;
      // InvalidPart (a part not uploaded, another ETag or checksum), EntityTooSmall, …
      await this.abort(key, uploadId);
      throw refusedParts(blob, `S3 refused to assemble them (${errorName(e)})`);
    }
    // Real S3 cannot get here with another size (every part's length is signed); a server that does not
    // check signatures can. The registry may not delete objects: a blob stored with another size counts
    // as missing (`stat`), so no commit succeeds with it and a new upload replaces it.
    const stored = await this.stat(blob.sha256);
    if (stored?.size !== blob.size)
      throw refusedParts(blob, `they make ${stored?.size ?? 0} bytes, not ${blob.size}`);
  }

  /** Best effort: s3rver cannot abort (405), and the bucket's lifecycle rule aborts what is left. */
  private async abort(key: string, uploadId: string): Promise<void> {
    await this.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
      .catch(() => {});
  }

  private async singlePutTarget(blob: BlobInfo, ttlSeconds: number): Promise<TransferTarget> {
    const checksum = Buffer.from(blob.sha256, 'hex').toString('base64');
    const expiresIn = clampTtl(ttlSeconds);
    const url = await getSignedUrl(
      this.client,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.keyOf(blob.sha256),
        ChecksumSHA256: checksum,
        ContentLength: blob.size,
      }),
      { expiresIn, ...SIGNED_CHECKSUM_AND_LENGTH },
    );
    return {
      url,
      method: 'PUT',
      headers: { 'x-amz-checksum-sha256': checksum, 'content-length': String(blob.size) },
      expiresAt: expiry(expiresIn),
    };
  }

  async downloadTarget(blob: BlobInfo, ttlSeconds: number): Promise<TransferTarget> {
    const expiresIn = clampTtl(ttlSeconds);
    const url = await getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(blob.sha256) }),
      { expiresIn },
    );
    return { url, method: 'GET', headers: {}, expiresAt: expiry(expiresIn) };
  }

  /**
   * Streams the object to a temporary file next to `destPath`, hashing as it writes, and renames it into
   * place only when size and SHA-256 match: `destPath` never holds partial or wrong bytes. md5 is
   * computed in the same pass, so the caller need not read the file again (answers both digests).
   *
   * What is proven is not hashed again (`knownDigests`): an object S3 verified on write (a single PUT
   * carries the full-object `x-amz-checksum-sha256`, and S3 refuses bytes that differ) is not hashed with
   * sha256; an object with a proof (see `S3_KEY_LAYOUT.proofs`) is not hashed at all, only downloaded and
   * counted. Every other object (multipart: its checksum is one of part checksums) is hashed whole, and
   * once its bytes match, a proof naming it is written for the next validation of the same object. On a
   * versioned bucket the GET asks for the very version the HEAD found, so nothing uploaded in between can
   * stand in for it; elsewhere a GET that finds another ETag or LastModified trusts nothing known.
   */
  async materialize(blob: BlobInfo, destPath: string): Promise<ProvenDigests> {
    const known = await this.knownDigests(blob);
    const object = await this.openObject(blob, known.versionId);
    const sameObject =
      known.versionId !== undefined || (isNamed(object) && identityOf(object) === known.seen);
    const trusted = sameObject ? known : NOTHING_KNOWN;
    await mkdir(dirname(destPath), { recursive: true });
    const temp = join(dirname(destPath), `.${basename(destPath)}.${process.pid}.${Date.now()}.part`);
    const sha256 = trusted.sha256Verified ? undefined : createHash('sha256');
    const md5 = trusted.proof ? undefined : createHash('md5');
    let size = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sha256?.update(chunk);
        md5?.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(
        object.body,
        hasher,
        createWriteStream(temp, { mode: 0o644, highWaterMark: 1024 * 1024 }),
      );
      const actual = sha256?.digest('hex');
      if ((actual !== undefined && actual !== blob.sha256) || size !== blob.size)
        throw new RegistryError(
          'CHECKSUM_MISMATCH',
          `blob ${blob.sha256} read back as ${size} bytes ` +
            (actual === undefined ? '(its sha256 proven before, not hashed)' : `with sha256 ${actual}`),
          {
            sha256: blob.sha256,
            expectedSize: blob.size,
            actualSize: size,
            ...(actual === undefined ? {} : { actualSha256: actual }),
          },
        );
      await rename(temp, destPath);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    const digests = { sha256: blob.sha256, md5: trusted.proof?.md5 ?? md5!.digest('hex'), size };
    if (!trusted.proof && trusted.proofName)
      await this.writeProof(blob, { object: trusted.proofName, ...digests });
    return digests;
  }

  /**
   * What is already proven of the blob's current object, from its HEAD: that S3 verified its sha256 on
   * write, and a proof of it. A proof counts only for the very object it names (`proofNameOf`), at the
   * blob's size, and not while a corrupt mark names that object; anything else in a proof (another object,
   * a body that does not parse, one over `PROOF_MAX_BYTES`) counts as no proof.
   */
  private async knownDigests(blob: BlobInfo): Promise<KnownDigests> {
    let head: HeadObjectCommandOutput;
    try {
      head = await this.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(blob.sha256), ChecksumMode: 'ENABLED' }),
      );
    } catch {
      return NOTHING_KNOWN; // the GET that follows says what is wrong (FILE_MISSING, or the service's error)
    }
    const proofName = proofNameOf(head);
    if (proofName === undefined) return NOTHING_KNOWN;
    const seen = identityOf(head);
    // Marks that cannot be read prove nothing: no proof, and a corrupt mark that might name this object.
    const [proofText, corruptMark] = await Promise.all([
      this.readSmallObject(blobKeys(this.keyPrefix, blob.sha256).proof, PROOF_MAX_BYTES).catch(() => null),
      this.readMark(blob.sha256).catch(() => seen),
    ]);
    const proof = parseProof(proofText);
    const sized = head.ContentLength === blob.size;
    const base = { proofName, seen, ...(head.VersionId ? { versionId: head.VersionId } : {}) };
    if (
      proof !== null &&
      proof.object === proofName &&
      proof.sha256 === blob.sha256 &&
      proof.size === blob.size &&
      sized &&
      corruptMark !== seen
    )
      return { ...base, sha256Verified: true, proof };
    const checksum = Buffer.from(blob.sha256, 'hex').toString('base64');
    return {
      ...base,
      sha256Verified: sized && head.ChecksumSHA256 === checksum && head.ChecksumType !== 'COMPOSITE',
    };
  }

  /**
   * Records that the object `proof.object` hashed to the blob's sha256, with its md5 and size. Best
   * effort: a proof that cannot be written costs the next validation one more hash of the same bytes,
   * never a verdict, so its failure does not fail the validation that proved the bytes.
   */
  private async writeProof(blob: BlobInfo, proof: BlobProof): Promise<void> {
    await this.client
      .send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: blobKeys(this.keyPrefix, blob.sha256).proof,
          Body: JSON.stringify(proof),
          ContentType: 'application/json',
        }),
      )
      .catch(() => {});
  }

  /** The first `maxBytes` of an object as text, or null when there is none. */
  private async readSmallObject(key: string, maxBytes: number): Promise<string | null> {
    try {
      const out = await this.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${maxBytes - 1}` }),
      );
      return (await out.Body?.transformToString('utf8')) ?? '';
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  /**
   * The object's bytes (of `versionId` when given), with the ETag and LastModified of the object they
   * are. FILE_MISSING when there is none (or no longer that version).
   */
  private async openObject(
    blob: BlobInfo,
    versionId?: string,
  ): Promise<{ body: Readable; ETag?: string | undefined; LastModified?: Date | undefined }> {
    try {
      const out = await this.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(blob.sha256), VersionId: versionId }),
      );
      return { body: out.Body as Readable, ETag: out.ETag, LastModified: out.LastModified };
    } catch (e) {
      if (isNotFound(e))
        throw new RegistryError('FILE_MISSING', `blob ${blob.sha256} is not stored`, { sha256: blob.sha256 });
      throw e;
    }
  }
}

/**
 * Signed headers, not query parameters: S3 verifies a checksum sent as a header, and the signature forces
 * the uploader to send exactly this checksum and this length.
 */
const SIGNED_CHECKSUM_AND_LENGTH = {
  unhoistableHeaders: new Set(['x-amz-checksum-sha256']),
  signableHeaders: new Set(['content-length']),
};

/** Bytes in part `n` (1-based) of the plan: `partSize`, except the last. */
function partLength(size: number, plan: Omit<MultipartPlan, 'uploadId'>, n: number): number {
  return n < plan.partCount ? plan.partSize : size - plan.partSize * (plan.partCount - 1);
}

const refusedParts = (blob: BlobInfo, why: string) =>
  new RegistryError('CHECKSUM_MISMATCH', `the parts uploaded for blob ${blob.sha256} were refused: ${why}`, {
    sha256: blob.sha256,
    size: blob.size,
  });

/** What `materialize` knows of an object before reading it (all from its HEAD), and what it may skip. */
interface KnownDigests {
  /** How a proof names the object (`proofNameOf`); absent when nothing can name it alone. */
  readonly proofName?: string;
  /** `identityOf` the object: a GET that finds another read other bytes (a bucket without versions). */
  readonly seen?: string;
  /** The object's version on a versioned bucket: the GET asks for exactly it. */
  readonly versionId?: string;
  /** S3 verified the full-object sha256 on write, or a proof says the bytes hashed to it. */
  readonly sha256Verified: boolean;
  /** A proof of this very object: its md5 stands for the bytes'. */
  readonly proof?: BlobProof;
}

const NOTHING_KNOWN: KnownDigests = { sha256Verified: false };

/** Proofs are a few hundred bytes; reading more than this of one would only cost memory. */
const PROOF_MAX_BYTES = 1024;
/** A corrupt mark is an ETag and a date: a longer one names no object (`identityOf`) anyway. */
const MARK_MAX_BYTES = 1024;

/** A proof (`S3_KEY_LAYOUT.proofs`): the object (`proofNameOf`) whose bytes hashed to the blob's name. */
const BlobProof = z
  .object({
    object: z.string().min(1).max(256),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    md5: z.string().regex(/^[0-9a-f]{32}$/),
    size: z.number().int().nonnegative(),
  })
  .strict();
type BlobProof = z.infer<typeof BlobProof>;

/** The proof in `text`, or null for none or anything that is not one (a proof is never trusted on shape). */
function parseProof(text: string | null): BlobProof | null {
  if (text === null) return null;
  try {
    const parsed = BlobProof.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** What tells one stored object from a later one under the same key. */
const identityOf = (head: { ETag?: string | undefined; LastModified?: Date | undefined }): string =>
  `${head.ETag ?? ''} ${head.LastModified?.toISOString() ?? ''}`;

/** Whether an object says both its ETag and LastModified. */
const isNamed = (o: { ETag?: string | undefined; LastModified?: Date | undefined }): boolean =>
  Boolean(o.ETag) && o.LastModified !== undefined;

/**
 * How a proof names one object: its version (a versioned bucket), ETag, LastModified and S3's checksum
 * (for a multipart object, a SHA-256 of the part SHA-256s S3 verified). The checksum is what tells apart
 * two multipart uploads whose ETags (MD5s of part MD5s, which collisions can match) and LastModified
 * (second precision) agree; the version names the object outright. Undefined for an object that does not
 * say its ETag and LastModified: a proof could not tell it from another.
 */
function proofNameOf(head: HeadObjectCommandOutput): string | undefined {
  if (!isNamed(head)) return undefined;
  return [head.VersionId ?? '-', identityOf(head), head.ChecksumSHA256 ?? '-'].join(' ');
}

const errorName = (e: unknown): string | undefined => (e as { name?: string } | null)?.name;

/** S3's answers that mean "busy or failing on its side, retry later" (what is left after the SDK's retries). */
const S3_BUSY = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout']);

/**
 * `client.send`, with S3's throttling and server faults turned into UNAVAILABLE naming the error: a
 * client then reads a 503 "retry later", as for a throttled DynamoDB, instead of a bare internal error.
 * Every other error (not found, access denied, a refused part) is left as S3 answered it.
 */
function sendMappingBusy(client: S3Client): S3Client['send'] {
  const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
  return ((...args: unknown[]) =>
    send(...args).catch((e: unknown) => {
      const name = errorName(e);
      const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
      if ((name !== undefined && S3_BUSY.has(name)) || (status !== undefined && status >= 500))
        // A HEAD answer has no body to name its error: the SDK calls it Unknown, the status says more.
        throw storeBusy('S3', name !== undefined && name !== 'Unknown' ? name : `HTTP ${status}`);
      throw e;
    })) as S3Client['send'];
}

function isClientError(e: unknown): boolean {
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500;
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
}

function clampTtl(ttlSeconds: number): number {
  return Math.max(1, Math.min(MAX_TTL_SECONDS, Math.floor(ttlSeconds)));
}

const expiry = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString();
