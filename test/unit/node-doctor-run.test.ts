import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installedMetadata } from '../../cli/files/metadata.js';
import { runDoctor } from '../../cli/node/doctor.js';
import type { NodeProbes } from '../../cli/node/node-probes.js';
import {
  modelSigningStatement,
  signStatement,
  trustedKeysFromPem,
  validationStatement,
} from '../../core/provenance.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import { aFileReport, aReport, aVersion } from '../helpers/builders.js';

/**
 * runDoctor on a real folder with the node's facts given as probe answers: the cases this machine cannot
 * be (a CUDA node without a GPU, a runtime without the provider, a full disk, an older runtime) run here.
 */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doctor-run-'));
  await chmod(dir, 0o755); // mkdtemp makes 0700, which doctor rightly reports
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BYTES = Buffer.from('not really a model, only its bytes are checked here');
const sha256 = createHash('sha256').update(BYTES).digest('hex');
const md5 = createHash('md5').update(BYTES).digest('hex');

const FILE = { path: 'det.onnx', size: BYTES.length, sha256, md5, format: 'onnx' as const };
const versionOf = (report: ValidationReport) =>
  aVersion({ model: 'det', version: '3', files: [FILE], report });

async function installed(report: ValidationReport): Promise<void> {
  await writeFile(join(dir, 'det.onnx'), BYTES, { mode: 0o644 });
  const metadata = installedMetadata(versionOf(report), [FILE], new Date());
  await writeFile(join(dir, '.modelgate.json'), JSON.stringify(metadata), { mode: 0o644 });
}

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const trusted = (key: KeyObject) =>
  trustedKeysFromPem(key.export({ type: 'spki', format: 'pem' }).toString());

/** model.sig and validation.sig as fetch installs them, signed by `privateKey` over the version. */
async function signed(report: ValidationReport, privateKey: KeyObject, publicKey: KeyObject) {
  const signer = {
    publicKeyPem: async () => publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: async (m: Uint8Array) => sign('sha256', m, { key: privateKey, dsaEncoding: 'der' }),
  };
  const version = versionOf(report);
  const model = await signStatement(signer, modelSigningStatement('det@3', version.files));
  const validation = await signStatement(signer, validationStatement(version, report));
  await writeFile(join(dir, 'model.sig'), JSON.stringify(model), { mode: 0o644 });
  await writeFile(join(dir, 'validation.sig'), JSON.stringify(validation), { mode: 0o644 });
}

const healthy: NodeProbes = {
  memAvailable: async () => 64 * 1024 ** 3,
  diskFree: async () => 500 * 1024 ** 3,
  gpu: async () => ({ nvidiaSmi: 'ok', driverLoaded: true }),
  runtime: async () => ({ version: '1.30.0', providers: ['cpu', 'cuda'] }),
};

const cudaReport = aReport({
  runtime: { name: 'onnxruntime-node', version: '1.30.0' },
  executionProvider: 'cuda',
  files: [
    aFileReport({
      path: 'det.onnx',
      peakRssBytes: 2 * 1024 ** 3,
      inspection: {
        irVersion: 8,
        opsetImports: [{ domain: '', version: 17 }],
        producerName: 'p',
        producerVersion: '1',
        fileSize: BYTES.length,
      },
    }),
  ],
});

