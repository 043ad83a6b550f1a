import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tryLock } from '../../adapters/fs-lock/kernel-lock.js';
import type { DownloadableFile } from '../../cli/files/download-file.js';
import {
  bytesToCopy,
  type InstallOptions,
  installVersion,
  whyNotAdoptable,
} from '../../cli/files/install-dir.js';
import type { Version } from '../../schemas/version.schema.js';
import { aVersion } from '../helpers/builders.js';

const run = promisify(execFile);

/** How the test server answers for one blob: its bytes, one byte flipped, cut off mid-body, or 404. */
type Behaviour = 'ok' | 'flip' | 'cut' | 'missing';

let server: Server;
let baseUrl: string;
const blobs = new Map<string, { data: Buffer; behaviour: Behaviour }>();
let requests = 0;
/** The Range header of every blob request that carried one. */
const ranges: string[] = [];

function serveBlob(
  data: Buffer,
  behaviour: Behaviour,
  res: import('node:http').ServerResponse,
  range: string | undefined,
): void {
  if (behaviour === 'missing') {
    res.writeHead(404).end();
    return;
  }
  const from = range === undefined ? undefined : Number(/^bytes=(\d+)-$/.exec(range)?.[1]);
  if (from !== undefined && behaviour === 'ok') {
    res
      .writeHead(206, {
        'content-length': data.length - from,
        'content-range': `bytes ${from}-${data.length - 1}/${data.length}`,
      })
      .end(data.subarray(from));
    return;
  }
  res.writeHead(200, { 'content-length': data.length });
  if (behaviour === 'cut') {
    res.write(data.subarray(0, data.length >> 1));
    setTimeout(() => res.destroy(), 20);
    return;
  }
  const body = Buffer.from(data);
  if (behaviour === 'flip' && body.length > 0) body[body.length >> 1]! ^= 0xff;
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    const blob = blobs.get(req.url ?? '');
    if (req.headers.range) ranges.push(req.headers.range);
    if (!blob) res.writeHead(404).end();
    else serveBlob(blob.data, blob.behaviour, res, req.headers.range);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

let root: string;
let dest: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'files-install-'));
  dest = join(root, 'models', 'paddle');
  blobs.clear();
  requests = 0;
  ranges.length = 0;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const hex = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

/** A manifest file whose bytes the server holds, at a URL named after its sha256. */
function serverFile(path: string, data: Buffer, behaviour: Behaviour = 'ok'): DownloadableFile {
  const sha256 = hex('sha256', data);
  blobs.set(`/blobs/${sha256}`, { data, behaviour });
  return {
    path,
    size: data.length,
    sha256,
    md5: hex('md5', data),
    format: path.endsWith('.onnx') ? 'onnx' : 'other',
    download: {
      url: `${baseUrl}/blobs/${sha256}`,
      method: 'GET',
      headers: {},
      expiresAt: '2100-01-01T00:00:00Z',
    },
  };
}

function versionOf(version: string, files: readonly DownloadableFile[]): Version {
  return aVersion({
    model: 'ocr-det',
    version,
    seq: Number(version.replace(/\D/g, '')) || 1,
    provider: 'paddle',
    status: 'VERIFIED',
    files: files.map(({ download: _download, ...file }) => file),
    validation: { attempts: 1 },
  });
}

const options = (
  version: string,
  files: DownloadableFile[],
  extra: Partial<InstallOptions> = {},
): InstallOptions => ({
  dest,
  version: versionOf(version, files),
  files,
  ...extra,
});

/** A typical version: an odd-sized model, a nested file and an empty one. */
function sampleFiles(): DownloadableFile[] {
  return [
    serverFile('det.onnx', randomBytes(300_001)),
    serverFile('dict/keys.txt', randomBytes(1234)),
    serverFile('empty.bin', Buffer.alloc(0)),
  ];
}

