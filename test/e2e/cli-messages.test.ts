import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { cli } from './harness.js';
import { useServer } from './use-server.js';

const COMMANDS = [
  'publish',
  'status',
  'list',
  'alias',
  'fetch',
  'verify',
  'validate',
  'report',
  'provider',
  'release',
  'scrub',
  'deprecate',
  'serve',
  'doctor',
  'sync',
];

/** What a person reads: the cause, the file and the fix, help laid out the same way in every command. */
describe('CLI messages for people', () => {
  const fixture = useServer((work) => {
    writeFileSync(join(work, 'm.onnx'), buildMlpModel({ layers: 1, dim: 8 }));
    return {};
  });
  /** Without the harness's default provider, as a user's shell would be. */
  const bare = (...args: string[]) =>
    cli(args, { ...fixture.server.env, MODELGATE_PROVIDER: '' }, fixture.work);

  it('refuses a new model without --provider with a usage error that says why the provider matters', async () => {
    const r = await bare('publish', 'newcomer@1', 'm.onnx');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error USAGE: model newcomer is new: say which provider it belongs to with --provider/m,
    );
    expect(r.stderr).toContain('act per provider');
    expect((await bare('status', 'newcomer@1')).code).toBe(4);
  });

  it('records the OS user as the publisher, or --publisher', async () => {
    expect((await bare('publish', 'owned@1', 'm.onnx', '--provider', 'paddle')).code).toBe(0);
    const first = JSON.parse((await bare('status', 'owned@1', '--json')).stdout) as { publisher: string };
    expect(first.publisher).toBe(userInfo().username);
    // An existing model keeps its provider: no --provider needed.
    expect((await bare('publish', 'owned@2', 'm.onnx', '--publisher', 'alice')).code).toBe(0);
    const second = JSON.parse((await bare('status', 'owned@2', '--json')).stdout) as {
      publisher: string;
      provider: string;
    };
    expect(second).toMatchObject({ publisher: 'alice', provider: 'paddle' });
    // $MODELGATE_PROVIDER only names the provider of a new model: an existing one keeps its own.
    const other = await cli(
      ['publish', 'owned@4', 'm.onnx', '--json'],
      { ...fixture.server.env, MODELGATE_PROVIDER: 'other' },
      fixture.work,
    );
    expect(other.code).toBe(0);
    expect((JSON.parse(other.stdout) as { provider: string }).provider).toBe('paddle');
  });

  it('draws no progress into a pipe', async () => {
    const r = await bare('publish', 'owned@3', 'm.onnx');
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).not.toMatch(/hashing|uploading/);
  });

  it('says a folder given to verify is missing, and how to get it', async () => {
    const r = await bare('verify', 'no-such-folder');
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('the folder no-such-folder does not exist');
    expect(r.stderr).not.toContain('.modelgate.json');
  });

  it('filters versions by state in any case, and refuses a state filter on the model list it would not apply to', async () => {
    expect((await bare('publish', 'listed@1', 'm.onnx', '--provider', 'p', '--wait')).code).toBe(0);
    const verified = await bare('list', 'listed', '--status', 'verified', '--json');
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout).items.map((v: { version: string }) => v.version)).toEqual(['1']);
    const failed = await bare('list', 'listed', '--status', 'FAILED', '--json');
    expect(JSON.parse(failed.stdout).items).toEqual([]);
    const noName = await bare('list', '--status', 'FAILED');
    expect(noName.code).toBe(2);
    expect(noName.stderr).toMatch(/^error USAGE: --status filters a model's versions: give its NAME/);
  });

  it('names the option meant for a one-typo unknown option, and only then', async () => {
    const typo = await bare('fetch', 'm@1', '--dset', 'out');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe(
      'error USAGE: unknown option --dset (did you mean --dest?) (see `modelgate fetch --help`)\n',
    );
    const far = await bare('fetch', 'm@1', '--zzz');
    expect(far.stderr).toBe('error USAGE: unknown option --zzz (see `modelgate fetch --help`)\n');
  });

  it('says how to get a folder verify can check when it has no manifest', async () => {
    const r = await bare('verify', '.');
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('fetch into this one first (`modelgate fetch NAME@VERSION --dest .`)');
  });

  it('says a registry given without its scheme must be an http(s) URL, in one line (exit 2)', async () => {
    for (const registry of ['127.0.0.1:8080', 'localhost:8080', 'ftp://registry.example']) {
      const r = await bare('list', '--registry', registry);
      expect(r.code, registry).toBe(2);
      expect(r.stderr).toBe(
        `error USAGE: --registry must be an http:// or https:// URL, e.g. http://127.0.0.1:8080; got "${registry}" (see \`modelgate --help\`)\n`,
      );
    }
    const fromEnv = await cli(
      ['list'],
      { ...fixture.server.env, MODELGATE_REGISTRY: 'localhost:8080' },
      fixture.work,
    );
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/^error USAGE: MODELGATE_REGISTRY must be an http:\/\/ or https:\/\/ URL/);
  });

  it.each(COMMANDS)(
    'lays out `%s --help` as usage, options together, notes, then exit codes',
    async (command) => {
      const r = await bare(command, '--help');
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      const options = lines.indexOf('Options:');
      const notes = lines.indexOf('Notes:');
      const exit = lines.findIndex((l) => l.startsWith('Exit codes: '));
      expect(lines[0]).toMatch(/^Usage:/);
      expect(options).toBeGreaterThan(0);
      expect(exit).toBeGreaterThan(options);
      if (notes !== -1) expect(notes).toBeGreaterThan(options);
      // The options block is contiguous: every line up to the notes (or exit codes) is an option or its continuation.
      const block = lines.slice(options + 1, (notes === -1 ? exit : notes) - 1);
      for (const line of block) expect(line, `${command}: "${line}"`).toMatch(/^ {2}(-|\s)/);
      expect(block.some((l) => l.includes('--help'))).toBe(true);
    },
  );
});
