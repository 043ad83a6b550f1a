import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromJSON, isBundleWithDsseEnvelope } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyFileSigner } from '../../adapters/signing/key-file-signer.js';
import {
  checkModelStatement,
  comparePaths,
  keyIdOf,
  modelSigningStatement,
  openBundle,
  pae,
  SignatureError,
  signStatement,
  trustedKeysFromPem,
  validationStatement,
  verifyProvenance,
} from '../../core/provenance.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  MODEL_SIGNING_PREDICATE_TYPE,
  VALIDATION_PREDICATE_TYPE,
} from '../../schemas/signature.schema.js';
import {
  specCheckModelStatement,
  specModelDigest,
  specModelStatement,
  specPae,
  specSignStatement,
  specVerifyBundle,
} from '../fixtures/independent-dsse.js';
import { aFileReport, aReport, aVersion } from '../helpers/builders.js';

const dir = mkdtempSync(join(tmpdir(), 'modelgate-provenance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const privatePem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

const files = [
  { path: 'z.onnx', sha256: '1'.repeat(64) },
  { path: 'a.txt', sha256: '2'.repeat(64) },
  { path: 'a/b.bin', sha256: '3'.repeat(64) },
];
const fileMap = new Map(files.map((f) => [f.path, f.sha256]));

describe('the DSSE pre-authentication encoding', () => {
  it("is the protocol's own example, byte for byte", () => {
    // secure-systems-lab/dsse protocol.md, "Test vectors"
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('counts bytes, not characters, and matches Sigstore’s and the spec-written encoders', () => {
    const body = Buffer.from('{"é":"ü"}', 'utf8');
    for (const type of [IN_TOTO_PAYLOAD_TYPE, 'application/x-ünïcode']) {
      const ours = pae(type, body);
      expect(ours.equals(specPae(type, body))).toBe(true);
      expect(ours.equals(dsse.preAuthEncoding(type, body))).toBe(true);
    }
    // 9 characters, 11 bytes: the length is the byte count.
    expect(pae('t', body).toString('utf8')).toBe('DSSEv1 1 t 11 {"é":"ü"}');
  });
});

describe('the model-signing statement', () => {
  const statement = modelSigningStatement('m@1', files);

  it('is an in-toto Statement v1 with the OMS predicate, resources sorted as model_signing sorts paths', () => {
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.predicateType).toBe(MODEL_SIGNING_PREDICATE_TYPE);
    const predicate = statement.predicate as { resources: { name: string }[]; serialization: unknown };
    // PurePosixPath order: segment by segment, so a/b.bin before a.txt (plain string order says otherwise).
    expect(predicate.resources.map((r) => r.name)).toEqual(['a/b.bin', 'a.txt', 'z.onnx']);
    expect(predicate.serialization).toMatchObject({
      method: 'files',
      hash_type: 'sha256',
      allow_symlinks: false,
    });
    expect(comparePaths('a/b', 'a.txt')).toBeLessThan(0);
    expect(comparePaths('a', 'a/b')).toBeLessThan(0);
  });

  it('has one subject whose digest is model_signing’s digest over the resource digests', () => {
    const resources = (statement.predicate as { resources: { digest: string }[] }).resources;
    expect(statement.subject).toEqual([{ name: 'm@1', digest: { sha256: specModelDigest(resources) } }]);
    specCheckModelStatement(statement, fileMap);
  });

  it('is refused when the files differ: one missing, one extra, one with another digest', () => {
    expect(() => checkModelStatement(statement, files.slice(1))).toThrow(/z\.onnx is signed but absent/);
    expect(() => checkModelStatement(statement, [...files, { path: 'new', sha256: '4'.repeat(64) }])).toThrow(
      /new is not signed/,
    );
    expect(() =>
      checkModelStatement(statement, [{ ...files[0]!, sha256: '5'.repeat(64) }, ...files.slice(1)]),
    ).toThrow(/z\.onnx has sha256 5555/);
  });

  it('is refused when its subject digest does not cover its resources, or a file is listed twice', () => {
    const forged = structuredClone(statement);
    (forged.predicate as { resources: { digest: string }[] }).resources[0]!.digest = '9'.repeat(64);
    expect(() => checkModelStatement(forged, files)).toThrow(/subject digest does not match/);
    const doubled = structuredClone(statement);
    const resources = (doubled.predicate as { resources: unknown[] }).resources;
    resources.push(resources[0]);
    doubled.subject[0]!.digest.sha256 = specModelDigest(resources as { digest: string }[]);
    expect(() => checkModelStatement(doubled, files)).toThrow(/listed twice/);
  });
});

describe('signing with the embedded key', () => {
  const keyPath = join(dir, 'model-signing.pem');
  const signer = KeyFileSigner.open(keyPath, { create: true });

  it('creates a P-256 key file 0600 once, and opens the same key again', async () => {
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const again = KeyFileSigner.open(keyPath, { create: true });
    expect(await again.publicKeyPem()).toBe(await signer.publicKeyPem());
    const key = createPublicKey(await signer.publicKeyPem());
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('refuses a key file that is missing when named, or not a P-256 key', () => {
    expect(() => KeyFileSigner.open(join(dir, 'absent.pem'), { create: false })).toThrow(/absent\.pem/);
    const p384 = join(dir, 'p384.pem');
    writeFileSync(p384, privatePem(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey));
    expect(() => KeyFileSigner.open(p384, { create: false })).toThrow(/not an ECDSA P-256/);
  });

  it('writes a Sigstore bundle v0.3 that Sigstore’s parser and an independent DSSE verifier accept', async () => {
    const bundle = await signStatement(signer, modelSigningStatement('m@1', files));
    const parsed = bundleFromJSON(bundle);
    expect(isBundleWithDsseEnvelope(parsed)).toBe(true);
    const publicPem = await signer.publicKeyPem();
    expect(bundle.verificationMaterial.publicKey.hint).toBe(keyIdOf(publicPem));
    // DER: a SEQUENCE of two INTEGERs.
    expect(Buffer.from(bundle.dsseEnvelope.signatures[0]!.sig, 'base64')[0]).toBe(0x30);
    const statement = specVerifyBundle(bundle, publicPem);
    specCheckModelStatement(statement, fileMap);
  });

  it('is verified with the signing key and refused with another, or when the payload is altered', async () => {
    const bundle = await signStatement(signer, modelSigningStatement('m@1', files));
    const trusted = trustedKeysFromPem(await signer.publicKeyPem());
    expect(openBundle(bundle, trusted, MODEL_SIGNING_PREDICATE_TYPE).keyId).toBe(trusted[0]!.keyId);
    const other = trustedKeysFromPem(pem(p256().publicKey));
    expect(() => openBundle(bundle, other, MODEL_SIGNING_PREDICATE_TYPE)).toThrow(
      /not one of the trusted keys/,
    );
    const altered = structuredClone(bundle);
    const payload = JSON.parse(Buffer.from(altered.dsseEnvelope.payload, 'base64').toString());
    payload.subject[0].name = 'evil';
    altered.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    expect(() => openBundle(altered, trusted, MODEL_SIGNING_PREDICATE_TYPE)).toThrow(SignatureError);
    expect(() => openBundle(bundle, trusted, VALIDATION_PREDICATE_TYPE)).toThrow(/predicate type/);
    expect(() => openBundle({ mediaType: 'x' }, trusted, MODEL_SIGNING_PREDICATE_TYPE)).toThrow(
      /not a Sigstore bundle/,
    );
  });
});

describe('verifying bundles an independent signer made', () => {
  const { privateKey, publicKey } = p256();

  it('accepts a model_signing bundle signed outside modelgate, also when another key is trusted too', () => {
    const bundle = specSignStatement(specModelStatement('m', fileMap), privatePem(privateKey));
    const other = pem(p256().publicKey);
    const trusted = trustedKeysFromPem(`${other}\n${pem(publicKey)}`);
    expect(trusted).toHaveLength(2);
    const { statement, keyId } = openBundle(bundle, trusted, MODEL_SIGNING_PREDICATE_TYPE);
    expect(keyId).toBe(keyIdOf(publicKey));
    checkModelStatement(statement, files);
  });

  it('tries every trusted key when the bundle names none', () => {
    const bundle = specSignStatement(specModelStatement('m', fileMap), privatePem(privateKey));
    bundle.verificationMaterial.publicKey.hint = '';
    const trusted = trustedKeysFromPem(`${pem(p256().publicKey)}${pem(publicKey)}`);
    expect(openBundle(bundle, trusted, MODEL_SIGNING_PREDICATE_TYPE).keyId).toBe(keyIdOf(publicKey));
  });

  it('refuses a validation attestation about another version, or over other files', () => {
    const signedFiles = [...fileMap].map(([name, sha256]) => ({ name, digest: { sha256 } }));
    const attestation = (model: string, subject = signedFiles) =>
      specSignStatement(
        {
          _type: 'https://in-toto.io/Statement/v1',
          subject,
          predicateType: VALIDATION_PREDICATE_TYPE,
          predicate: {
            model,
            version: '1',
            provider: 'p',
            seq: 1,
            verdict: 'VERIFIED',
            loadTested: true,
            runtime: { name: 'onnxruntime-node', version: '1.30.0' },
            executionProvider: 'cpu',
            memoryBudgetBytes: 1,
            totals: { loadMs: 1, inferenceMs: 1, peakRssBytes: 1 },
            files: [],
            nodeClassesFit: [],
            validation: { startedAt: 'a', finishedAt: 'b', durationMs: 1, attempt: 1, worker: 'w' },
          },
        },
        privatePem(privateKey),
      );
    const model = specSignStatement(specModelStatement('m', fileMap), privatePem(privateKey));
    const trusted = trustedKeysFromPem(pem(publicKey));
    const ref = { model: 'm', version: '1' };
    expect(
      verifyProvenance({ model, validation: attestation('m') }, trusted, files, ref).validation.model,
    ).toBe('m');
    expect(() => verifyProvenance({ model, validation: attestation('other') }, trusted, files, ref)).toThrow(
      /attests other@1, not m@1/,
    );
    expect(() =>
      verifyProvenance({ model, validation: attestation('m', signedFiles.slice(1)) }, trusted, files, ref),
    ).toThrow(/validation\.sig lists other files/);
  });
});

describe('trusted keys', () => {
  it('refuses text without a PEM public key, and keys that are not ECDSA P-256', () => {
    expect(() => trustedKeysFromPem('nothing here')).toThrow(/no "-----BEGIN PUBLIC KEY-----"/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(() => trustedKeysFromPem(pem(rsa))).toThrow(/not an ECDSA P-256/);
    expect(() => trustedKeysFromPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----')).toThrow(
      /not a valid PEM/,
    );
  });

  it('names a key by the sha256 of its canonical PEM, whatever the line breaks of the text given', () => {
    const { publicKey } = p256();
    const text = pem(publicKey);
    const reflowed = text.replace(/\n(?!-----)/g, '\r\n');
    expect(trustedKeysFromPem(reflowed)[0]!.keyId).toBe(keyIdOf(text));
  });
});

describe('format 1 of the stored signatures', () => {
  it('rebuilds byte-identical payloads: the builders write exactly what they wrote when records were signed', () => {
    const version = aVersion({
      files: [
        { path: 'b/x.onnx', size: 3, sha256: '1'.repeat(64), md5: '2'.repeat(32), format: 'onnx' },
        { path: 'a.txt', size: 5, sha256: '3'.repeat(64), md5: '4'.repeat(32), format: 'other' },
      ],
    });
    const report = aReport({
      files: [
        aFileReport({
          path: 'b/x.onnx',
          sha256: '1'.repeat(64),
          loadMs: 1.5,
          peakRssBytes: 1000,
          fedInputs: [{ name: 'x', type: 'float32', shape: [1], value: 'fill 1', source: 'synthesized' }],
        }),
        aFileReport({ path: 'a.txt', sha256: '3'.repeat(64), check: 'integrity-only', format: 'other' }),
      ],
      nodeClasses: [{ nodeClass: 'cpu', fits: true, reason: 'ok' }],
    });
    const digest = (statement: unknown) =>
      createHash('sha256').update(JSON.stringify(statement)).digest('hex');
    // If one of these changes, records signed before no longer verify: make a format 2 instead.
    expect(digest(modelSigningStatement('m@1', version.files))).toBe(
      '29ccc3e3d1c4dd21468677a4c3e97201f0d2b91703be4d26a8c4092306849d21',
    );
    expect(digest(validationStatement(version, report))).toBe(
      'ff93e177b81ab426dc7f8744ab313b03c4aa3b786930941846b1cb174c4d6849',
    );
  });
});
