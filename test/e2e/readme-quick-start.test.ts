import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listeningUrl } from '../helpers/listening-url.js';
import { removeDir, tempDir } from './harness.js';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The README's quick-start CLI block: the first fenced block running `npx modelgate` after the one holding
 * `npm ci && npm start`, one command a line (blank lines dropped; `#` comments are left to bash).
 */
function quickStartBlock(readme: string): string[] {
  const start = readme.indexOf('npm ci && npm start');
  if (start < 0) throw new Error('README: no `npm ci && npm start` line');
  // fenced blocks after the set-up block: [open, close) pairs; the first that runs `npx modelgate`
  const fences = [...readme.slice(start).matchAll(/^```[^\n]*$/gm)].map((m) => start + m.index);
  for (let i = 1; i + 1 < fences.length; i += 2) {
    const body = readme.slice(readme.indexOf('\n', fences[i]!) + 1, fences[i + 1]);
    if (/^npx modelgate /m.test(body)) return body.split('\n').filter((l) => l.trim() !== '');
  }
  throw new Error('README: no CLI block after the set-up block');
}

/**
 * A newcomer's first run, kept honest: a fresh `git clone` of this repository (its committed HEAD), the
 * shared node_modules linked in instead of `npm ci`, `npm run build`, the clone's own `modelgate serve`,
 * then every line of the README's quick-start block through bash in the clone, each exiting 0. The only
 * rewrite is the block's `/tmp/app` destination, moved under this test's temporary folder so parallel
 * runs do not share it.
 */
describe('README quick start on a fresh clone', () => {
  const work = tempDir('modelgate-quickstart-');
  const clone = join(work, 'clone');
  let server: ChildProcess | undefined;
  let url = '';

  beforeAll(async () => {
    execFileSync('git', ['clone', '--quiet', ROOT, clone]);
    symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(clone, 'node_modules'));
    await exec('npm', ['run', 'build'], { cwd: clone, timeout: 180_000 });
    server = spawn(
      process.execPath,
      [join(clone, 'dist', 'cli', 'main.js'), 'serve', '--port', '0', '--data-dir', join(work, 'data')],
      { cwd: clone, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    url = await listeningUrl(server);
  }, 240_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    removeDir(work);
  });

  it('runs every line of the README block in order, each exiting 0, with no npm warning', async () => {
    const lines = quickStartBlock(readFileSync(join(clone, 'README.md'), 'utf8'));
    expect(lines[0]).toMatch(/^npm run example\b/);
    expect(lines.filter((l) => l.startsWith('npx modelgate ')).length).toBeGreaterThanOrEqual(6);
    const env = {
      ...process.env,
      MODELGATE_REGISTRY: url,
      npm_config_cache: join(work, 'npm-cache'),
      npm_config_update_notifier: 'false',
    };
    const outputs: string[] = [];
    for (const line of lines) {
      const command = line.replaceAll('/tmp/app', join(work, 'app'));
      const r = await exec('bash', ['-c', command], { cwd: clone, env, timeout: 120_000 }).catch(
        (e: { code?: number; stdout?: string; stderr?: string }) => {
          throw new Error(`README line failed (exit ${e.code}): ${line}\n${e.stdout}\n${e.stderr}`);
        },
      );
      expect(r.stderr, line).not.toMatch(/npm warn|Warning:/i);
      outputs.push(r.stdout);
    }
    expect(existsSync(join(clone, 'models', 'det.onnx'))).toBe(true);
    const status = JSON.parse(outputs[lines.findIndex((l) => l.includes('status ocr-det@1.0.0'))]!);
    expect(status.status).toBe('VERIFIED');
    expect(status.provider).toBe('paddle');
    expect(existsSync(join(work, 'app', 'models', 'paddle', 'det.onnx'))).toBe(true);
    // the generated models stay out of git (the linked node_modules is this test's own doing)
    const untracked = execFileSync('git', ['status', '--porcelain'], { cwd: clone, encoding: 'utf8' });
    expect(untracked.split('\n').filter((l) => l && l !== '?? node_modules')).toEqual([]);
  }, 300_000);
});
