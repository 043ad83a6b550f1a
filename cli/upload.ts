import { createReadStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorEnvelope } from '../schemas/error-codes.schema.js';
import type { TransferTarget } from '../schemas/version.schema.js';
import { CliError } from './cli-error.js';
import { EXIT } from './exit-codes.js';

/** What the storage answered to one upload request. */
export interface UploadResponse {
  readonly status: number;
  readonly body: string;
  /** S3 names an uploaded part by it; assembling the parts needs it. */
  readonly etag?: string | undefined;
}

/**
 * Streams a local file to an upload target (the local blob endpoint or an S3 presigned URL), with the
 * target's headers. Memory stays flat: the file is never read into one buffer.
 */
export async function uploadFile(
  path: string,
  target: TransferTarget,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const response = await sendStream(
    target,
    createReadStream(path, { highWaterMark: 1024 * 1024 }),
    onProgress,
  ).catch((e: Error) => {
    throw new CliError('INTERNAL', `upload of ${path} failed: ${e.message}`, EXIT.UNEXPECTED);
  });
  if (response.status >= 200 && response.status < 300) return;
  throw uploadError(path, response.status, response.body);
}

/** One request with the target's method, URL and headers, its body streamed from `body`. */
export async function sendStream(
  target: Pick<TransferTarget, 'url' | 'method' | 'headers'>,
  body: Readable,
  onProgress?: (bytes: number) => void,
): Promise<UploadResponse> {
  const url = new URL(target.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      onProgress?.(sent);
      done(null, chunk);
    },
  });
  return new Promise<UploadResponse>((resolve, reject) => {
    const req = send(url, { method: target.method, headers: target.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          etag: res.headers.etag,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    pipeline(body, counter, req).catch(reject);
  });
}

/** The CLI error for a refused upload: the registry's own code, or S3's checksum refusal. */
export function uploadError(what: string, status: number, body: string): CliError {
  try {
    const envelope = ErrorEnvelope.safeParse(JSON.parse(body));
    if (envelope.success)
      return CliError.fromApi(envelope.data.error.code, `${what}: ${envelope.data.error.message}`);
  } catch {
    // S3 answers XML: fall through
  }
  // S3 refuses bytes whose x-amz-checksum-sha256 differs with 400 BadDigest / InvalidRequest.
  if (/BadDigest|XAmzContentSHA256Mismatch|checksum/i.test(body))
    return CliError.fromApi(
      'CHECKSUM_MISMATCH',
      `${what}: the storage refused the bytes (checksum mismatch)`,
    );
  return new CliError('INTERNAL', `upload of ${what} failed with HTTP ${status}`, EXIT.UNEXPECTED);
}
