import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FsBlobStore, stagedResource } from '../adapters/fs-blobs/fs-blob-store.js';
import type { UrlSigner } from '../adapters/fs-blobs/url-signer.js';
import { RegistryError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import { isSha256Hex } from '../schemas/names.schema.js';

const BLOB_PATH = /^\/blobs\/sha256\/([^/]+)$/;
const STAGED_PATH = /^\/blobs\/uploads\/([0-9a-f]{32})$/;

/** The blob's digest in a `/blobs/sha256/<Sha256Hex>` path, or undefined for any other path. */
const blobDigest = (path: string): string | undefined => {
  const digest = BLOB_PATH.exec(path)?.[1];
  return digest !== undefined && isSha256Hex(digest) ? digest : undefined;
};

/** The upload id in a `/blobs/uploads/<id>` path (a staged upload), or undefined for any other path. */
const stagedUploadId = (path: string): string | undefined => STAGED_PATH.exec(path)?.[1];

/** A path of the blob endpoint: a blob (`/blobs/sha256/<hex>`) or a staged upload (`/blobs/uploads/<id>`). */
export const isBlobPath = (path: string): boolean =>
  blobDigest(path) !== undefined || stagedUploadId(path) !== undefined;

type EndpointDeps = { store: FsBlobStore; signer: UrlSigner; clock: Clock };

/** Refuses a URL whose signature does not cover this method, resource and size, or has expired. */
function checkSignature(url: URL, method: 'PUT' | 'GET', resource: string, deps: EndpointDeps): number {
  const size = Number(url.searchParams.get('size'));
  const expires = Number(url.searchParams.get('expires'));
  const verdict = deps.signer.verify(
    { method, resource, size, expires },
    url.searchParams.get('sig') ?? '',
    Math.floor(deps.clock.now().getTime() / 1000),
  );
  if (verdict === 'bad-signature')
    throw new RegistryError('FORBIDDEN', 'blob URL signature is not valid for this request', {
      field: 'sig',
    });
  if (verdict === 'expired')
    throw new RegistryError('FORBIDDEN', 'blob URL has expired: ask the API for a new one', {
      field: 'expires',
    });
  return size;
}

/** A body whose content-length is not the signed size is refused before a byte is stored. */
function checkContentLength(req: IncomingMessage, size: number, details: Record<string, string>): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) !== size)
    throw new RegistryError(
      'CHECKSUM_MISMATCH',
      `content-length ${declared} differs from the declared size ${size}`,
      { ...details, field: 'content-length' },
    );
}

/**
 * A staged upload's bytes (PUT): the store hashes and keeps them until the commit that claims them. A
 * client that goes away before the last byte spends the upload (nothing is kept); DELETE with the same
 * URL drops an upload its sender no longer needs (the registry turned out to hold the blob).
 */
async function handleStagedUpload(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  uploadId: string,
  deps: EndpointDeps,
): Promise<void> {
  if (req.method !== 'PUT' && req.method !== 'DELETE') {
    refuseMethod(res, req.method ?? '', 'PUT, DELETE');
    return;
  }
  // The upload's own URL cancels it (as DELETE cancels an OCI blob upload): whoever may send may take back.
  const size = checkSignature(url, 'PUT', stagedResource(uploadId), deps);
  if (req.method === 'DELETE') {
    await deps.store.cancelStaged(uploadId);
    res.writeHead(204).end();
    return;
  }
  checkContentLength(req, size, { uploadId });
  await deps.store.writeStaged(uploadId, req).catch(namingClientAbort({ uploadId }));
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ uploadId, size }));
}

/**
 * The local counterpart of S3 presigned URLs: PUT streams the body straight into the blob folder,
 * hashing as it writes; GET streams a blob out; PUT to `/blobs/uploads/<id>` receives a staged upload.
 * Each requires an unexpired signature over method, blob (or upload) and size, so a URL cannot be reused
 * for other bytes.
 */
