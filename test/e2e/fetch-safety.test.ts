import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { CLI, cli, removeDir, tempDir } from './harness.js';
import { useServer } from './use-server.js';

/** A node:http server on 127.0.0.1; resolves with its URL. */
async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const close = (server: Server) => new Promise((resolve) => server.close(resolve));

const HOLD_LOCK = join(import.meta.dirname, '..', 'fixtures', 'hold-lock.ts');

/**
 * A proxy in front of the real server: it points the plan's download URLs at itself, and holds the first
 * blob download until `release()`; `blobSeen` resolves when that download arrives.
 */
async function holdingProxy(upstream: string) {
  let held: (() => void) | undefined;
  let seen!: () => void;
  const blobSeen = new Promise<void>((resolve) => (seen = resolve));
  const proxy = await listen((req, res) => {
    const forward = () => {
      const up = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        if (!req.url!.includes('/download/')) {
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
          return;
        }
        let body = '';
        answer.on('data', (d: Buffer) => (body += d.toString()));
        answer.on('end', () => {
          const rewritten = body.replaceAll(upstream, proxy.url);
          res.writeHead(answer.statusCode!, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(rewritten),
          });
          res.end(rewritten);
        });
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (req.url!.startsWith('/blobs/') && held === undefined) {
      held = forward;
      seen();
    } else forward();
  });
  return {
    url: proxy.url,
    blobSeen,
    release: () => held?.(),
    close: () => {
      proxy.server.closeAllConnections();
      return close(proxy.server);
    },
  };
}

const VERSIONS = ['1', '2', '3', '4', '5', '6'];

