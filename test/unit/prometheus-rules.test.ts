import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { promtool } from '../helpers/promtool.js';

const DIR = join(import.meta.dirname, '..', '..', 'deploy', 'prometheus');

/** The shipped alerting and recording rules, checked and unit-tested by promtool on synthetic series. */
describe('deploy/prometheus rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', join(DIR, 'modelgate-rules.yml')]);
    expect(r.stdout + r.stderr).toContain('SUCCESS: 5 rules found');
    expect(r.code).toBe(0);
  });

  it('pass promtool test rules: each rule fires for the failing provider and not for the healthy one', () => {
    const r = promtool(['test', 'rules', join(DIR, 'tests', 'modelgate-rules.test.yml')]);
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('hold the runbook names: the recording rule and the four alerts', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(join(DIR, 'modelgate-rules.yml'), 'utf8');
    for (const name of [
      'record: model_load_failure_rate',
      'alert: ModelLoadError',
      'alert: ProviderInitializationFailed',
      'alert: ModelMemoryPressure',
      'alert: ModelFilesMissing',
    ])
      expect(text).toContain(name);
  });
});
