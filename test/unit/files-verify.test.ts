import { createHash, randomBytes } from 'node:crypto';
import {
  appendFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  rename,
  rm,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DownloadableFile } from '../../cli/files/download-file.js';
import { installVersion } from '../../cli/files/install-dir.js';
import { verifyDir } from '../../cli/files/verify-dir.js';
import type { Version } from '../../schemas/version.schema.js';
import { aVersion } from '../helpers/builders.js';

const hex = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

/** Bytes by URL, answered without a network: the HTTP path is covered by files-install.test.ts. */
const contents = new Map<string, Buffer>();
const fakeFetch: typeof fetch = async (input) => new Response(contents.get(String(input)) ?? null);

function file(path: string, data: Buffer): DownloadableFile {
  const url = `memory://${path}`;
  contents.set(url, data);
  const download = { url, method: 'GET' as const, headers: {}, expiresAt: '2100-01-01T00:00:00Z' };
  return {
    path,
    size: data.length,
    sha256: hex('sha256', data),
    md5: hex('md5', data),
    format: 'other',
    download,
  };
}

function version(files: readonly DownloadableFile[]): Version {
  return aVersion({
    model: 'ocr-rec',
    version: '2.1.0',
    seq: 3,
    provider: 'paddle',
    status: 'VERIFIED',
    files: files.map(({ download: _download, ...f }) => f),
    validation: { attempts: 1 },
  });
}

let root: string;
let dest: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'files-verify-'));
  dest = join(root, 'paddle');
  const files = [
    file('rec.onnx', randomBytes(70_001)),
    file('sub/keys.txt', randomBytes(999)),
    file('a.bin', randomBytes(5)),
  ];
  await installVersion({ dest, version: version(files), files, fetchImpl: fakeFetch });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function flipByte(path: string, position: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, position);
    buffer[0]! ^= 0x01;
    await fh.write(buffer, 0, 1, position);
  } finally {
    await fh.close();
  }
}

describe('verifyDir', () => {
  it('passes a freshly installed folder', async () => {
    await expect(verifyDir(dest)).resolves.toEqual({
      ok: true,
      model: 'ocr-rec',
      version: '2.1.0',
      problems: [],
    });
  });

  it('finds a flipped byte, a truncated file, a missing file and an extra file', async () => {
    await flipByte(join(dest, 'rec.onnx'), 35_000);
    await truncate(join(dest, 'a.bin'), 4);
    await unlink(join(dest, 'sub/keys.txt'));
    await writeFile(join(dest, 'sub/stray.onnx'), 'left over');
    const result = await verifyDir(dest);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      { path: 'rec.onnx', kind: 'mismatch' },
      { path: 'sub/keys.txt', kind: 'missing' },
      { path: 'a.bin', kind: 'size' },
      { path: 'sub/stray.onnx', kind: 'extra' },
    ]);
  });

  it('notices a same-size change at the very end of a file', async () => {
    await flipByte(join(dest, 'rec.onnx'), 70_000);
    expect((await verifyDir(dest)).problems).toEqual([{ path: 'rec.onnx', kind: 'mismatch' }]);
  });

  it('does not count its own sidecar files as extra, but does count a stray top-level file', async () => {
    await appendFile(join(dest, 'notes.txt'), 'x');
    expect((await verifyDir(dest)).problems).toEqual([{ path: 'notes.txt', kind: 'extra' }]);
  });

  it('refuses a folder that modelgate fetch did not write', async () => {
    const plain = join(root, 'plain');
    await mkdir(plain);
    const failure = verifyDir(plain);
    await expect(failure).rejects.toMatchObject({ code: 'FILE_MISSING' });
    await expect(failure).rejects.toThrow(/not written by `modelgate fetch`/);
  });

  it('says a folder that does not exist is missing, rather than lacking a manifest', async () => {
    const failure = verifyDir(join(root, 'no-such-folder'));
    await expect(failure).rejects.toMatchObject({ code: 'FILE_MISSING' });
    await expect(failure).rejects.toThrow(/the folder .*no-such-folder does not exist/);
  });

  it('refuses a file given where a folder is expected', async () => {
    const failure = verifyDir(join(dest, 'rec.onnx'));
    await expect(failure).rejects.toThrow(/is a file, not a folder/);
  });

  it('refuses a corrupted .modelgate.json', async () => {
    await rm(join(dest, '.modelgate.json'));
    await writeFile(join(dest, '.modelgate.json'), '{"model": 1');
    await expect(verifyDir(dest)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('counts a symlink in place of a manifest file as missing, even to a file with the right bytes', async () => {
    await rename(join(dest, 'a.bin'), join(root, 'a.bin'));
    await symlink(join(root, 'a.bin'), join(dest, 'a.bin'));
    expect((await verifyDir(dest)).problems).toEqual([{ path: 'a.bin', kind: 'missing' }]);
  });

  it('refuses a manifest that fails its schema although its files were already being hashed', async () => {
    const path = join(dest, '.modelgate.json');
    const metadata = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...metadata, model: 'Not A Name' }));
    await expect(verifyDir(dest)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('refuses a manifest whose file path leaves the folder, without opening it', async () => {
    const path = join(dest, '.modelgate.json');
    const metadata = JSON.parse(await readFile(path, 'utf8'));
    metadata.files[0].path = '../outside.bin';
    await writeFile(join(root, 'outside.bin'), 'x');
    await writeFile(path, JSON.stringify(metadata));
    await expect(verifyDir(dest)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('checks every file of a version with more files than hashing threads', async () => {
    const many = Array.from({ length: 7 }, (_, i) => file(`part-${i}.bin`, randomBytes(1_000 + i * 50_000)));
    const other = join(root, 'many');
    await installVersion({ dest: other, version: version(many), files: many, fetchImpl: fakeFetch });
    await expect(verifyDir(other)).resolves.toMatchObject({ ok: true, problems: [] });
    await flipByte(join(other, 'part-6.bin'), 0);
    await flipByte(join(other, 'part-2.bin'), 100_000);
    expect((await verifyDir(other)).problems).toEqual([
      { path: 'part-2.bin', kind: 'mismatch' },
      { path: 'part-6.bin', kind: 'mismatch' },
    ]);
  });

  it('hands back the sha256 it computed of every file, by manifest path', async () => {
    const hashed = new Map<string, string>();
    await expect(verifyDir(dest, hashed)).resolves.toMatchObject({ ok: true });
    const expected = new Map<string, string>();
    for (const path of ['rec.onnx', 'sub/keys.txt', 'a.bin'])
      expected.set(path, hex('sha256', await readFile(join(dest, path))));
    expect(hashed).toEqual(expected);
  });
});
