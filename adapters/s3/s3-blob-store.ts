/**
 * BlobStore on one S3 bucket. Blobs are content-addressed: `<keyPrefix>blobs/sha256/<first 2 hex>/<hex>`,
 * so versions that share a file share the object and a re-publish uploads only what changed.
 *
 * Bytes never pass through the registry: uploads and downloads go straight to S3 by presigned URL.
 * The upload URL is signed with the manifest's SHA-256 (`x-amz-checksum-sha256`, base64 of the raw digest)
 * and the exact Content-Length as signed headers: S3 recomputes the checksum and refuses the PUT when the
 * bytes differ, so an object under a hash key always holds exactly those bytes. The uploader must send
 * the headers of the TransferTarget verbatim, or the signature does not match.
 *
 * Limits (documented, not hidden): one presigned PUT carries at most 5 GiB (S3's single-PUT limit);
 * bigger files would need a multipart upload, whose per-part checksums the manifest does not have, and
 * whose composite checksum is not the file's SHA-256, so it is not offered here (uploadTarget refuses
 * such a blob with PAYLOAD_TOO_LARGE). materialize re-hashes while writing instead of trusting S3.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { RegistryError } from '../../core/errors.js';
import type { BlobInfo, BlobStore } from '../../core/ports.js';
import type { TransferTarget } from '../../schemas/version.schema.js';

export interface S3BlobStoreOptions {
  /** Prepended to every key, e.g. `registry/`; a missing trailing slash is added. */
  readonly keyPrefix?: string;
}

/** S3's single-PUT object size limit. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;
/** SigV4 presigned URLs live at most 7 days. */
const MAX_TTL_SECONDS = 7 * 24 * 3600;

const SHA256_HEX = /^[0-9a-f]{64}$/;

export class S3BlobStore implements BlobStore {
  private readonly keyPrefix: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    options: S3BlobStoreOptions = {},
  ) {
    const prefix = options.keyPrefix ?? '';
    this.keyPrefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  /** The object key of a blob. Public so that operators and tests can find an object. */
  keyOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256))
      throw new RegistryError('INVALID_REQUEST', 'sha256 must be 64 lower-case hex digits', {
        field: 'sha256',
      });
    return `${this.keyPrefix}blobs/sha256/${sha256.slice(0, 2)}/${sha256}`;
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }),
      );
      return { size: out.ContentLength ?? 0 };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async uploadTarget(blob: BlobInfo & { md5: string }, ttlSeconds: number): Promise<TransferTarget> {
    if (blob.size > MAX_SINGLE_PUT_BYTES)
      throw new RegistryError(
        'PAYLOAD_TOO_LARGE',
        `a file over ${MAX_SINGLE_PUT_BYTES} bytes needs a multipart upload, which is not supported`,
        {
          sha256: blob.sha256,
          size: blob.size,
        },
      );
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
      {
        expiresIn,
        // Signed headers, not query parameters: S3 verifies a checksum sent as a header, and the signature
        // forces the uploader to send exactly this checksum and this length.
        unhoistableHeaders: new Set(['x-amz-checksum-sha256']),
        signableHeaders: new Set(['content-length']),
      },
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
   * place only when size and SHA-256 match: `destPath` never holds partial or wrong bytes.
   */
  async materialize(blob: BlobInfo, destPath: string): Promise<void> {
    const body = await this.openObject(blob);
    await mkdir(dirname(destPath), { recursive: true });
    const temp = join(dirname(destPath), `.${basename(destPath)}.${process.pid}.${Date.now()}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, hasher, createWriteStream(temp, { mode: 0o644 }));
      const actual = hash.digest('hex');
      if (actual !== blob.sha256 || size !== blob.size)
        throw new RegistryError(
          'CHECKSUM_MISMATCH',
          `blob ${blob.sha256} read back as ${size} bytes with sha256 ${actual}`,
          {
            sha256: blob.sha256,
            expectedSize: blob.size,
            actualSha256: actual,
            actualSize: size,
          },
        );
      await rename(temp, destPath);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  }

  private async openObject(blob: BlobInfo): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(blob.sha256) }),
      );
      return out.Body as Readable;
    } catch (e) {
      if (isNotFound(e))
        throw new RegistryError('FILE_MISSING', `blob ${blob.sha256} is not stored`, { sha256: blob.sha256 });
      throw e;
    }
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
}

function clampTtl(ttlSeconds: number): number {
  return Math.max(1, Math.min(MAX_TTL_SECONDS, Math.floor(ttlSeconds)));
}

const expiry = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString();
