import { execFile, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel, buildMultiInputModel } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { CLI, cli } from './harness.js';
import { useServer } from './use-server.js';

interface DoctorJson {
  ok: boolean;
  version: { model: string; version: string } | null;
  findings: { code: string; file?: string; message: string; fix: string }[];
  checks: { name: string; step: string; status: string; detail: string }[];
}

/**
 * `modelgate doctor` on folders a real `fetch` installed from a real server, then damaged the ways the
 * runbook's investigation looks for; `--load` loads the real models in the validator's isolated child.
 */
describe('doctor: the runbook on a fetched folder', () => {
  const fixture = useServer();
  const run = (...args: string[]) => fixture.run(...args);
  let n = 0;
  /** A fresh fetch of the bundle into its own folder: each case damages its own copy. */
  const fetched = async (): Promise<string> => {
    const dest = join(fixture.work, `node-${n++}`, 'paddle');
    const r = await run('fetch', 'bundle@1', '--dest', dest);
    expect(r.code, r.stderr).toBe(0);
    return dest;
  };
  const doctor = async (...args: string[]) => {
    const r = await run('doctor', ...args, '--json');
    return { code: r.code, stderr: r.stderr, json: JSON.parse(r.stdout) as DoctorJson };
  };

  beforeAll(async () => {
    const bundle = join(fixture.work, 'bundle');
    mkdirSync(join(bundle, 'dict'), { recursive: true });
    writeFileSync(join(bundle, 'det.onnx'), buildMlpModel({ layers: 2, dim: 64, seed: 1 }));
    writeFileSync(join(bundle, 'rec.onnx'), buildMultiInputModel());
    writeFileSync(join(bundle, 'dict', 'keys.txt'), 'a\nb\nc\n');
    const published = await run('publish', 'bundle@1', bundle, '--wait');
    expect(published.code, published.stderr).toBe(0);
  }, 180_000);

  it('is all clear on a clean fetch (exit 0), every check in the runbook order', async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest);
    expect(code).toBe(0);
    expect(json).toMatchObject({ ok: true, version: { model: 'bundle', version: '1' }, findings: [] });
    expect(json.checks.map((c) => c.name)).toEqual([
      'files',
      'signature',
      'permissions',
      'memory',
      'disk',
      'gpu',
      'runtime',
      'model-support',
    ]);
    expect(json.checks.find((c) => c.name === 'gpu')).toMatchObject({ status: 'skipped' });
    // Fetched without --verify-key: no signatures installed, and none checked (not a finding).
    expect(json.checks.find((c) => c.name === 'signature')).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^model\.sig absent, validation\.sig absent; not verified: no key given/),
    });
    expect(json.checks.find((c) => c.name === 'runtime')?.detail).toContain(
      'execution provider cpu available',
    );
    const human = await run('doctor', dest);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('bundle@1 (provider default)');
    expect(human.stdout.trimEnd().split('\n').at(-1)).toBe('all clear');
  });

  it('names a missing file (exit 6, FILE_MISSING) with the runbook fix', async () => {
    const dest = await fetched();
    rmSync(join(dest, 'dict', 'keys.txt'));
    const { code, json } = await doctor(dest);
    expect(code).toBe(6);
    expect(json.findings).toEqual([
      {
        code: 'FILE_MISSING',
        file: 'dict/keys.txt',
        message: 'dict/keys.txt is missing (6 bytes expected)',
        fix: `runbook "Fix: Missing Model Files": re-download with \`modelgate fetch bundle@1 --dest ${dest}\``,
      },
    ]);
  });

  it('names a file with one changed byte (exit 6, CHECKSUM_MISMATCH)', async () => {
    const dest = await fetched();
    const path = join(dest, 'det.onnx');
    const bytes = readFileSync(path);
    bytes[bytes.length - 3]! ^= 0x01;
    writeFileSync(path, bytes);
    const { code, json } = await doctor(dest);
    expect(code).toBe(6);
    expect(json.findings).toHaveLength(1);
    expect(json.findings[0]).toMatchObject({ code: 'CHECKSUM_MISMATCH', file: 'det.onnx' });
    expect(json.findings[0]!.fix).toContain('Fix: Corrupted Model Files');
  });

  it('names a file a service user cannot read, with its mode (exit 7, PERMISSION_DENIED)', async () => {
    const dest = await fetched();
    chmodSync(join(dest, 'rec.onnx'), 0o600);
    const { code, json } = await doctor(dest);
    expect(code).toBe(7);
    expect(json.findings).toEqual([
      expect.objectContaining({
        code: 'PERMISSION_DENIED',
        file: 'rec.onnx',
        message: 'rec.onnx: mode 0600: not readable by others (want 0644)',
      }),
    ]);
    expect(json.findings[0]!.fix).toContain('chmod 644');
    expect(json.checks.find((c) => c.name === 'permissions')?.detail).toMatch(/owner uid \d+, gid \d+/);
  });

  // Root reads any file whatever its mode: the service user's view needs root to switch to `nobody`.
  it.skipIf(process.getuid?.() !== 0)(
    'as a service user: a folder it cannot enter is PERMISSION_DENIED (exit 7), never a missing file or a crash',
    async () => {
      const dest = await fetched();
      const content = realpathSync(dest);
      chmodSync(join(content, 'dict'), 0o700);
      chmodSync(fixture.work, 0o755); // mkdtemp's 0700 would keep `nobody` out of every folder
      const asNobody = (...args: string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
          execFile(
            'setpriv',
            ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, CLI, ...args],
            (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stdout, stderr }),
          ),
        );
      const doctored = await asNobody('doctor', dest, '--json');
      expect(doctored.code, doctored.stderr).toBe(7);
      const json = JSON.parse(doctored.stdout) as DoctorJson;
      expect(new Set(json.findings.map((f) => f.code))).toEqual(new Set(['PERMISSION_DENIED']));
      expect(json.findings).toContainEqual(
        expect.objectContaining({
          file: 'dict',
          message: 'dict: mode 0700: others cannot list or enter it (want 0755)',
        }),
      );
      expect(json.findings).toContainEqual(expect.objectContaining({ file: 'dict/keys.txt' }));
      expect(json.findings[0]!.fix).toContain('Fix: Permission Issues');
      const verified = await asNobody('verify', dest);
      expect(verified.code).toBe(7);
      expect(verified.stderr).toMatch(
        /^error PERMISSION_DENIED: .*dict\/keys\.txt.*: run verify as a user who may read the folder/,
      );
      expect(verified.stderr.trim().split('\n')).toHaveLength(1);
    },
  );

  it("refuses free memory below the version's profiled peak × 1.5 (exit 5, INSUFFICIENT_MEMORY)", async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest, '--free-memory', '1MiB');
    expect(code).toBe(5);
    expect(json.findings).toEqual([expect.objectContaining({ code: 'INSUFFICIENT_MEMORY' })]);
    expect(json.findings[0]!.message).toMatch(
      /^1\.0 MiB available, the version's profiled peak .* × 1\.5 = .* does not fit$/,
    );
    // The most severe finding decides: integrity (6) over memory (5).
    rmSync(join(dest, 'rec.onnx'));
    expect((await doctor(dest, '--free-memory', '1MiB')).code).toBe(6);
  });

  it('--load loads and smoke-runs each real model in an isolated child, with its peak memory', async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest, '--load');
    expect(code).toBe(0);
    const load = json.checks.find((c) => c.name === 'load')!;
    expect(load).toMatchObject({ step: 'Test model loading directly', status: 'ok' });
    expect(load.detail).toMatch(/det\.onnx: loaded, peak \d+\.\d MiB/);
    expect(load.detail).toMatch(/rec\.onnx: loaded, peak \d+\.\d MiB/);
  }, 120_000);

  it('--load under a budget the runtime cannot load in: the child is stopped, the finding says so', async () => {
    const dest = await fetched();
    const { code, json } = await doctor(dest, '--load', '--load-budget', '1MiB');
    expect(code).toBe(5);
    expect(json.checks.find((c) => c.name === 'load')?.status).toBe('failed');
    expect(json.findings.map((f) => [f.code, f.file])).toEqual([
      ['INSUFFICIENT_MEMORY', 'det.onnx'],
      ['INSUFFICIENT_MEMORY', 'rec.onnx'],
    ]);
  }, 120_000);

  it('reports an extra file a loader may pick up, but never the registry signatures', async () => {
    const dest = await fetched();
    const content = realpathSync(dest);
    writeFileSync(join(content, 'model.sig'), '{}');
    writeFileSync(join(content, 'validation.sig'), '{}');
    expect((await doctor(dest)).code).toBe(0);
    expect((await run('verify', dest)).code).toBe(0);
    writeFileSync(join(content, 'old.onnx'), 'stale');
    const { code, json } = await doctor(dest);
    expect(code).toBe(6);
    expect(json.findings).toEqual([
      expect.objectContaining({
        code: 'CHECKSUM_MISMATCH',
        file: 'old.onnx',
        fix: expect.stringContaining(`rm ${join(dest, 'old.onnx')}`),
      }),
    ]);
  });

  it('never vouches for files reached through a symlinked folder: they are missing, the link is named', async () => {
    const dest = await fetched();
    const content = realpathSync(dest);
    // The same bytes, outside the folder: following the link would call them the model's.
    const outside = join(fixture.work, 'shared-dict');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keys.txt'), readFileSync(join(content, 'dict', 'keys.txt')));
    rmSync(join(content, 'dict'), { recursive: true });
    symlinkSync(outside, join(content, 'dict'));

    const verified = await run('verify', dest);
    expect(verified.code).toBe(6);
    expect(verified.stdout.trim().split('\n').sort()).toEqual(['EXTRA\tdict', 'MISSING\tdict/keys.txt']);
    const { code, json } = await doctor(dest);
    expect(code).toBe(6);
    expect(json.findings).toEqual([
      expect.objectContaining({ code: 'FILE_MISSING', file: 'dict/keys.txt' }),
      expect.objectContaining({
        code: 'CHECKSUM_MISMATCH',
        file: 'dict',
        message: `dict (a symbolic link to ${outside}) is not a file of bundle@1: a loader may pick it up`,
      }),
    ]);
  });

  it('refuses a hostile .modelgate.json with one clear line, never hanging on it', async () => {
    const dest = await fetched();
    const content = realpathSync(dest);
    const manifestPath = join(content, '.modelgate.json');
    const named = join(dest, '.modelgate.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const expectRefused = async (why: string) => {
      const verified = await run('verify', dest);
      expect(verified.code).toBe(6);
      expect(verified.stderr.trim().split('\n')).toEqual([
        `error CONFIG_INVALID: ${named} ${why}: fetch the version again with \`modelgate fetch\``,
      ]);
      const { code, json } = await doctor(dest);
      expect(code).toBe(6);
      expect(json.findings).toEqual([
        expect.objectContaining({ file: '.modelgate.json', message: `${named} ${why}` }),
      ]);
    };

    const escaping = {
      ...manifest,
      files: [...manifest.files, { ...manifest.files[0], path: '../../etc/passwd' }],
    };
    writeFileSync(manifestPath, JSON.stringify(escaping));
    await expectRefused(
      `is not a valid .modelgate.json (files.${manifest.files.length}.path: must not contain empty, '.' or '..' segments)`,
    );
    const many = Array.from({ length: 10_001 }, (_, i) => ({ ...manifest.files[0], path: `f${i}` }));
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, files: many }));
    await expectRefused(
      'is not a valid .modelgate.json (files: lists 10001 files, a version holds at most 10000)',
    );
    // A FIFO: reading it would wait for a writer forever.
    rmSync(manifestPath);
    execFileSync('mkfifo', [manifestPath]);
    await expectRefused('is not a regular file: not a manifest that fetch writes');
  });

  it('names a folder that does not exist (exit 6, FILE_MISSING)', async () => {
    const { code, json } = await doctor(join(fixture.work, 'nowhere'));
    expect(code).toBe(6);
    expect(json).toMatchObject({ ok: false, version: null, findings: [{ code: 'FILE_MISSING' }] });
  });

  it('--report sends the most severe finding as a field report', async () => {
    const dest = await fetched();
    chmodSync(join(dest, 'rec.onnx'), 0o600);
    const r = await run('doctor', dest, '--report', '--node', 'doctor-node-1');
    expect(r.code).toBe(7);
    expect(r.stderr).not.toContain('warning');
    // /metrics is computed from the store at most every few seconds: wait for the next computation.
    await eventually(
      async () => {
        const metrics = await (await fetch(`${fixture.server.url}/metrics`)).text();
        expect(metrics).toMatch(/ocr_errors_total\{[^}]*reason="PERMISSION_DENIED"[^}]*\} 1/);
        return true;
      },
      { what: 'the field report in /metrics', timeoutMs: 20_000, intervalMs: 500 },
    );
  });

  describe("with the registry's key (--key)", () => {
    let keyFile = '';
    let otherKeyFile = '';
    const signedFetch = async (): Promise<string> => {
      const dest = join(fixture.work, `node-${n++}`, 'paddle');
      const r = await run('fetch', 'bundle@1', '--dest', dest, '--verify-key', keyFile);
      expect(r.code, r.stderr).toBe(0);
      return dest;
    };

    beforeAll(async () => {
      const key = await run('signing-key');
      expect(key.code, key.stderr).toBe(0);
      keyFile = join(fixture.work, 'registry.pem');
      writeFileSync(keyFile, key.stdout);
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      otherKeyFile = join(fixture.work, 'other.pem');
      writeFileSync(otherKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    });

    it('passes a signed fetch (exit 0), the check naming the key that signed it', async () => {
      const dest = await signedFetch();
      const { code, json } = await doctor(dest, '--key', keyFile);
      expect(code).toBe(0);
      expect(json.findings).toEqual([]);
      const check = json.checks.find((c) => c.name === 'signature')!;
      expect(check.status).toBe('ok');
      expect(check.detail).toMatch(
        /^model\.sig and validation\.sig verify with key [0-9a-f]{64}: 3 file\(s\) of bundle@1, load-tested/,
      );
      // MODELGATE_VERIFY_KEY, the PEM text itself, stands for --key.
      const viaEnv = await cli(
        ['doctor', dest, '--json'],
        { ...fixture.server.env, MODELGATE_VERIFY_KEY: readFileSync(keyFile, 'utf8') },
        fixture.work,
      );
      expect(viaEnv.code, viaEnv.stderr).toBe(0);
      expect(
        JSON.parse(viaEnv.stdout).checks.find((c: { name: string }) => c.name === 'signature').status,
      ).toBe('ok');
      // Without a key the signatures are only said to be there.
      const unkeyed = await doctor(dest);
      expect(unkeyed.code).toBe(0);
      expect(unkeyed.json.checks.find((c) => c.name === 'signature')).toMatchObject({
        status: 'skipped',
        detail: expect.stringMatching(/^model\.sig present, validation\.sig present; not verified/),
      });
    });

    it('refuses a signature by another key (exit 6, SIGNATURE_INVALID) and sends no field report for it', async () => {
      const dest = await signedFetch();
      const { code, json } = await doctor(dest, '--key', otherKeyFile);
      expect(code).toBe(6);
      expect(json.ok).toBe(false);
      expect(json.findings).toEqual([
        {
          code: 'SIGNATURE_INVALID',
          file: 'model.sig',
          message: expect.stringMatching(/which is not one of the trusted keys/),
          fix: expect.stringContaining(`modelgate fetch bundle@1 --dest ${dest} --verify-key PEM`),
        },
      ]);
      const human = await run('doctor', dest, '--key', otherKeyFile, '--report', '--node', 'doctor-node-2');
      expect(human.code).toBe(6);
      expect(human.stdout).toMatch(/^SIGNATURE_INVALID\tmodel\.sig\t/m);
      expect(human.stderr).toContain('warning: the field report was not sent: SIGNATURE_INVALID');
    });

    it('catches a file swapped together with .modelgate.json, checksums.txt and SHA256SUMS (exit 6)', async () => {
      const dest = await signedFetch();
      const evil = buildMlpModel({ layers: 2, dim: 64, seed: 99 });
      writeFileSync(join(dest, 'det.onnx'), evil);
      const manifest = JSON.parse(readFileSync(join(dest, '.modelgate.json'), 'utf8'));
      const digest = (algorithm: string) => createHash(algorithm).update(evil).digest('hex');
      for (const f of manifest.files)
        if (f.path === 'det.onnx')
          Object.assign(f, { sha256: digest('sha256'), md5: digest('md5'), size: evil.length });
      writeFileSync(join(dest, '.modelgate.json'), JSON.stringify(manifest));
      const sums = (field: 'md5' | 'sha256') =>
        manifest.files.map((f: Record<string, string>) => `${f[field]}  ${f.path}\n`).join('');
      writeFileSync(join(dest, 'checksums.txt'), sums('md5'));
      writeFileSync(join(dest, 'SHA256SUMS'), sums('sha256'));

      // The checksums alone cannot tell: the swap rewrote them.
      expect((await doctor(dest)).code).toBe(0);
      const { code, json } = await doctor(dest, '--key', keyFile);
      expect(code).toBe(6);
      expect(json.findings).toEqual([
        expect.objectContaining({
          code: 'SIGNATURE_INVALID',
          file: 'det.onnx',
          message: expect.stringMatching(/^model\.sig lists other files or digests: det\.onnx has sha256/),
        }),
      ]);
    });
  });
});
