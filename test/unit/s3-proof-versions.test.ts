import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../adapters/s3/s3-blob-store.js';
import { blobKeys } from '../../adapters/s3/s3-key-layout.js';

/**
 * The store on a versioned bucket (the CDK's is): `materialize` reads exactly the version its HEAD found,
 * and a proof names that version. s3rver keeps no versions, so this case answers S3's calls from a table
 * (the contract suite runs everything else over the wire).
 */
describe('S3BlobStore proofs on a versioned bucket', () => {
  const bytes = randomBytes(4096);
  const blob = {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
    size: bytes.length,
  };
  const keys = blobKeys('', blob.sha256);
  const head = { ETag: '"e1"', LastModified: new Date('2026-12-01T00:00:00Z'), ContentLength: bytes.length };
  const notFound = () =>
    Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });

  /** A bucket holding version `v2` of the blob and `proof`; records every GET of the blob and every PUT. */
  function bucketWith(proof: object | null) {
    const blobGets: Array<string | undefined> = [];
    const puts: Array<{ key: string; body: string }> = [];
    const client = {
      send: async (command: unknown) => {
        if (command instanceof HeadObjectCommand) return { ...head, VersionId: 'v2' };
        if (command instanceof PutObjectCommand) {
          puts.push({ key: String(command.input.Key), body: String(command.input.Body) });
          return {};
        }
        if (!(command instanceof GetObjectCommand)) throw new Error('unexpected command');
        const key = command.input.Key;
        if (key === keys.blob) {
          blobGets.push(command.input.VersionId);
          return { ...head, Body: Readable.from([bytes]) };
        }
        if (key === keys.proof && proof)
          return { Body: { transformToString: async () => JSON.stringify(proof) } };
        throw notFound();
      },
    } as unknown as S3Client;
    return { store: new S3BlobStore(client, 'bucket'), blobGets, puts };
  }

  async function materialize(store: S3BlobStore) {
    const dir = await mkdtemp(join(tmpdir(), 's3-versions-'));
    try {
      const digests = await store.materialize(blob, join(dir, 'model.onnx'));
      expect((await readFile(join(dir, 'model.onnx'))).equals(bytes)).toBe(true);
      return digests;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const proofOf = (version: string, md5: string) => ({
    object: `${version} "e1" 2026-12-01T00:00:00.000Z -`,
    sha256: blob.sha256,
    md5,
    size: blob.size,
  });

  it('reads exactly the version the HEAD found and takes the proof that names it', async () => {
    const { store, blobGets, puts } = bucketWith(proofOf('v2', 'f'.repeat(32)));
    expect((await materialize(store)).md5).toBe('f'.repeat(32));
    expect(blobGets).toEqual(['v2']);
    expect(puts).toEqual([]);
  });

  it('hashes a version no proof names, and writes one naming it', async () => {
    const { store, blobGets, puts } = bucketWith(proofOf('v1', 'f'.repeat(32)));
    expect((await materialize(store)).md5).toBe(blob.md5);
    expect(blobGets).toEqual(['v2']);
    expect(puts.map((p) => p.key)).toEqual([keys.proof]);
    expect(JSON.parse(puts[0]!.body)).toEqual(proofOf('v2', blob.md5));
  });
});