describe('runDoctor on probe facts', () => {
  it('is all clear for a CUDA version on a node with a GPU, the runtime and the provider', async () => {
    await installed(cudaReport);
    const result = await runDoctor({ dir, probes: healthy });
    expect(result.findings).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.checks.find((c) => c.name === 'gpu')).toMatchObject({ status: 'ok' });
  });

  it('finds GPU_UNAVAILABLE and DEPENDENCY_MISSING on a CPU-only node (exit 7)', async () => {
    await installed(cudaReport);
    const result = await runDoctor({
      dir,
      probes: {
        ...healthy,
        gpu: async () => ({ nvidiaSmi: 'absent', driverLoaded: false }),
        runtime: async () => ({ version: '1.30.0', providers: ['cpu'] }),
      },
    });
    expect(result.findings.map((f) => f.code)).toEqual(['GPU_UNAVAILABLE', 'DEPENDENCY_MISSING']);
    expect(result.exitCode).toBe(7);
    expect(result.findings[0]!.fix).toContain('nvidia-smi');
  });

  it('finds INSUFFICIENT_DISK when the file system cannot hold the next version (exit 7)', async () => {
    await installed(cudaReport);
    const result = await runDoctor({ dir, probes: { ...healthy, diskFree: async () => 10 } });
    expect(result.findings).toEqual([expect.objectContaining({ code: 'INSUFFICIENT_DISK' })]);
    expect(result.exitCode).toBe(7);
  });

  it('finds UNSUPPORTED_MODEL when the model needs a newer opset than this runtime has (exit 7)', async () => {
    const tooNew = aReport({
      ...cudaReport,
      executionProvider: 'cpu',
      files: [
        aFileReport({
          path: 'det.onnx',
          inspection: {
            irVersion: 8,
            opsetImports: [{ domain: '', version: 99 }],
            producerName: 'p',
            producerVersion: '1',
            fileSize: BYTES.length,
          },
        }),
      ],
    });
    await installed(tooNew);
    const result = await runDoctor({ dir, probes: healthy });
    expect(result.findings).toEqual([
      expect.objectContaining({
        code: 'UNSUPPORTED_MODEL',
        file: 'det.onnx',
        message: 'det.onnx: ai.onnx opset 99 is newer than onnxruntime-node 1.30.0 supports (at most 26)',
      }),
    ]);
  });

  it('reports a missing runtime as DEPENDENCY_MISSING with the probe’s error', async () => {
    await installed({ ...cudaReport, executionProvider: 'cpu' });
    const result = await runDoctor({
      dir,
      probes: {
        ...healthy,
        runtime: async () => ({
          providers: [],
          error: 'libonnxruntime.so.1: cannot open shared object file',
        }),
      },
    });
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]!.code).toBe('DEPENDENCY_MISSING');
    expect(result.findings[0]!.message).toContain('libonnxruntime.so.1: cannot open shared object file');
  });

  it('judges memory with the given free memory: the profiled 2 GiB peak × 1.5 needs 3 GiB', async () => {
    await installed({ ...cudaReport, executionProvider: 'cpu' });
    expect((await runDoctor({ dir, probes: healthy, freeMemoryBytes: 3 * 1024 ** 3 })).exitCode).toBe(0);
    const short = await runDoctor({ dir, probes: healthy, freeMemoryBytes: 3 * 1024 ** 3 - 1 });
    expect(short.exitCode).toBe(5);
    expect(short.findings.map((f) => f.code)).toEqual(['INSUFFICIENT_MEMORY']);
  });
});