async function snapshot(
  path: string,
): Promise<{ link: string; entries: string[]; files: Record<string, string> }> {
  const link = await readlink(path);
  const entries = (await readdir(path, { recursive: true })).sort();
  const files: Record<string, string> = {};
  for (const entry of entries) {
    const full = join(path, entry);
    if ((await stat(full)).isFile()) files[entry] = hex('sha256', await readFile(full));
  }
  return { link, entries, files };
}

const store = () => join(root, 'models', '.paddle.modelgate');
/**
 * The store's entries, less the lock file every fetch leaves (an empty file, locked only while in use)
 * and the partial downloads a failed fetch keeps for the next one to resume (checked on their own).
 */
const storeEntries = async () =>
  (await readdir(store())).filter((e) => e !== '.lock' && e !== '.partial').sort();
/** Sizes of the partial downloads in the store, by sha256. */
const partials = async (): Promise<Record<string, number>> => {
  const dir = join(store(), '.partial');
  const entries = await readdir(dir).catch(() => [] as string[]);
  const out: Record<string, number> = {};
  for (const e of entries) out[e] = (await stat(join(dir, e))).size;
  return out;
};

describe('installVersion', () => {
  it('downloads every file over HTTP into a content folder and points DEST at it', async () => {
    const files = sampleFiles();
    const progress: Array<[number, number]> = [];
    const result = await installVersion(
      options('v1', files, { onProgress: (done, total) => progress.push([done, total]) }),
    );

    expect((await lstat(dest)).isSymbolicLink()).toBe(true);
    expect(await realpath(dest)).toBe(await realpath(result.contentDir));
    expect(result.bytes).toBe(301_235);
    for (const file of files) expect(hex('sha256', await readFile(join(dest, file.path)))).toBe(file.sha256);
    expect(progress.at(-1)).toEqual([301_235, 301_235]);
    const metadata = JSON.parse(await readFile(join(dest, '.modelgate.json'), 'utf8'));
    expect(metadata).toMatchObject({ model: 'ocr-det', version: 'v1', seq: 1, provider: 'paddle' });
    expect(metadata.files.map((f: { path: string }) => f.path)).toEqual([
      'det.onnx',
      'dict/keys.txt',
      'empty.bin',
    ]);
  });

  it('writes checksums.txt and SHA256SUMS that the real md5sum -c and sha256sum -c accept', async () => {
    await installVersion(options('v1', sampleFiles()));
    const md5 = await run('md5sum', ['-c', 'checksums.txt'], { cwd: dest });
    const sha = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dest });
    expect(md5.stdout).toBe('det.onnx: OK\ndict/keys.txt: OK\nempty.bin: OK\n');
    expect(sha.stdout).toBe('det.onnx: OK\ndict/keys.txt: OK\nempty.bin: OK\n');
  });

  it('makes files 0644 and folders 0755 whatever the umask', async () => {
    const previous = process.umask(0o077);
    try {
      await installVersion(options('v1', sampleFiles()));
    } finally {
      process.umask(previous);
    }
    const modeOf = async (path: string) => (await stat(join(dest, path))).mode & 0o777;
    for (const path of [
      'det.onnx',
      'dict/keys.txt',
      'empty.bin',
      'checksums.txt',
      'SHA256SUMS',
      '.modelgate.json',
    ])
      expect([path, await modeOf(path)]).toEqual([path, 0o644]);
    expect(await modeOf('.')).toBe(0o755);
    expect(await modeOf('dict')).toBe(0o755);
  });

  it('switches DEST to a second version and keeps exactly one previous content folder', async () => {
    const first = await installVersion(options('v1', sampleFiles()));
    const second = await installVersion(options('v2', [serverFile('det.onnx', randomBytes(5000))]));
    expect(await realpath(dest)).toBe(await realpath(second.contentDir));
    expect(await readdir(dest)).not.toContain('dict');
    expect((await storeEntries()).length).toBe(2);

    const third = await installVersion(options('v3', [serverFile('det.onnx', randomBytes(6000))]));
    const kept = await storeEntries();
    expect(kept).toHaveLength(2);
    expect(kept).toContain(third.contentDir.split('/').at(-1));
    expect(kept).toContain(second.contentDir.split('/').at(-1));
    await expect(stat(first.contentDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.each([
    ['a checksum mismatch', 'flip', 'CHECKSUM_MISMATCH'],
    ['a connection cut mid-body', 'cut', 'UNAVAILABLE'],
    ['a blob the server does not have', 'missing', 'FILE_MISSING'],
  ] as const)('leaves DEST exactly as it was after %s', async (_what, behaviour, code) => {
    await installVersion(options('v1', sampleFiles()));
    const before = await snapshot(dest);
    const storeBefore = await storeEntries();

    const files = [
      serverFile('det.onnx', randomBytes(200_000)),
      serverFile('bad.onnx', randomBytes(300_000), behaviour),
    ];
    const failure = installVersion(options('v2', files));
    await expect(failure).rejects.toMatchObject({ code, details: { path: 'bad.onnx' } });
    await expect(failure).rejects.toThrow(/bad\.onnx/);

    expect(await snapshot(dest)).toEqual(before);
    expect(await storeEntries()).toEqual(storeBefore);
    // Only bytes that may still be the file's are kept to resume from: none of a mismatch or a 404.
    const bad = (await partials())[files[1]!.sha256];
    if (behaviour === 'cut') expect(bad).toBeLessThan(300_000);
    else expect(bad).toBeUndefined();
  });

  it('resumes a cut download from the bytes on disk with a Range request', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const cut = serverFile('big.onnx', data, 'cut');
    await expect(installVersion(options('v1', [cut]))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const kept = (await partials())[cut.sha256]!;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(data.length);

    blobs.get(`/blobs/${cut.sha256}`)!.behaviour = 'ok';
    const result = await installVersion(options('v1', [cut]));
    expect(ranges).toEqual([`bytes=${kept}-`]);
    expect(result).toMatchObject({ bytesResumed: kept, bytesDownloaded: data.length - kept, filesReused: 0 });
    expect(hex('sha256', await readFile(join(dest, 'big.onnx')))).toBe(cut.sha256);
    expect(await partials()).toEqual({});
  });

  it('writes a file larger than the background write-back stretch (64 MiB) intact', async () => {
    const data = randomBytes(70 * 1024 * 1024);
    const file = serverFile('large.onnx', data);
    const result = await installVersion(options('v1', [file]));
    expect(result.bytesDownloaded).toBe(data.length);
    expect(hex('sha256', await readFile(join(dest, 'large.onnx')))).toBe(file.sha256);
  }, 60_000);

  // 20 MiB: many 1 MiB write batches, and a kept prefix of several MiB re-hashed from disk.
  it('resumes a cut 20 MiB download from the kept bytes, re-hashed from disk', async () => {
    const data = randomBytes(20 * 1024 * 1024 + 5);
    const cut = serverFile('huge.onnx', data, 'cut');
    await expect(installVersion(options('v1', [cut]))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const kept = (await partials())[cut.sha256]!;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(data.length);
    blobs.get(`/blobs/${cut.sha256}`)!.behaviour = 'ok';
    const result = await installVersion(options('v1', [cut]));
    expect(ranges).toEqual([`bytes=${kept}-`]);
    expect(result).toMatchObject({ bytesResumed: kept, bytesDownloaded: data.length - kept });
    expect(hex('sha256', await readFile(join(dest, 'huge.onnx')))).toBe(cut.sha256);
  }, 60_000);

  it('refuses a 20 MiB file when one byte differs, keeping nothing of it', async () => {
    const data = randomBytes(20 * 1024 * 1024 + 5);
    const flipped = serverFile('huge.onnx', data, 'flip');
    await expect(installVersion(options('v1', [flipped]))).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      details: { expected: flipped.sha256 },
    });
    expect((await partials())[flipped.sha256]).toBeUndefined();
    await expect(lstat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  it('starts over when the bytes kept from before are not a prefix of the file', async () => {
    const data = randomBytes(200_000);
    const file = serverFile('det.onnx', data);
    await mkdir(join(store(), '.partial'), { recursive: true });
    await writeFile(join(store(), '.partial', file.sha256), randomBytes(50_000));
    await expect(installVersion(options('v1', [file]))).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect((await partials())[file.sha256]).toBeUndefined();
    const result = await installVersion(options('v1', [file]));
    expect(result.bytesDownloaded).toBe(data.length);
  });

  it('reuses the unchanged files of the installed version: only the changed one is downloaded', async () => {
    const v1 = sampleFiles();
    await installVersion(options('v1', v1));
    const changed = serverFile('dict/keys.txt', randomBytes(999));
    const v2 = [v1[0]!, changed, v1[2]!];
    requests = 0;
    const result = await installVersion(options('v2', v2));
    expect(result).toMatchObject({ bytesDownloaded: 999, filesReused: 2, bytesReused: 300_001 });
    expect(requests).toBe(1);
    expect(hex('sha256', await readFile(join(dest, 'det.onnx')))).toBe(v1[0]!.sha256);
    expect((await stat(join(dest, 'det.onnx'))).mode & 0o777).toBe(0o644);
  });

  it('downloads a reusable file again when its local copy no longer matches its sha256', async () => {
    const v1 = sampleFiles();
    const first = await installVersion(options('v1', v1));
    await writeFile(join(first.contentDir, 'det.onnx'), randomBytes(300_001));
    const result = await installVersion(options('v2', v1));
    expect(result).toMatchObject({ filesReused: 2, bytesDownloaded: 300_001 });
    expect(hex('sha256', await readFile(join(dest, 'det.onnx')))).toBe(v1[0]!.sha256);
  });

  it.each([0, 2])('keeps %i older version(s) with --keep', async (keep) => {
    for (const v of ['v1', 'v2', 'v3', 'v4'])
      await installVersion(options(v, [serverFile('det.onnx', randomBytes(100))], { keep }));
    expect(await storeEntries()).toHaveLength(keep + 1);
  });

  it('refuses a version larger than the free disk before downloading anything', async () => {
    const file = { ...serverFile('huge.onnx', randomBytes(10)), size: 2 ** 52 };
    await expect(installVersion(options('v1', [file]))).rejects.toMatchObject({ code: 'INSUFFICIENT_DISK' });
    expect(requests).toBe(0);
    await expect(lstat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes over a hand-made DEST directory, keeping it as the previous content', async () => {
    await mkdir(dest, { recursive: true });
    await writeFile(join(dest, 'old-model.bin'), 'hand copied');
    const result = await installVersion(options('v1', sampleFiles()));

    expect((await lstat(dest)).isSymbolicLink()).toBe(true);
    expect(await realpath(dest)).toBe(await realpath(result.contentDir));
    const adopted = (await storeEntries()).filter((entry) => entry.startsWith('adopted-'));
    expect(adopted).toHaveLength(1);
    const kept = join(root, 'models', '.paddle.modelgate', adopted[0]!, 'old-model.bin');
    expect(await readFile(kept, 'utf8')).toBe('hand copied');
  });

  it.each(['/', '/tmp/..'])('refuses DEST %s, the root folder, before writing anything', async (root) => {
    await expect(installVersion({ ...options('v1', sampleFiles()), dest: root })).rejects.toMatchObject({
      code: 'USAGE',
      exitCode: 2,
    });
    expect(requests).toBe(0);
    expect(existsSync('/.modelgate')).toBe(false);
  });

  it('refuses a DEST that is a regular file, and leaves it alone', async () => {
    await mkdir(join(root, 'models'));
    await writeFile(dest, 'not a folder');
    await expect(installVersion(options('v1', sampleFiles()))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    expect(await readFile(dest, 'utf8')).toBe('not a folder');
  });

  it('refuses a manifest path that escapes the folder', async () => {
    const file = serverFile('../escape.bin', randomBytes(10));
    await expect(installVersion(options('v1', [file]))).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    expect(requests).toBe(0);
  });

  it('refuses a path that is both a file and a folder, before any request', async () => {
    const files = [serverFile('a', randomBytes(10)), serverFile('a/b', randomBytes(10))];
    const failure = installVersion(options('v1', files));
    await expect(failure).rejects.toMatchObject({ code: 'INVALID_REQUEST', details: { path: 'a/b' } });
    await expect(failure).rejects.toThrow('a is both a file and a folder');
    expect(requests).toBe(0);
    expect(await readdir(root)).toEqual([]);
  });

  it.each([
    ['a folder', 'dir'],
    ['a file', 'file'],
  ] as const)(
    'refuses a store planted as a symlink to %s (exit 2) and touches nothing there',
    async (_what, kind) => {
      const outside = join(root, 'outside');
      await mkdir(join(root, 'models'), { recursive: true });
      if (kind === 'dir') {
        await mkdir(outside, { mode: 0o700 });
        await writeFile(join(outside, 'keep.txt'), 'mine', { mode: 0o600 });
      } else await writeFile(outside, 'mine', { mode: 0o600 });
      await symlink(outside, store());

      const failure = installVersion(options('v1', sampleFiles()));
      await expect(failure).rejects.toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
      await expect(failure).rejects.toThrow(store());
      expect(requests).toBe(0);
      expect((await lstat(outside)).mode & 0o777).toBe(kind === 'dir' ? 0o700 : 0o600);
      if (kind === 'dir') {
        expect(await readdir(outside)).toEqual(['keep.txt']);
        expect((await stat(join(outside, 'keep.txt'))).mode & 0o777).toBe(0o600);
      } else expect(await readFile(outside, 'utf8')).toBe('mine');
      await expect(lstat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );

  // Making a folder owned by another user takes root; as any other user this case cannot be set up.
  it.skipIf(process.getuid?.() !== 0)(
    'refuses a store owned by another user (exit 2), as root too',
    async () => {
      await mkdir(store(), { recursive: true });
      await writeFile(join(store(), 'theirs.txt'), 'theirs');
      await chown(store(), 65534, 65534);
      await expect(installVersion(options('v1', sampleFiles()))).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        exitCode: 2,
        message: expect.stringContaining('is owned by uid 65534'),
      });
      expect(await readdir(store())).toEqual(['theirs.txt']);
      expect(requests).toBe(0);
    },
  );

  it('refuses an unsafe version string before any file-system call', async () => {
    const files = sampleFiles();
    const version = { ...versionOf('v1', files), version: '../../x' };
    await expect(installVersion({ dest, version, files })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    expect(await readdir(root)).toEqual([]);
    expect(requests).toBe(0);
  });

  it('removes staging folders and temporary links that killed fetches left', async () => {
    await installVersion(options('v1', sampleFiles()));
    const deadStaging = join(store(), '.staging-v0-0123456789ab');
    await mkdir(deadStaging);
    await writeFile(join(deadStaging, 'half.onnx'), randomBytes(1000));
    const deadLink = join(root, 'models', '.paddle.link-0123456789ab');
    await symlink('.paddle.modelgate/nowhere', deadLink);

    await installVersion(options('v2', [serverFile('det.onnx', randomBytes(100))]));
    expect((await storeEntries()).some((e) => e.startsWith('.staging-'))).toBe(false);
    expect(await readdir(join(root, 'models'))).toEqual(['.paddle.modelgate', 'paddle']);
  });

  it('leaves DEST and the store as they were when the last check before the switch refuses', async () => {
    await installVersion(options('v1', sampleFiles()));
    const before = await snapshot(dest);
    const storeBefore = await storeEntries();
    const refusal = Object.assign(new Error('quarantined meanwhile'), { code: 'NOT_VERIFIED' });
    const files = [serverFile('det.onnx', randomBytes(100))];
    await expect(
      installVersion(options('v2', files, { beforeSwitch: () => Promise.reject(refusal) })),
    ).rejects.toBe(refusal);
    expect(await snapshot(dest)).toEqual(before);
    expect(await storeEntries()).toEqual(storeBefore);
    expect(await readdir(store())).not.toContain('.partial'); // a refused version's bytes are not kept
  });

  it('waits for the store lock, bounded, then fails with CONFLICT (exit 4) without staging anything', async () => {
    await installVersion(options('v1', sampleFiles()));
    const before = await snapshot(dest);
    const held = tryLock(join(store(), '.lock'))!;
    let waited = false;
    try {
      const attempt = installVersion(
        options('v2', [serverFile('det.onnx', randomBytes(100))], {
          lockTimeoutMs: 300,
          onLockWait: () => (waited = true),
        }),
      );
      await expect(attempt).rejects.toMatchObject({ code: 'CONFLICT', exitCode: 4 });
      await expect(attempt).rejects.toThrow(/another fetch into .*paddle/);
    } finally {
      held.release();
    }
    expect(waited).toBe(true);
    expect(await snapshot(dest)).toEqual(before);
  });

  it('serialises six concurrent installs into one DEST: each succeeds, DEST ends on one of them', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        installVersion(options(`v${i + 1}`, [serverFile('det.onnx', randomBytes(50_000 + i))])),
      ),
    );
    const target = await realpath(dest);
    const winner = results.find((r) => r.contentDir === target);
    expect(winner).toBeDefined();
    const metadata = JSON.parse(await readFile(join(dest, '.modelgate.json'), 'utf8'));
    expect(`${metadata.version}`).toMatch(/^v[1-6]$/);
    const kept = await storeEntries();
    expect(kept).toHaveLength(2);
    expect(kept.some((e) => e.startsWith('.staging-'))).toBe(false);
  });
});

describe('bytesToCopy', () => {
  it('counts the local copies fetch will copy (not rw-r--r--), not those it hard-links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'copies-'));
    try {
      await writeFile(join(dir, 'linked.bin'), Buffer.alloc(100), { mode: 0o644 });
      await chmod(join(dir, 'linked.bin'), 0o644);
      await writeFile(join(dir, 'private.bin'), Buffer.alloc(300), { mode: 0o600 });
      await writeFile(join(dir, 'group.bin'), Buffer.alloc(500));
      await chmod(join(dir, 'group.bin'), 0o664);
      const copies = ['linked.bin', 'private.bin', 'group.bin', 'gone.bin'].map((path) => ({
        root: dir,
        path,
        size: path === 'gone.bin' ? 7 : statSync(join(dir, path)).size,
      }));
      expect(await bytesToCopy(copies)).toBe(300 + 500);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('which real folders fetch may adopt as a hand-made install', () => {
  const homes = ['/root', '/home/carol', '/var/lib/postgres'];
  it.each([
    ['/root', 'a home folder or a folder above one'],
    ['/home/alice', 'a home folder or a folder above one'], // `sudo fetch --dest ~` as alice: not in passwd here
    ['/var/lib', 'a home folder or a folder above one'], // above postgres's home
    ['/work/project', 'the working folder or a folder above it'],
    ['/work', 'the working folder or a folder above it'],
    ['/usr/local', 'a system folder'],
    ['/etc', 'a system folder'],
  ])('refuses %s: %s', (real, why) => {
    expect(whyNotAdoptable(real, homes, '/work/project')).toBe(why);
  });
  it.each([
    ['/app/models/paddle'],
    ['/srv/models'],
    ['/opt/models/ocr'],
    ['/work/project/models'],
    ['/home/carol/models'],
  ])('adopts %s', (real) => {
    expect(whyNotAdoptable(real, homes, '/work/project')).toBeUndefined();
  });
});
