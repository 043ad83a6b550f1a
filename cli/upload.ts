import { createReadStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorEnvelope } from '../schemas/error-codes.schema.js';
import type { TransferTarget } from '../schemas/version.schema.js';
import { CliError } from './cli-error.js';
import { EXIT } from './exit-codes.js';

/**
 * Streams a local file to an upload target (the local blob endpoint or an S3 presigned URL), with the
 * target's headers. Memory stays flat: the file is never read into one buffer.
 */
export async function uploadFile(
  path: string,
  target: TransferTarget,
  onProgress?: (bytes: number) => void,
): Promise<void> {
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
  const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = send(url, { method: target.method, headers: target.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), counter, req).catch(reject);
  }).catch((e: Error) => {
    throw new CliError('INTERNAL', `upload of ${path} failed: ${e.message}`, EXIT.UNEXPECTED);
  });
  if (response.status >= 200 && response.status < 300) return;
  throw uploadError(path, response.status, response.body);
}

function uploadError(path: string, status: number, body: string): CliError {
  try {
    const envelope = ErrorEnvelope.safeParse(JSON.parse(body));
    if (envelope.success)
      return CliError.fromApi(envelope.data.error.code, `${path}: ${envelope.data.error.message}`);
  } catch {
    // S3 answers XML: fall through
  }
  // S3 refuses bytes whose x-amz-checksum-sha256 differs with 400 BadDigest / InvalidRequest.
  if (/BadDigest|XAmzContentSHA256Mismatch|checksum/i.test(body))
    return CliError.fromApi(
      'CHECKSUM_MISMATCH',
      `${path}: the storage refused the bytes (checksum mismatch)`,
    );
  return new CliError('INTERNAL', `upload of ${path} failed with HTTP ${status}`, EXIT.UNEXPECTED);
}