describe("runDoctor on the registry's signatures", () => {
  const report = { ...cudaReport, executionProvider: 'cpu' };
  const registry = p256();

  it('without a key only says whether model.sig and validation.sig are there, never a finding', async () => {
    await installed(report);
    const unsigned = await runDoctor({ dir, probes: healthy });
    expect(unsigned.exitCode).toBe(0);
    expect(unsigned.checks.map((c) => c.name).slice(0, 3)).toEqual(['files', 'signature', 'permissions']);
    expect(unsigned.checks.find((c) => c.name === 'signature')).toEqual({
      name: 'signature',
      step: 'Check model files (verify checksums)',
      status: 'skipped',
      detail:
        'model.sig absent, validation.sig absent; not verified: no key given (--key PEM or MODELGATE_VERIFY_KEY)',
    });
    await signed(report, registry.privateKey, registry.publicKey);
    const present = await runDoctor({ dir, probes: healthy });
    expect(present.findings).toEqual([]);
    expect(present.checks.find((c) => c.name === 'signature')?.detail).toMatch(
      /^model\.sig present, validation\.sig present; not verified: no key given/,
    );
  });

  it('with the registry key: passes, naming the key that signed', async () => {
    await installed(report);
    await signed(report, registry.privateKey, registry.publicKey);
    const keys = trusted(registry.publicKey);
    const result = await runDoctor({ dir, probes: healthy, trustedKeys: keys });
    expect(result.findings).toEqual([]);
    expect(result.exitCode).toBe(0);
    const check = result.checks.find((c) => c.name === 'signature');
    expect(check?.status).toBe('ok');
    expect(check?.detail).toContain(`verify with key ${keys[0]!.keyId}: 1 file(s) of det@3, load-tested`);
  });

  it('with another key: SIGNATURE_INVALID on model.sig, exit 6, the fix re-fetches with --verify-key', async () => {
    await installed(report);
    await signed(report, registry.privateKey, registry.publicKey);
    const result = await runDoctor({ dir, probes: healthy, trustedKeys: trusted(p256().publicKey) });
    expect(result.exitCode).toBe(6);
    expect(result.findings).toEqual([
      {
        code: 'SIGNATURE_INVALID',
        file: 'model.sig',
        message: expect.stringMatching(/^signed by key [0-9a-f]{16}…, which is not one of the trusted keys/),
        fix: expect.stringContaining(`modelgate fetch det@3 --dest ${dir} --verify-key PEM`),
      },
    ]);
    expect(result.checks.find((c) => c.name === 'signature')?.status).toBe('failed');
  });

  it('names the swapped file when the manifest was rewritten to match it (exit 6)', async () => {
    await installed(report);
    await signed(report, registry.privateKey, registry.publicKey);
    const evil = Buffer.from('other bytes, same length as the model file ...........');
    await writeFile(join(dir, 'det.onnx'), evil);
    const manifest = JSON.parse(await readFile(join(dir, '.modelgate.json'), 'utf8'));
    manifest.files[0] = {
      ...manifest.files[0],
      size: evil.length,
      sha256: createHash('sha256').update(evil).digest('hex'),
      md5: createHash('md5').update(evil).digest('hex'),
    };
    await writeFile(join(dir, '.modelgate.json'), JSON.stringify(manifest));
    const unkeyed = await runDoctor({ dir, probes: healthy });
    expect(unkeyed.exitCode).toBe(0); // the checksums alone cannot tell
    const result = await runDoctor({ dir, probes: healthy, trustedKeys: trusted(registry.publicKey) });
    expect(result.exitCode).toBe(6);
    expect(result.findings).toEqual([
      expect.objectContaining({
        code: 'SIGNATURE_INVALID',
        file: 'det.onnx',
        message: expect.stringMatching(/^model\.sig lists other files or digests: det\.onnx has sha256/),
      }),
    ]);
  });

  it('with a key and no signatures: SIGNATURE_INVALID naming model.sig', async () => {
    await installed(report);
    const result = await runDoctor({ dir, probes: healthy, trustedKeys: trusted(registry.publicKey) });
    expect(result.exitCode).toBe(6);
    expect(result.findings).toEqual([
      expect.objectContaining({
        code: 'SIGNATURE_INVALID',
        file: 'model.sig',
        message: `${dir} has no model.sig: fetch the version with --verify-key to install it`,
      }),
    ]);
  });

  it('does not repeat a broken file as a signature finding', async () => {
    await installed(report);
    await signed(report, registry.privateKey, registry.publicKey);
    await writeFile(join(dir, 'det.onnx'), Buffer.from('x'.repeat(BYTES.length)));
    const result = await runDoctor({ dir, probes: healthy, trustedKeys: trusted(registry.publicKey) });
    expect(result.findings.map((f) => [f.code, f.file])).toEqual([['CHECKSUM_MISMATCH', 'det.onnx']]);
    expect(result.checks.find((c) => c.name === 'signature')).toMatchObject({
      status: 'skipped',
      detail: 'the files check failed: fix what it found first',
    });
  });
});