export async function handleBlobRequest(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  deps: EndpointDeps,
): Promise<void> {
  const uploadId = stagedUploadId(url.pathname);
  if (uploadId !== undefined) return handleStagedUpload(req, res, url, uploadId, deps);
  const sha256 = blobDigest(url.pathname)!;
  const method = req.method === 'PUT' ? 'PUT' : req.method === 'GET' || req.method === 'HEAD' ? 'GET' : null;
  if (!method) {
    refuseMethod(res, req.method ?? '', BLOB_METHODS);
    return;
  }
  const size = checkSignature(url, method, sha256, deps);
  if (method === 'PUT') {
    checkContentLength(req, size, { sha256 });
    await deps.store.write(sha256, size, req);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sha256, size }));
    return;
  }
  const stored = await deps.store.stat(sha256);
  if (!stored) throw new RegistryError('NOT_FOUND', `blob ${sha256} is not stored`, { sha256 });
  if (stored.corrupt)
    throw new RegistryError(
      'CHECKSUM_MISMATCH',
      `the stored copy of blob ${sha256} is corrupt: publishing the same file again repairs it`,
      { sha256 },
    );
  const range = parseRange(req.headers.range, stored.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${stored.size}`, 'accept-ranges': 'bytes' }).end();
    return;
  }
  if (range)
    res.writeHead(206, {
      'content-type': 'application/octet-stream',
      'content-length': String(range.end - range.start + 1),
      'content-range': `bytes ${range.start}-${range.end}/${stored.size}`,
      'accept-ranges': 'bytes',
    });
  else
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(stored.size),
      'accept-ranges': 'bytes',
    });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await sendChunks(deps.store.readChunks(sha256, range), res);
}

/**
 * Writes each chunk and waits for its write to complete before asking for the next: the chunks are views
 * into the store's staging slots, reused as soon as the next one is asked for. A client that goes away
 * ends the loop (the generator's `finally` hands its slots back).
 */
async function sendChunks(chunks: AsyncGenerator<Buffer>, res: ServerResponse): Promise<void> {
  const closed = new Promise<'closed'>((resolve) => res.once('close', () => resolve('closed')));
  for await (const chunk of chunks) {
    const written = new Promise<void>((resolve, reject) =>
      res.write(chunk, (e) => (e ? reject(e) : resolve())),
    );
    written.catch(() => {}); // a failed write also closes the response: the race below sees that
    // Once the response is closed its socket is too, and libuv cancels a pending write before it
    // reports the close: nothing refers to the slot any more (the write's callback may never come).
    if ((await Promise.race([written, closed])) === 'closed') break;
  }
  if (!res.destroyed) await new Promise<void>((resolve) => res.end(resolve));
}

/**
 * One byte range of a `Range` header (RFC 9110 14.1.2): `bytes=A-B`, `bytes=A-` or `bytes=-N`, clamped to
 * the blob. Undefined (send the whole blob, 200) for no header, another unit or several ranges, which a
 * server may ignore; `unsatisfiable` (416) for a range that starts at or past the end or is reversed.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/**
 * A staged upload the client stopped sending (it closed the connection: a publisher that learned the
 * registry holds the blob already cancels its sends) is part of the protocol, not a fault to log.
 */
const namingClientAbort =
  (details: Record<string, string>) =>
  (e: unknown): never => {
    if ((e as NodeJS.ErrnoException).code === 'ECONNRESET')
      throw new RegistryError(
        'INVALID_REQUEST',
        'the client closed the upload before its last byte',
        details,
      );
    throw e;
  };

const BLOB_METHODS = 'GET, HEAD, PUT';

/** 405 with `Allow`, as HTTP asks (RFC 9110 15.5.6); the error table has no 405, so it is written here. */
function refuseMethod(res: ServerResponse, method: string, allowed: string): void {
  const body = {
    error: {
      code: 'INVALID_REQUEST',
      message: `method: ${method} is not allowed here (allowed: ${allowed})`,
      details: { field: 'method', method, allowed: allowed.split(', ') },
    },
  };
  res
    .writeHead(405, { allow: allowed, 'content-type': 'application/json', connection: 'close' })
    .end(JSON.stringify(body));
}