describe('fetch touches only what it owns', () => {
  // One distinct node quarantines a version: the race test quarantines with one field report.
  const fixture = useServer({ env: { MODELGATE_QUARANTINE_NODES: '1' } });
  const run = (...args: string[]) => fixture.run(...args);

  beforeAll(async () => {
    for (const v of VERSIONS) {
      const file = join(fixture.work, `m${v}.onnx`);
      writeFileSync(file, buildMlpModel({ layers: 1, dim: 4, seed: Number(v) }));
      const published = await run('publish', `m@${v}`, file, '--wait');
      expect(published.code, published.stderr).toBe(0);
    }
  }, 180_000);

  it.each([
    ['a folder', 'dir'],
    ['a file', 'file'],
  ] as const)(
    'refuses a store folder planted as a symlink to %s (exit 2), touching nothing outside',
    async (_what, kind) => {
      const root = join(fixture.work, `planted-${kind}`);
      const outside = join(fixture.work, `outside-${kind}`);
      mkdirSync(root);
      if (kind === 'dir') {
        mkdirSync(outside, { mode: 0o700 });
        writeFileSync(join(outside, 'precious.txt'), 'keep', { mode: 0o600 });
      } else writeFileSync(outside, 'keep', { mode: 0o600 });
      symlinkSync(outside, join(root, '.paddle.modelgate'));

      const fetched = await run('fetch', 'm@1', '--dest', join(root, 'paddle'));
      expect(fetched.code).toBe(2);
      expect(fetched.stderr).toContain(`${join(root, '.paddle.modelgate')} is a symbolic link`);
      expect(statSync(outside).mode & 0o777).toBe(kind === 'dir' ? 0o700 : 0o600);
      if (kind === 'dir') {
        expect(readdirSync(outside)).toEqual(['precious.txt']);
        expect(statSync(join(outside, 'precious.txt')).mode & 0o777).toBe(0o600);
      } else expect(readFileSync(outside, 'utf8')).toBe('keep');
      expect(readdirSync(root)).toEqual(['.paddle.modelgate']);
    },
  );

  it("refuses a DEST inside the registry's data folder (exit 2): its blobs stay where the registry serves them", async () => {
    const dataDir = fixture.server.dataDir;
    for (const dest of [join(dataDir, 'blobs'), join(dataDir, 'models', 'paddle')]) {
      const fetched = await run('fetch', 'm@1', '--dest', dest);
      expect(fetched.code).toBe(2);
      expect(fetched.stderr).toContain(`is inside the data folder of a modelgate registry (${dataDir} holds`);
    }
    // Through a link to a folder inside it too.
    const linked = join(fixture.work, 'linked-models');
    symlinkSync(join(dataDir, 'blobs'), linked);
    const throughLink = await run('fetch', 'm@1', '--dest', join(linked, 'paddle'));
    expect(throughLink.code, throughLink.stderr).toBe(2);
    expect(throughLink.stderr).toContain(`(${dataDir} holds`);
    expect(lstatSync(join(dataDir, 'blobs')).isDirectory()).toBe(true);
    expect(readdirSync(join(dataDir, 'blobs')).filter((e) => e.includes('paddle'))).toEqual([]);
    expect(readdirSync(dataDir).filter((e) => e.includes('modelgate') || e === 'models')).toEqual([]);
    const elsewhere = await run('fetch', 'm@1', '--dest', join(fixture.work, 'outside-data', 'paddle'));
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
  });

  // Root may write anywhere: a folder the fetching user may not write needs root to switch to `nobody`.
  it.skipIf(process.getuid?.() !== 0)(
    'a DEST whose parent this user may not write: PERMISSION_DENIED on one line that says what to do',
    async () => {
      const parent = join(fixture.work, 'root-owned');
      mkdirSync(parent, { mode: 0o755 });
      chmodSync(fixture.work, 0o755); // mkdtemp's 0700 would keep `nobody` out of every folder
      const args = ['fetch', 'm@1', '--dest', join(parent, 'paddle')];
      const asNobody = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(
          'setpriv',
          ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, CLI, ...args],
          { env: { ...process.env, ...fixture.server.env, HOME: '/tmp' } },
          (err, _stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr }),
        ),
      );
      expect(asNobody.code).toBe(1);
      expect(asNobody.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^error PERMISSION_DENIED: cannot install into .*: fetch needs to write ${parent} .*run it as a user who may`,
          ),
        ),
      ]);
      expect(readdirSync(parent)).toEqual([]);
    },
  );

  it('six concurrent fetches of different versions into one DEST: all succeed, no dangling link', async () => {
    for (let round = 0; round < 2; round++) {
      const dest = join(fixture.work, `concurrent-${round}`, 'paddle');
      const results = await Promise.all(
        VERSIONS.map((v) => run('fetch', `m@${v}`, '--dest', dest, '--json')),
      );
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      expect(lstatSync(dest).isSymbolicLink()).toBe(true);
      const target = realpathSync(dest); // throws on a dangling link
      const installed = JSON.parse(readFileSync(join(target, '.modelgate.json'), 'utf8'));
      expect(VERSIONS).toContain(installed.version);
      expect((await run('verify', dest)).code).toBe(0);
      const store = readdirSync(join(dest, '..', '.paddle.modelgate'));
      expect(store.filter((e) => e.startsWith('.staging-'))).toEqual([]);
      expect(store.filter((e) => e !== '.lock')).toHaveLength(2);
    }
  }, 180_000);

  it('does not install a version quarantined while its bytes were moving', async () => {
    const proxy = await holdingProxy(fixture.server.url);
    try {
      const dest = join(fixture.work, 'race', 'paddle');
      const fetching = cli(['fetch', 'm@2', '--dest', dest], { MODELGATE_REGISTRY: proxy.url }, fixture.work);
      await proxy.blobSeen;
      const reported = await run(
        'report',
        'm@2',
        '--outcome',
        'failed',
        '--code',
        'MODEL_CORRUPTED',
        '--node',
        'n1',
      );
      expect(reported.code, reported.stderr).toBe(0);
      expect(JSON.parse((await run('status', 'm@2', '--json')).stdout).status).toBe('QUARANTINED');
      proxy.release();
      const fetched = await fetching;
      expect(fetched.code).toBe(4);
      expect(fetched.stderr).toContain('became QUARANTINED while it was being fetched');
      expect(existsSync(dest)).toBe(false);
      const store = readdirSync(join(dest, '..', '.paddle.modelgate'));
      expect(store.filter((e) => e !== '.lock')).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a fetch killed mid-download leaves DEST as it was; the next one removes its staging folder at once', async () => {
    const dest = join(fixture.work, 'killed', 'paddle');
    expect((await run('fetch', 'm@1', '--dest', dest)).code).toBe(0);
    const before = realpathSync(dest);
    const proxy = await holdingProxy(fixture.server.url);
    try {
      const child = spawn(process.execPath, [CLI, 'fetch', 'm@3', '--dest', dest], {
        env: { ...process.env, MODELGATE_REGISTRY: proxy.url },
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await proxy.blobSeen; // it holds the store lock and has a staging folder
      const store = join(dest, '..', '.paddle.modelgate');
      expect(readdirSync(store).filter((e) => e.startsWith('.staging-'))).toHaveLength(1);
      child.kill('SIGKILL');
      await exited;
      expect(realpathSync(dest)).toBe(before);

      const started = Date.now();
      const next = await run('fetch', 'm@3', '--dest', dest, '--json');
      expect(next.code, next.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000); // the dead fetch's lock did not hold it up
      expect(JSON.parse(readFileSync(join(dest, '.modelgate.json'), 'utf8')).version).toBe('3');
      expect(readdirSync(store).filter((e) => e.startsWith('.staging-'))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a second fetch into a DEST whose lock is held waits --lock-timeout, then exits 4 naming it', async () => {
    const dest = join(fixture.work, 'locked', 'paddle');
    expect((await run('fetch', 'm@1', '--dest', dest)).code).toBe(0);
    const lock = join(dest, '..', '.paddle.modelgate', '.lock');
    const holder = spawn(process.execPath, ['--import', 'tsx', HOLD_LOCK, lock], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      expect(
        await new Promise((resolve) =>
          holder.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())),
        ),
      ).toBe('locked');
      const started = Date.now();
      const waited = await run('fetch', 'm@4', '--dest', dest, '--lock-timeout', '1');
      expect(waited.code).toBe(4);
      expect(waited.stderr).toContain(`another fetch into ${dest} is still running`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(JSON.parse(readFileSync(join(dest, '.modelgate.json'), 'utf8')).version).toBe('1');
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('fetch refuses a hostile download plan before writing anything', () => {
  const bytes = Buffer.from('model bytes');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const md5 = createHash('md5').update(bytes).digest('hex');
  let registry: { server: Server; url: string };
  let plan: unknown;
  const requests: string[] = [];

  /** A VERIFIED plan of `m` whose files (one per path, all the same bytes) are at `paths`. */
  function planWith(version: string, paths: string | readonly string[], digest = sha256): unknown {
    const files = [paths]
      .flat()
      .map((path) => ({ path, size: bytes.length, sha256: digest, md5, format: 'other' }));
    return {
      version: {
        model: 'm',
        version,
        seq: 1,
        provider: 'paddle',
        status: 'VERIFIED',
        files,
        totalSize: bytes.length * files.length,
        inputShapes: {},
        publisher: 'x',
        createdAt: '2024-01-01T00:00:00Z',
        updatedAt: '2024-01-01T00:00:00Z',
        validation: { attempts: 1 },
      },
      files: files.map((file) => ({
        ...file,
        download: {
          url: `${registry.url}/blob`,
          method: 'GET',
          headers: {},
          expiresAt: '2100-01-01T00:00:00Z',
        },
      })),
    };
  }

  beforeAll(async () => {
    registry = await listen((req, res) => {
      requests.push(req.url!);
      if (req.url === '/blob') res.writeHead(200).end(bytes);
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(plan));
    });
  });
  afterAll(() => close(registry.server));

  it.each([
    ['a version string that climbs out', () => planWith('../../x', 'model.bin'), 'version.version'],
    ['a path that climbs out', () => planWith('1', '../../../escaped.bin'), 'files.0.path'],
    ['a malformed digest', () => planWith('1', 'model.bin', '../../etc/passwd'), 'files.0.sha256'],
    // Node writes a lone surrogate as U+FFFD: both paths would be the file a\ufffd.
    ['two paths with lone surrogates', () => planWith('1', ['a\ud800', 'a\udc00']), 'files.0.path'],
    ['a path that is a file and a folder', () => planWith('1', ['a', 'a/b']), 'files.1.path'],
  ])(
    '%s: exit 6 UNSAFE_PLAN naming the field, nothing written, no byte fetched',
    async (_what, make, field) => {
      plan = make();
      requests.length = 0;
      const work = tempDir('hostile-');
      const dest = join(work, 'app', 'models', 'paddle');
      const fetched = await cli(['fetch', 'm@1', '--dest', dest], { MODELGATE_REGISTRY: registry.url }, work);
      expect(fetched.code).toBe(6);
      expect(fetched.stderr).toContain('UNSAFE_PLAN');
      expect(fetched.stderr).toContain(field);
      expect(fetched.stderr).not.toContain('    at ');
      expect(readdirSync(work)).toEqual([]);
      expect(requests.every((u) => u.startsWith('/api/v1/models/m/download/'))).toBe(true);
      removeDir(work);
    },
  );
});

describe('fetch reuses only files inside a hand-made DEST, and never changes one', () => {
  const fixture = useServer();
  const run = (...args: string[]) => fixture.run(...args);
  const vocab = 'the vocabulary\n';
  let manifest = '';

  beforeAll(async () => {
    const bundle = join(fixture.work, 'bundle');
    mkdirSync(join(bundle, 'ext'), { recursive: true });
    writeFileSync(join(bundle, 'det.onnx'), buildMlpModel({ layers: 1, dim: 4, seed: 7 }));
    writeFileSync(join(bundle, 'ext', 'vocab.txt'), vocab);
    const published = await run('publish', 'ocr-bundle@2.0.0', bundle, '--wait');
    expect(published.code, published.stderr).toBe(0);
    // A real install's manifest, for the hand-made DESTs below to carry.
    const reference = join(fixture.work, 'reference', 'paddle');
    expect((await run('fetch', 'ocr-bundle@2.0.0', '--dest', reference)).code).toBe(0);
    manifest = readFileSync(join(reference, '.modelgate.json'), 'utf8');
  }, 180_000);

  /** A hand-made DEST holding the version's manifest, for `name`; returns DEST. */
  function handMadeDest(name: string): string {
    const dest = join(fixture.work, name, 'paddle');
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, '.modelgate.json'), manifest);
    return dest;
  }

  const fetchInto = async (dest: string) => {
    const fetched = await run('fetch', 'ocr-bundle@2.0.0', '--dest', dest, '--json');
    expect(fetched.code, fetched.stderr).toBe(0);
    expect((await run('verify', dest)).code).toBe(0);
    return JSON.parse(fetched.stdout) as { filesReused: number; bytesDownloaded: number; bytes: number };
  };

  it('downloads a file its manifest lists behind a symlinked folder: the file outside is untouched', async () => {
    const dest = handMadeDest('symlinked');
    const outside = join(fixture.work, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'vocab.txt'), vocab, { mode: 0o600 });
    symlinkSync(outside, join(dest, 'ext'));
    const before = statSync(join(outside, 'vocab.txt'));
    expect(before.mode & 0o777).toBe(0o600);

    const summary = await fetchInto(dest);
    expect(summary).toMatchObject({ filesReused: 0, bytesDownloaded: summary.bytes });
    const after = statSync(join(outside, 'vocab.txt'));
    expect(after.mode & 0o777).toBe(0o600);
    expect(after.nlink).toBe(1);
    expect(after.ino).toBe(before.ino);
    expect(readFileSync(join(outside, 'vocab.txt'), 'utf8')).toBe(vocab);
    const installed = statSync(join(dest, 'ext', 'vocab.txt'));
    expect(installed.ino).not.toBe(before.ino);
    expect(installed.mode & 0o777).toBe(0o644);
  });

  it('copies a file of DEST whose mode is not rw-r--r-- rather than linking and chmod-ing it', async () => {
    const dest = handMadeDest('private');
    mkdirSync(join(dest, 'ext'));
    writeFileSync(join(dest, 'ext', 'vocab.txt'), vocab, { mode: 0o600 });
    const before = statSync(join(dest, 'ext', 'vocab.txt'));

    expect((await fetchInto(dest)).filesReused).toBe(1);
    // DEST's folder is kept in the store as the previous content: the file is there, as it was.
    const store = join(dest, '..', '.paddle.modelgate');
    const adopted = readdirSync(store).find((e) => e.startsWith('adopted-'))!;
    const kept = statSync(join(store, adopted, 'ext', 'vocab.txt'));
    expect(kept.ino).toBe(before.ino);
    expect(kept.mode & 0o777).toBe(0o600);
    expect(kept.nlink).toBe(1);
    const installed = statSync(join(dest, 'ext', 'vocab.txt'));
    expect(installed.ino).not.toBe(before.ino);
    expect(installed.mode & 0o777).toBe(0o644);
  });

  it('never removes a hand-made DEST it took over, nor anything else it did not write, whatever --keep says', async () => {
    const dest = join(fixture.work, 'home', 'alice');
    mkdirSync(join(dest, '.ssh'), { recursive: true });
    writeFileSync(join(dest, 'notes.txt'), 'mine');
    writeFileSync(join(dest, '.ssh', 'id'), 'secret', { mode: 0o600 });
    const store = join(dest, '..', '.alice.modelgate');
    mkdirSync(store);
    writeFileSync(join(store, 'README'), "not fetch's");
    for (const keep of ['1', '0', '0']) {
      const fetched = await run('fetch', 'ocr-bundle@2.0.0', '--dest', dest, '--keep', keep);
      expect(fetched.code, fetched.stderr).toBe(0);
    }
    const adopted = readdirSync(store).filter((e) => e.startsWith('adopted-'));
    expect(adopted).toHaveLength(1);
    expect(readFileSync(join(store, adopted[0]!, 'notes.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(store, adopted[0]!, '.ssh', 'id'), 'utf8')).toBe('secret');
    expect(readFileSync(join(store, 'README'), 'utf8')).toBe("not fetch's");
    // --keep 0: of fetch's own content folders, only the installed one is left.
    const content = readdirSync(store).filter((e) => !['.lock', 'README', ...adopted].includes(e));
    expect(content).toEqual([basename(realpathSync(dest))]);
  });

  it('never adopts the home folder, the working folder or a folder above either (exit 2, nothing written)', async () => {
    const home = join(fixture.work, 'users', 'bob');
    const project = join(home, 'project');
    mkdirSync(project, { recursive: true });
    writeFileSync(join(home, 'notes.txt'), 'mine');
    const before = readdirSync(join(home, '..')).sort();
    const env = { ...fixture.server.env, HOME: home };
    for (const [dest, what] of [
      [home, 'a home folder or a folder above one'],
      [join(home, '..'), 'a home folder or a folder above one'],
      ['.', 'the working folder or a folder above it'],
    ] as const) {
      const refused = await cli(['fetch', 'ocr-bundle@2.0.0', '--dest', dest], env, project);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toContain(`is ${what}, a folder fetch did not write`);
    }
    expect(readFileSync(join(home, 'notes.txt'), 'utf8')).toBe('mine');
    expect(lstatSync(home).isDirectory()).toBe(true);
    expect(readdirSync(join(home, '..')).sort()).toEqual(before); // no store made beside it
    expect(readdirSync(home).sort()).toEqual(['notes.txt', 'project']);
    // A folder below them is a hand-made install like any other.
    const models = join(project, 'models');
    mkdirSync(models);
    const fetched = await cli(['fetch', 'ocr-bundle@2.0.0', '--dest', models], env, project);
    expect(fetched.code, fetched.stderr).toBe(0);
  });

  it('fetch and sync take over a hand-made DEST whose .modelgate.json is a FIFO, without reading it', async () => {
    for (const command of ['fetch', 'sync'] as const) {
      const dest = join(fixture.work, `fifo-${command}`, 'paddle');
      mkdirSync(dest, { recursive: true });
      execFileSync('mkfifo', [join(dest, '.modelgate.json')]);
      const ran =
        command === 'fetch'
          ? await run('fetch', 'ocr-bundle@2.0.0', '--dest', dest)
          : await run('sync', 'ocr-bundle@latest', '--dest', dest, '--once');
      expect(ran.code, ran.stderr).toBe(0);
      expect((await run('verify', dest)).code).toBe(0);
    }
  });

  it('still links a file of DEST that is already rw-r--r--', async () => {
    const dest = handMadeDest('shareable');
    mkdirSync(join(dest, 'ext'));
    writeFileSync(join(dest, 'ext', 'vocab.txt'), vocab);
    chmodSync(join(dest, 'ext', 'vocab.txt'), 0o644);
    const before = statSync(join(dest, 'ext', 'vocab.txt'));

    expect((await fetchInto(dest)).filesReused).toBe(1);
    const installed = statSync(join(dest, 'ext', 'vocab.txt'));
    expect(installed.ino).toBe(before.ino);
    expect(installed.nlink).toBe(2);
  });
});
