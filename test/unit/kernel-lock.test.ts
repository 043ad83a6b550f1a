import { type ChildProcess, spawn } from 'node:child_process';
import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  acquireLock,
  LockFileUnsafeError,
  LockTimeoutError,
  tryLock,
} from '../../adapters/fs-lock/kernel-lock.js';

const HOLDER = join(import.meta.dirname, '..', 'fixtures', 'hold-lock.ts');

let dir: string;
let lockPath: string;
const children: ChildProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kernel-lock-'));
  lockPath = join(dir, 'test.lock');
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Starts another process that takes the lock; resolves once it answers `locked` or `busy`. */
async function holder(holdMs = 60_000): Promise<{ child: ChildProcess; answer: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, lockPath, String(holdMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const answer = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return { child, answer };
}

describe('kernel lock', () => {
  it('excludes a second holder in the same process until released', () => {
    const first = tryLock(lockPath);
    expect(first).toBeDefined();
    expect(tryLock(lockPath)).toBeUndefined();
    first!.release();
    first!.release(); // idempotent
    const again = tryLock(lockPath);
    expect(again).toBeDefined();
    again!.release();
  });

  it('excludes another process, and is free the moment that process is killed with SIGKILL', async () => {
    const { child, answer } = await holder();
    expect(answer).toBe('locked');
    expect(tryLock(lockPath)).toBeUndefined();
    const killed = Date.now();
    child.kill('SIGKILL'); // not awaited: the dead holder may still be a zombie, unreaped
    const lock = await acquireLock(lockPath, { timeoutMs: 2000, pollMs: 10 });
    expect(Date.now() - killed).toBeLessThan(1000);
    lock.release();
  });

  it('a second process finds the lock busy while this one holds it', async () => {
    const mine = tryLock(lockPath)!;
    expect((await holder()).answer).toBe('busy');
    mine.release();
  });

  it('waits, bounded, then fails with LockTimeoutError naming the lock', async () => {
    await holder();
    let waited = false;
    const started = Date.now();
    const attempt = acquireLock(lockPath, { timeoutMs: 400, pollMs: 50, onWait: () => (waited = true) });
    await expect(attempt).rejects.toBeInstanceOf(LockTimeoutError);
    await expect(attempt).rejects.toThrow(lockPath);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(waited).toBe(true);
  });

  it('waits for a holder that releases within the bound', async () => {
    await holder(300);
    const lock = await acquireLock(lockPath, { timeoutMs: 10_000, pollMs: 20 });
    lock.release();
  });

  it('creates the lock file 0600 whatever the umask', async () => {
    const previous = process.umask(0);
    try {
      tryLock(lockPath)!.release();
    } finally {
      process.umask(previous);
    }
    expect((await stat(lockPath)).mode & 0o777).toBe(0o600);
  });

  it('refuses a symlink planted at the lock path, and leaves its target alone', async () => {
    const target = join(dir, 'precious.txt');
    await writeFile(target, 'keep me', { mode: 0o644 });
    await symlink(target, lockPath);
    expect(() => tryLock(lockPath)).toThrow(LockFileUnsafeError);
    expect(await readFile(target, 'utf8')).toBe('keep me');
    expect((await stat(target)).mode & 0o777).toBe(0o644);
    expect((await lstat(lockPath)).isSymbolicLink()).toBe(true);
  });

  it('replaces the pid file an earlier version left, and takes the lock', async () => {
    await writeFile(lockPath, '12345');
    const lock = tryLock(lockPath);
    expect(lock).toBeDefined();
    lock!.release();
  });

  it('refuses a lock path that holds something else than a lock database', async () => {
    await writeFile(lockPath, 'important notes that are not a pid');
    expect(() => tryLock(lockPath)).toThrow(/not a database/);
    expect(await readFile(lockPath, 'utf8')).toBe('important notes that are not a pid');
  });
});
