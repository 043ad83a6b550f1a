import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import {
  HEAD_BYTES,
  type StagedFile,
  type StagedUploadTarget,
  type StageUploadsResponse,
} from '../schemas/version.schema.js';
import { CliError } from './cli-error.js';
import { type Limiter, limiter } from './in-pool.js';
import type { RegistryClient } from './registry-client.js';
import { uploadFile } from './upload.js';

/**
 * Files at least this big are sent while they are hashed. Below it the hash takes a few tens of
 * milliseconds: nothing to overlap, and a file the registry already holds would be sent for nothing.
 */
export const STAGE_MIN_BYTES = 32 * 1024 * 1024;

/** Targets asked for in one request (the API's limit). */
const TARGETS_PER_REQUEST = 100;

/** One file being sent to a staged upload target. */
export interface StagedSend {
  readonly uploadId: string;
  /** Settles once the registry holds all the bytes; rejects with the upload's CliError; resolves once aborted. */
  readonly sent: Promise<void>;
  /**
   * Stops the send (or keeps it from starting) and asks the registry to drop what it holds of it: it then
   * keeps nothing of it. Never fails: an upload never claimed is dropped in time anyway.
   */
  abort(): Promise<void>;
}

/** A local file to publish, by its path on disk. */
interface LocalFile {
  readonly localPath: string;
  readonly size: number;
}

/**
 * Starts sending the files of at least `STAGE_MIN_BYTES` to staged upload targets, `concurrency` at a time,
 * before their sha256 is known: the caller hashes meanwhile and claims each send at commit with the digest
 * it computed, and the registry, which hashed the bytes as they arrived, stores them only if the two agree.
 * A file whose size and first MiB match a blob the registry holds (the same weights published again) is
 * not sent: the caller's hash decides. Answers the sends by local path: none where the registry takes no
 * staged uploads (S3, whose presigned PUT must carry the checksum up front) or predates them.
 * `onProgress(localPath, bytes)` counts each file's bytes sent.
 */
export async function startStagedUploads(
  client: RegistryClient,
  files: readonly LocalFile[],
  concurrency: number,
  onProgress: (localPath: string, bytes: number) => void,
): Promise<Map<string, StagedSend>> {
  const big = files.filter((f) => f.size >= STAGE_MIN_BYTES);
  const sends = new Map<string, StagedSend>();
  if (big.length === 0) return sends;
  // One file at a time through one buffer: 1 MiB each, and a version may hold many big files.
  const head = Buffer.allocUnsafe(HEAD_BYTES);
  const described: StagedFile[] = [];
  for (const file of big) described.push(await stagedFile(file, head));
  const targets = await stagedTargets(client, described);
  if (!targets) return sends;
  const lanes = limiter(concurrency);
  big.forEach((file, i) => {
    const target = targets[i];
    if (target) sends.set(file.localPath, startSend(file, target, lanes, onProgress));
  });
  return sends;
}

/** The file's size and the sha256 of its first `HEAD_BYTES`, read into `head` (`HEAD_BYTES` long). */
async function stagedFile(file: LocalFile, head: Buffer): Promise<StagedFile> {
  const handle = await open(file.localPath, 'r');
  try {
    const { bytesRead } = await handle.read(head, 0, Math.min(HEAD_BYTES, file.size), 0);
    return {
      size: file.size,
      headSha256: createHash('sha256').update(head.subarray(0, bytesRead)).digest('hex'),
    };
  } finally {
    await handle.close();
  }
}

/**
 * One answer per file, in order (a target, or null for a file the registry very likely holds);
 * undefined where the registry takes no staged uploads.
 */
async function stagedTargets(
  client: RegistryClient,
  files: readonly StagedFile[],
): Promise<Array<StagedUploadTarget | null> | undefined> {
  const targets: Array<StagedUploadTarget | null> = [];
  for (let from = 0; from < files.length; from += TARGETS_PER_REQUEST) {
    let answer: StageUploadsResponse;
    try {
      answer = await client.post<StageUploadsResponse>('api/v1/staged-uploads', {
        files: files.slice(from, from + TARGETS_PER_REQUEST),
      });
    } catch (e) {
      // A registry older than staged uploads has no such route: publish the way it knows.
      if (e instanceof CliError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
    if (!answer.staged) return undefined;
    targets.push(...answer.uploads);
  }
  return targets;
}

function startSend(
  file: LocalFile,
  target: StagedUploadTarget,
  lanes: Limiter,
  onProgress: (localPath: string, bytes: number) => void,
): StagedSend {
  const controller = new AbortController();
  const sent = lanes.run(async () => {
    if (controller.signal.aborted) return;
    try {
      await uploadFile(file.localPath, target, (b) => onProgress(file.localPath, b), controller.signal);
    } catch (e) {
      if (!controller.signal.aborted) throw e;
    }
  });
  // Awaited later (at commit) or never (aborted): a failure meanwhile must not count as unhandled.
  sent.catch(() => {});
  let aborted: Promise<void> | undefined;
  // Cut the connection, then drop whatever the registry holds of the upload: its last byte may have
  // arrived before the cut, and a target never used still counts against the registry's limit.
  const abort = () => {
    aborted ??= (async () => {
      controller.abort();
      await fetch(target.url, { method: 'DELETE' }).then(
        (r) => r.body?.cancel(),
        () => {},
      );
    })();
    return aborted;
  };
  return { uploadId: target.uploadId, sent, abort };
}
