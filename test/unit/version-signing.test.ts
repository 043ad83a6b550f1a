import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyFileSigner } from '../../adapters/signing/key-file-signer.js';
import { RegistryError } from '../../core/errors.js';
import { createModel } from '../../core/models.js';
import type { RegistryDeps } from '../../core/ports.js';
import { signedBundles, trustedKeysFromPem, verifyProvenance } from '../../core/provenance.js';
import { claimValidation, completeValidation, requestRevalidation } from '../../core/validation-jobs.js';
import { finalizeValidation } from '../../core/validation-steps.js';
import { getSigningKey, getVersionSignatures } from '../../core/version-signatures.js';
import { aFileReport, aManifestFile, aNewVersion, aReport } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** Where a version gets signed and unsigned, over the real SQLite store and a real key file. */

let base: TestDeps;
let deps: RegistryDeps;
const ref = { model: 'm', version: '1' };
const files = [
  aManifestFile({ path: 'det.onnx', sha256: 'a'.repeat(64) }),
  aManifestFile({ path: 'dict/keys.txt', sha256: 'c'.repeat(64), format: 'other' }),
];
const passed = aReport({
  files: [
    aFileReport({
      path: 'det.onnx',
      sha256: 'a'.repeat(64),
      loadMs: 12,
      inferenceMs: 3,
      peakRssBytes: 90_000_000,
      fedInputs: [{ name: 'x', type: 'float32', shape: [1, 3], value: 'fill 0.5', source: 'synthesized' }],
    }),
    aFileReport({ path: 'dict/keys.txt', sha256: 'c'.repeat(64), check: 'integrity-only', format: 'other' }),
  ],
  totals: { loadMs: 12, inferenceMs: 3, peakRssBytes: 90_000_000 },
});

beforeEach(async () => {
  base = await localTestDeps({
    nodeClasses: [
      { name: 'small', memoryBytes: 100_000_000, executionProviders: ['cpu'] },
      { name: 'big', memoryBytes: 1_000_000_000, executionProviders: ['cpu'] },
    ],
  });
  deps = { ...base, signer: KeyFileSigner.open(join(base.dir, 'key.pem'), { create: true }) };
  await createModel(deps, { name: 'm', provider: 'p', description: '', tags: [] });
  await deps.metadata.createVersion(aNewVersion({ files }));
});
afterEach(() => base.cleanup());

async function validate(worker: string, report = passed, d: RegistryDeps = deps) {
  const claimed = await claimValidation(d, (await d.metadata.getVersion(ref))!, worker);
  expect(claimed?.status).toBe('VALIDATING');
  return completeValidation(d, ref, worker, report);
}

describe('signing a verdict', () => {
  it('signs a pass in the write that makes it VERIFIED: both bundles verify against its files', async () => {
    const verified = await validate('w1');
    expect(verified.status).toBe('VERIFIED');
    const trusted = trustedKeysFromPem(await deps.signer!.publicKeyPem());
    const provenance = verifyProvenance(signedBundles(verified)!, trusted, files, ref);
    expect(provenance.keyId).toBe(verified.signatures!.keyId);
    expect(provenance.validation).toMatchObject({
      verdict: 'VERIFIED',
      seq: verified.seq,
      // peak 90 MB × 1.5 fits 1 GB, not 100 MB: the registry's fit, applied before signing.
      nodeClassesFit: ['big'],
      files: [
        { path: 'det.onnx', peakRssBytes: 90_000_000, loadMs: 12, inferenceMs: 3, inputs: [{ name: 'x' }] },
        { path: 'dict/keys.txt', check: 'integrity-only', inputs: [] },
      ],
    });
    // The record keeps the signatures only (a few hundred bytes); the bundles are rebuilt from it as read back.
    const stored = await deps.metadata.getVersion(ref);
    expect(stored?.signatures).toEqual(verified.signatures);
    expect(JSON.stringify(stored?.signatures).length).toBeLessThan(600);
    expect(() => verifyProvenance(signedBundles(stored!)!, trusted, files, ref)).not.toThrow();
    // A record whose report changed would no longer verify: the payload is rebuilt from it.
    const altered = { ...stored!, report: { ...stored!.report!, executionProvider: 'cuda' } };
    expect(() => verifyProvenance(signedBundles(altered)!, trusted, files, ref)).toThrow(/does not verify/);
  });

  it('does not sign a failure, and a failed re-validation drops the older signatures', async () => {
    await validate('w1');
    await requestRevalidation(deps, ref);
    const failed = await validate('w2', {
      ...passed,
      outcome: 'failed',
      error: { code: 'MODEL_CORRUPTED', message: 'x' },
    });
    expect(failed.status).toBe('FAILED');
    expect(failed.signatures).toBeUndefined();
    await expect(getVersionSignatures(deps, ref)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { signatures: null },
    });
  });

  it('leaves a version unsigned without a signer (the ECS validator), and finalize signs it', async () => {
    const unsigned = await validate('arn:exec', passed, base);
    expect(unsigned.signatures).toBeUndefined();
    expect(await finalizeValidation(deps, { ...ref, executionId: 'arn:exec' })).toEqual({ failed: false });
    const signed = await deps.metadata.getVersion(ref);
    expect(signed?.status).toBe('VERIFIED');
    const trusted = trustedKeysFromPem(await deps.signer!.publicKeyPem());
    expect(() => verifyProvenance(signedBundles(signed!)!, trusted, files, ref)).not.toThrow();
  });
});

describe('serving signatures', () => {
  it('serves the public key, and says when a registry has none', async () => {
    const key = await getSigningKey(deps);
    expect(key).toMatchObject({
      algorithm: 'ECDSA_P256_SHA256',
      keyId: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(key.publicKeyPem).toContain('BEGIN PUBLIC KEY');
    await expect(getSigningKey(base)).rejects.toBeInstanceOf(RegistryError);
  });

  it('keeps the signatures of a quarantined version and says its verdict is revoked', async () => {
    const verified = await validate('w1');
    expect(await getVersionSignatures(deps, ref)).toMatchObject({ status: 'VERIFIED', revoked: false });
    await deps.metadata.updateVersion(
      ref,
      { status: ['VERIFIED'] },
      {
        status: 'QUARANTINED',
        statusReason: { code: 'MODEL_CORRUPTED', message: '3 nodes failed to load it' },
        updatedAt: verified.updatedAt,
      },
    );
    const answer = await getVersionSignatures(deps, ref);
    expect(answer).toMatchObject({ status: 'QUARANTINED', revoked: true });
    expect(answer.reason).toContain('3 nodes failed to load it');
    expect(answer.signatures).toEqual(signedBundles(verified));
    expect(answer.signatures.model.verificationMaterial.publicKey.hint).toBe(verified.signatures!.keyId);
  });
});
