import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APT_INSTALL_LINE, findProgram, needs, SYSTEM_PROGRAMS } from '../helpers/system-programs.js';

/** The one place tests decide to skip for a missing program: on PATH, named with its install line, never in CI. */
describe('system programs the suite needs', () => {
  const bin = mkdtempSync(join(tmpdir(), 'modelgate-bin-'));
  afterAll(() => rmSync(bin, { recursive: true, force: true }));
  const fake = join(bin, 'promtool');
  writeFileSync(fake, '#!/bin/sh\nexit 0\n');
  chmodSync(fake, 0o755);
  writeFileSync(join(bin, 'java'), 'not executable');

  it('finds an executable on PATH, not a file that cannot run', () => {
    expect(findProgram('promtool', bin)).toBe(fake);
    expect(findProgram('java', bin)).toBeUndefined();
    expect(findProgram('chromium', '')).toBeUndefined();
  });

  it('skips outside CI, naming the program and the apt-get line in the title', () => {
    const need = needs(['promtool', 'chromium'], { env: { PATH: bin } });
    expect(need.skip).toBe(true);
    expect(need.reason).toBe(
      'chromium is not installed (needed for the dashboard in a browser): apt-get install -y chromium (.ci/run installs it)',
    );
    expect(need.title('the dashboard')).toBe(`the dashboard (skipped: ${need.reason})`);
    expect(need.path('promtool')).toBe(fake);
    expect(() => need.path('chromium')).toThrow(/apt-get install -y chromium/);
  });

  it('fails under CI=true instead of skipping', () => {
    expect(() => needs(['java'], { env: { PATH: bin, CI: 'true' } })).toThrow(
      'CI=true and a program the suite needs is missing: java is not installed (needed for DynamoDB Local (the aws backend)): apt-get install -y openjdk-17-jre-headless',
    );
  });

  it('runs, titled as given, when everything is there', () => {
    const need = needs(['promtool'], { env: { PATH: bin, CI: 'true' } });
    expect(need.skip).toBe(false);
    expect(need.title('t')).toBe('t');
  });

  it('has one install line for all of them, which .ci/run and the README both carry', async () => {
    const { readFileSync } = await import('node:fs');
    const root = join(import.meta.dirname, '..', '..');
    const packages = [...new Set(Object.values(SYSTEM_PROGRAMS).map((p) => p.apt))];
    expect(APT_INSTALL_LINE).toBe(`apt-get install -y ${packages.join(' ')}`);
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(APT_INSTALL_LINE);
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    for (const p of packages) expect(ci, p).toContain(`need_apt+=(${p})`);
  });
});
