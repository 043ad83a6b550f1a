import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type {
  CompletedUpload,
  MultipartPlan,
  PartChecksum,
  PartTarget,
  UploadedPart,
} from '../schemas/version.schema.js';
import { CliError } from './cli-error.js';
import { EXIT } from './exit-codes.js';
import { inPool } from './in-pool.js';
import { sendFileRange, uploadError } from './upload.js';

/** Asks the registry for one part's upload URL, signed with the part's checksum. */
export type PartSigner = (part: PartChecksum) => Promise<PartTarget>;

export interface UploadPartsOptions {
  /** Parts in flight at once (default 4). */
  readonly concurrency?: number;
  /** Tries per part before the upload fails (default 3: one try and two retries). */
  readonly attempts?: number;
  /** Bytes sent so far across all parts; a retried part starts its count again. */
  readonly onProgress?: (bytes: number) => void;
}

interface PartRange {
  readonly partNumber: number;
  readonly start: number;
  readonly length: number;
}

/**
 * Uploads a file by the multipart plan of its upload instruction: each part is read twice from disk,
 * once to hash it (its URL is signed with that SHA-256, so the storage refuses other bytes) and once to
 * send it, so memory stays flat whatever the file size. Parts go `concurrency` at a time; a failed part
 * is tried again with a fresh URL. Answers what the commit needs to assemble them.
 */
export async function uploadParts(
  path: string,
  blob: { sha256: string; size: number; multipart: MultipartPlan },
  sign: PartSigner,
  options: UploadPartsOptions = {},
): Promise<CompletedUpload> {
  const ranges = partRanges(blob.size, blob.multipart);
  const sentByPart = new Map<number, number>();
  const progress = (partNumber: number, bytes: number) => {
    sentByPart.set(partNumber, bytes);
    let total = 0;
    for (const b of sentByPart.values()) total += b;
    options.onProgress?.(total);
  };
  const uploadOne = (range: PartRange) =>
    uploadPartWithRetries(path, range, ranges.length, sign, options.attempts ?? 3, (b) =>
      progress(range.partNumber, b),
    );
  const parts = await inPool(ranges, options.concurrency ?? 4, uploadOne);
  return { sha256: blob.sha256, uploadId: blob.multipart.uploadId, parts };
}

function partRanges(size: number, plan: MultipartPlan): PartRange[] {
  return Array.from({ length: plan.partCount }, (_, i) => {
    const start = i * plan.partSize;
    return { partNumber: i + 1, start, length: Math.min(plan.partSize, size - start) };
  });
}

async function uploadPartWithRetries(
  path: string,
  range: PartRange,
  partCount: number,
  sign: PartSigner,
  attempts: number,
  onProgress: (bytes: number) => void,
): Promise<UploadedPart> {
  const what = `${path} (part ${range.partNumber} of ${partCount})`;
  const checksumSha256 = await hashPart(path, range);
  let lastError: CliError | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    onProgress(0);
    try {
      // A fresh URL per try: an upload long enough to retry may outlive the first one.
      const target = await sign({ partNumber: range.partNumber, checksumSha256 });
      const response = await sendFileRange(target, path, range, {
        onProgress,
        slotBytes: PART_SEND_SLOT_BYTES,
      });
      if (response.status >= 200 && response.status < 300 && response.etag)
        return { partNumber: range.partNumber, checksumSha256, etag: response.etag };
      lastError =
        response.status < 300
          ? new CliError('INTERNAL', `upload of ${what}: the storage answered no ETag`, EXIT.UNEXPECTED)
          : uploadError(what, response.status, response.body);
    } catch (e) {
      // The registry refused to sign (the version is gone, the token lacks the role): no retry helps.
      if (e instanceof CliError) throw e;
      lastError = new CliError(
        'INTERNAL',
        `upload of ${what} failed: ${(e as Error).message}`,
        EXIT.UNEXPECTED,
      );
    }
  }
  throw new CliError(lastError!.code, `${lastError!.message} (after ${attempts} tries)`, lastError!.exitCode);
}

/** Base64 SHA-256 of one part, as `x-amz-checksum-sha256` carries it; the part must be all there. */
async function hashPart(path: string, range: PartRange): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  await pipeline(readPart(path, range), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      read += chunk.length;
      hash.update(chunk);
    }
  });
  if (read !== range.length)
    throw new CliError('CHECKSUM_MISMATCH', `${path} changed while it was uploaded`, EXIT.INTEGRITY);
  return hash.digest('base64');
}

/**
 * A part is sent through 2 buffers of 256 KiB, half of a whole file's: up to 16 parts are in flight (4 files
 * × 4 parts), 8 MiB of buffers in all. A 10-file publish to S3 (DynamoDB Local + s3rver) peaked at 119 MiB.
 */
const PART_SEND_SLOT_BYTES = 256 * 1024;

/**
 * Reads a part, to hash it, in 256 KiB chunks: a publish hashes and sends up to 16 parts at once (4 files
 * × 4 parts); with 1 MiB chunks a client peaked at 144 MiB over a 10-file publish to S3.
 */
function readPart(path: string, range: PartRange) {
  // `end` is inclusive.
  return createReadStream(path, {
    start: range.start,
    end: range.start + range.length - 1,
    highWaterMark: 256 * 1024,
  });
}
