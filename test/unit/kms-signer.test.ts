import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsSigner } from '../../adapters/signing/kms-signer.js';
import {
  modelSigningStatement,
  openBundle,
  signStatement,
  trustedKeysFromPem,
} from '../../core/provenance.js';
import { MODEL_SIGNING_PREDICATE_TYPE } from '../../schemas/signature.schema.js';
import { type KmsEndpoint, startKmsEndpoint } from '../helpers/kms-endpoint.js';

/**
 * The KMS signer against a KMS endpoint over the wire (test/helpers/kms-endpoint.ts), which signs the
 * digest it is given with ECDSA written from SEC 1: the adapter's digest and Node's verifier over the
 * whole message must agree.
 */

let endpoint: KmsEndpoint;
let kms: KMSClient;

beforeAll(async () => {
  endpoint = await startKmsEndpoint();
  kms = new KMSClient({
    region: 'us-east-1',
    endpoint: endpoint.url,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});
afterAll(async () => {
  kms?.destroy();
  await endpoint?.stop();
});

describe('KmsSigner', () => {
  it('reads the public key once, as PEM', async () => {
    const signer = new KmsSigner(kms, endpoint.keyArn);
    const before = endpoint.calls.length;
    const pem = await signer.publicKeyPem();
    expect(await signer.publicKeyPem()).toBe(pem);
    expect(endpoint.calls.slice(before).map((c) => c.target)).toEqual(['TrentService.GetPublicKey']);
    expect(createPublicKey(pem).export({ type: 'spki', format: 'der' })).toEqual(
      createPublicKey(endpoint.publicKeyPem).export({ type: 'spki', format: 'der' }),
    );
  });

  it('has KMS sign the SHA-256 digest of a message over 4096 bytes, verifying as ECDSA over the message', async () => {
    const signer = new KmsSigner(kms, endpoint.keyArn);
    const message = randomBytes(10_000);
    const sig = await signer.sign(message);
    expect(endpoint.calls.at(-1)?.body).toMatchObject({
      MessageType: 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect(verify('sha256', message, { key: endpoint.publicKeyPem, dsaEncoding: 'der' }, sig)).toBe(true);
    expect(
      verify('sha256', Buffer.from('other'), { key: endpoint.publicKeyPem, dsaEncoding: 'der' }, sig),
    ).toBe(false);
  });

  it('signs bundles that the verifier opens with the KMS public key', async () => {
    const signer = new KmsSigner(kms, endpoint.keyArn);
    const bundle = await signStatement(
      signer,
      modelSigningStatement('m@1', [{ path: 'a.onnx', sha256: 'a'.repeat(64) }]),
    );
    const trusted = trustedKeysFromPem(await signer.publicKeyPem());
    expect(openBundle(bundle, trusted, MODEL_SIGNING_PREDICATE_TYPE).keyId).toBe(trusted[0]!.keyId);
  });

  it('fails with the service error for an unknown key, and tries the public key again next time', async () => {
    const signer = new KmsSigner(kms, `${endpoint.keyArn}0`);
    await expect(signer.publicKeyPem()).rejects.toThrow(/no such key/);
    await expect(signer.publicKeyPem()).rejects.toThrow(/no such key/);
    await expect(signer.sign(Buffer.from('x'))).rejects.toThrow(/no such key/);
  });
});
