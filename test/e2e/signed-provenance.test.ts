import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specCheckModelStatement, specVerifyBundle } from '../fixtures/independent-dsse.js';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { type KmsEndpoint, startKmsEndpoint } from '../helpers/kms-endpoint.js';
import { api, BACKENDS, cli } from './harness.js';
import { useServer } from './use-server.js';

/**
 * Signed provenance end to end: a version VERIFIED by a real validation is signed by the server's own
 * key; a node fetches it with `--verify-key` (the bundles installed as model.sig and validation.sig and
 * checked by an independent verifier), refuses it (exit 6, the folder untouched) with another key or a
 * tampered bundle, and `verify --key` catches a file swapped together with the local manifest and
 * checksum files.
 */

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** A proxy in front of the server that rewrites the body of the signatures route with `edit`. */
async function signaturesProxy(upstream: string, edit: (status: number, body: string) => [number, string]) {
  let url = '';
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const up = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      let body = '';
      answer.on('data', (d: Buffer) => (body += d.toString()));
      answer.on('end', () => {
        let status = answer.statusCode!;
        if (req.url!.includes('/download/')) body = body.replaceAll(upstream, url);
        if (req.url!.endsWith('/signatures')) [status, body] = edit(status, body);
        res.writeHead(status, { 'content-type': answer.headers['content-type'] ?? 'application/json' });
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a destination looks like: where its link points and the files there with their bytes. */
function snapshot(dest: string): string {
  const target = realpathSync(dest);
  const files = readdirSync(target, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return `${path.slice(target.length)} ${sha256(readFileSync(path))}`;
    })
    .sort();
  return [target, ...files].join('\n');
}

describe.each(BACKENDS)('signed provenance on the %s backend', (backend) => {
  const fixture = useServer({ backend });
  const run = (...args: string[]) => fixture.run(...args);
  let keyFile = '';
  let otherKeyFile = '';
  let dest = '';
  const model = buildMlpModel({ layers: 2, dim: 8, seed: 11 });
  const vocab = Buffer.from('a\nb\nc\n');

  beforeAll(async () => {
    const folder = join(fixture.work, 'bundle');
    mkdirSync(join(folder, 'extra'), { recursive: true });
    writeFileSync(join(folder, 'det.onnx'), model);
    writeFileSync(join(folder, 'extra', 'vocab.txt'), vocab);
    const published = await run('publish', 'signed@1.0.0', folder, '--wait');
    expect(published.code, published.stderr).toBe(0);
    const again = await run('publish', 'signed@2.0.0', folder, '--wait');
    expect(again.code, again.stderr).toBe(0);

    const key = await run('signing-key');
    expect(key.code, key.stderr).toBe(0);
    keyFile = join(fixture.work, 'registry.pem');
    writeFileSync(keyFile, key.stdout);
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    otherKeyFile = join(fixture.work, 'other.pem');
    writeFileSync(otherKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    dest = join(fixture.work, 'node', 'det');
  }, 180_000);

  it('keeps its key in the data folder (0600) and serves the same public key over the API', async () => {
    const keyPath = join(fixture.server.dataDir, 'model-signing.pem');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyPath, 'utf8')).toContain('BEGIN PRIVATE KEY');
    const answer = await api(fixture.server, 'GET', '/api/v1/signing-key');
    expect(answer.status).toBe(200);
    expect(answer.json?.algorithm).toBe('ECDSA_P256_SHA256');
    expect(`${answer.json?.publicKeyPem}`.trim()).toBe(readFileSync(keyFile, 'utf8').trim());
    expect(answer.json?.keyId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('fetch --verify-key installs model.sig and validation.sig, which an independent verifier accepts', async () => {
    const fetched = await run('fetch', 'signed@1.0.0', '--dest', dest, '--verify-key', keyFile, '--json');
    expect(fetched.code, fetched.stderr).toBe(0);
    const summary = JSON.parse(fetched.stdout);
    expect(summary.signedBy).toMatch(/^[0-9a-f]{64}$/);

    const publicPem = readFileSync(keyFile, 'utf8');
    const statement = specVerifyBundle(JSON.parse(readFileSync(join(dest, 'model.sig'), 'utf8')), publicPem);
    specCheckModelStatement(
      statement,
      new Map([
        ['det.onnx', sha256(model)],
        ['extra/vocab.txt', sha256(vocab)],
      ]),
    );
    expect(statement.predicate.serialization).toMatchObject({ method: 'files', hash_type: 'sha256' });
    const attestation = specVerifyBundle(
      JSON.parse(readFileSync(join(dest, 'validation.sig'), 'utf8')),
      publicPem,
    );
    expect(attestation.predicateType).toBe('https://modelgate.dev/attestation/validation/v1');
    expect(attestation.subject.map((s: { name: string }) => s.name).sort()).toEqual([
      'det.onnx',
      'extra/vocab.txt',
    ]);

    // The signatures are not part of the version: plain verify does not count them as extra files.
    const verified = await run('verify', dest);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const withKey = await run('verify', dest, '--key', keyFile, '--json');
    expect(withKey.code, withKey.stderr).toBe(0);
    expect(JSON.parse(withKey.stdout).signature).toMatchObject({
      model: 'signed',
      version: '1.0.0',
      files: 2,
    });
  }, 60_000);

  it("the attestation's predicate is the validation report", async () => {
    const status = JSON.parse((await run('status', 'signed@1.0.0', '--json')).stdout);
    const report = status.report ?? status.version?.report;
    expect(report, JSON.stringify(status).slice(0, 500)).toBeDefined();
    const attestation = specVerifyBundle(
      JSON.parse(readFileSync(join(dest, 'validation.sig'), 'utf8')),
      readFileSync(keyFile, 'utf8'),
    );
    const p = attestation.predicate;
    expect(p).toMatchObject({
      model: 'signed',
      version: '1.0.0',
      verdict: 'VERIFIED',
      loadTested: true,
      runtime: report.runtime,
      executionProvider: report.executionProvider,
      memoryBudgetBytes: report.memoryBudgetBytes,
      validation: { startedAt: report.startedAt, finishedAt: report.finishedAt, worker: report.worker },
    });
    const onnx = report.files.find((f: { path: string }) => f.path === 'det.onnx');
    const attested = p.files.find((f: { path: string }) => f.path === 'det.onnx');
    expect(attested).toMatchObject({
      sha256: sha256(model),
      check: 'loaded',
      peakRssBytes: onnx.peakRssBytes,
      loadMs: onnx.loadMs,
      inferenceMs: onnx.inferenceMs,
    });
    expect(attested.peakRssBytes).toBeGreaterThan(0);
    expect(attested.inputs.map((i: { name: string }) => i.name)).toEqual(
      onnx.fedInputs.map((i: { name: string }) => i.name),
    );
    expect(attested.inputs.length).toBeGreaterThan(0);
  });

  it('with another key: exit 6, the folder untouched', async () => {
    const before = snapshot(dest);
    const refused = await run('fetch', 'signed@2.0.0', '--dest', dest, '--verify-key', otherKeyFile);
    expect(refused.code, refused.stderr).toBe(6);
    expect(refused.stderr).toMatch(/error SIGNATURE_INVALID: .*not one of the trusted keys/);
    expect(snapshot(dest)).toBe(before);
    // The same through MODELGATE_VERIFY_KEY, with the key's PEM text itself.
    const viaEnv = await cli(
      ['fetch', 'signed@2.0.0', '--dest', dest],
      { ...fixture.server.env, MODELGATE_VERIFY_KEY: readFileSync(otherKeyFile, 'utf8') },
      fixture.work,
    );
    expect(viaEnv.code, viaEnv.stderr).toBe(6);
    expect(snapshot(dest)).toBe(before);
    // Trusting both keys (rotation) accepts it.
    const both = await run(
      'fetch',
      'signed@2.0.0',
      '--dest',
      dest,
      '--verify-key',
      otherKeyFile,
      '--verify-key',
      keyFile,
    );
    expect(both.code, both.stderr).toBe(0);
  }, 60_000);

  it.each([
    [
      'a payload that lists another digest',
      (status: number, body: string): [number, string] => {
        const answer = JSON.parse(body);
        const env = answer.signatures.model.dsseEnvelope;
        const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString());
        statement.predicate.resources[0].digest = 'f'.repeat(64);
        env.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
        return [status, JSON.stringify(answer)];
      },
      /signature does not verify/,
    ],
    [
      'a flipped signature byte',
      (status: number, body: string): [number, string] => {
        const answer = JSON.parse(body);
        const sig = Buffer.from(answer.signatures.validation.dsseEnvelope.signatures[0].sig, 'base64');
        sig[sig.length - 1]! ^= 1;
        answer.signatures.validation.dsseEnvelope.signatures[0].sig = sig.toString('base64');
        return [status, JSON.stringify(answer)];
      },
      /signature does not verify|not a valid/,
    ],
    [
      'no signatures at all',
      (): [number, string] => [
        404,
        JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no signatures' } }),
      ],
      /is not signed/,
    ],
  ])(
    'a tampered bundle (%s): exit 6, the folder untouched',
    async (_what, edit, reason) => {
      const proxy = await signaturesProxy(fixture.server.url, edit);
      try {
        const before = snapshot(dest);
        const refused = await cli(
          ['fetch', 'signed@1.0.0', '--dest', dest, '--verify-key', keyFile],
          { ...fixture.server.env, MODELGATE_REGISTRY: proxy.url },
          fixture.work,
        );
        expect(refused.code, refused.stderr).toBe(6);
        expect(refused.stderr).toMatch(reason);
        expect(snapshot(dest)).toBe(before);
      } finally {
        await proxy.close();
      }
    },
    60_000,
  );

  it('verify --key catches a file swapped together with .modelgate.json, checksums.txt and SHA256SUMS', async () => {
    const fetched = await run('fetch', 'signed@1.0.0', '--dest', dest, '--verify-key', keyFile);
    expect(fetched.code, fetched.stderr).toBe(0);
    const copy = join(fixture.work, 'swapped');
    cpSync(realpathSync(dest), copy, { recursive: true });
    expect(lstatSync(copy).isDirectory()).toBe(true);
    const evil = buildMlpModel({ layers: 2, dim: 8, seed: 99 });
    writeFileSync(join(copy, 'det.onnx'), evil);
    const manifest = JSON.parse(readFileSync(join(copy, '.modelgate.json'), 'utf8'));
    for (const f of manifest.files)
      if (f.path === 'det.onnx')
        Object.assign(f, { sha256: sha256(evil), md5: md5(evil), size: evil.length });
    writeFileSync(join(copy, '.modelgate.json'), JSON.stringify(manifest));
    const line = (digest: 'md5' | 'sha256') =>
      manifest.files.map((f: Record<string, string>) => `${f[digest]}  ${f.path}\n`).join('');
    writeFileSync(join(copy, 'checksums.txt'), line('md5'));
    writeFileSync(join(copy, 'SHA256SUMS'), line('sha256'));

    // Checksums alone cannot tell: the swap rewrote them.
    expect((await run('verify', copy)).code).toBe(0);
    const caught = await run('verify', copy, '--key', keyFile);
    expect(caught.code, caught.stdout + caught.stderr).toBe(6);
    expect(caught.stderr).toMatch(/error SIGNATURE_INVALID: .*det\.onnx has sha256/);
    // verify installs nothing: its line says what to do with the folder, not what a fetch did.
    expect(caught.stderr).toContain('do not trust this folder: fetch the version again');
    expect(caught.stderr).not.toContain('nothing was installed');
    // A folder without signatures is refused too, not passed.
    const unsigned = join(fixture.work, 'unsigned');
    cpSync(realpathSync(dest), unsigned, { recursive: true });
    for (const f of ['model.sig', 'validation.sig']) writeFileSync(join(unsigned, f), '');
    const noSig = await run('verify', unsigned, '--key', keyFile);
    expect(noSig.code).toBe(6);
  }, 60_000);

  it('a deprecated version keeps its signatures, and the API says the verdict is revoked', async () => {
    const deprecated = await run('deprecate', 'signed@2.0.0', '--reason', 'superseded by a fix');
    expect(deprecated.code, deprecated.stderr).toBe(0);
    const answer = await api(fixture.server, 'GET', '/api/v1/models/signed/versions/2.0.0/signatures');
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ status: 'DEPRECATED', revoked: true });
    expect(answer.json?.reason).toContain('superseded by a fix');
    const live = await api(fixture.server, 'GET', '/api/v1/models/signed/versions/1.0.0/signatures');
    expect(live.json).toMatchObject({ status: 'VERIFIED', revoked: false });
  });
});

describe('signed provenance with the key in KMS', () => {
  let kms: KmsEndpoint;
  // Before the server's own beforeAll, which reads the endpoint's address.
  beforeAll(async () => {
    kms = await startKmsEndpoint();
  });
  const fixture = useServer(() => ({
    env: {
      MODELGATE_SIGNING_KMS_KEY_ID: kms.keyArn,
      AWS_ENDPOINT_URL_KMS: kms.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
  }));
  afterAll(async () => {
    await kms?.stop();
  });

  it('signs through KMS: the server serves its public key, keeps no key file, and nodes verify', async () => {
    const file = join(fixture.work, 'm.onnx');
    writeFileSync(file, buildMlpModel({ layers: 1, dim: 4, seed: 5 }));
    const published = await fixture.run('publish', 'kms@1', file, '--wait');
    expect(published.code, published.stderr).toBe(0);
    expect(kms.calls.filter((c) => c.target === 'TrentService.Sign')).toHaveLength(2);
    expect(existsSync(join(fixture.server.dataDir, 'model-signing.pem'))).toBe(false);

    const key = await fixture.run('signing-key');
    expect(key.stdout.trim()).toBe(kms.publicKeyPem.trim());
    const keyFile = join(fixture.work, 'kms.pem');
    writeFileSync(keyFile, kms.publicKeyPem);
    const dest = join(fixture.work, 'node', 'kms');
    const fetched = await fixture.run('fetch', 'kms@1', '--dest', dest, '--verify-key', keyFile);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect((await fixture.run('verify', dest, '--key', keyFile)).code).toBe(0);
    specVerifyBundle(JSON.parse(readFileSync(join(dest, 'model.sig'), 'utf8')), kms.publicKeyPem);
  }, 120_000);
});
