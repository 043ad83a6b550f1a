import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { promtool } from '../helpers/promtool.js';
import { needs } from '../helpers/system-programs.js';

const need = needs(['promtool']);

const DIR = join(import.meta.dirname, '..', '..', 'deploy', 'prometheus');

/** The shipped alerting and recording rules, checked and unit-tested by promtool on synthetic series. */
describe('deploy/prometheus rules', () => {
  it.skipIf(need.skip)(need.title('pass promtool check rules'), () => {
    const r = promtool(['check', 'rules', join(DIR, 'modelgate-rules.yml')]);
    expect(r.stdout + r.stderr).toContain('SUCCESS: 6 rules found');
    expect(r.code).toBe(0);
  });

  it.skipIf(need.skip)(
    need.title(
      'pass promtool test rules: serving rules fire for the failing provider only, the refusal rule for the gated one only',
    ),
    () => {
      const r = promtool(['test', 'rules', join(DIR, 'tests', 'modelgate-rules.test.yml')]);
      expect(r.stdout + r.stderr).toContain('SUCCESS');
      expect(r.code).toBe(0);
    },
  );

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

  it('page only on serving signals: a refused candidate is severity info, and no paging rule reads it', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(join(DIR, 'modelgate-rules.yml'), 'utf8');
    // Each rule from its `- alert:`/`- record:` line to the next one.
    const rules = text
      .split(/^\s*- (?=alert:|record:)/m)
      .slice(1)
      .map((block) => ({
        name: /^(?:alert|record): (\S+)/.exec(block)?.[1],
        severity: /severity: (\S+)/.exec(block)?.[1],
        readsRefusals: /_validation_failures_total/.test(block.replace(/^\s*#.*$/gm, '')),
      }));
    expect(rules.map((r) => r.name)).toEqual([
      'model_load_failure_rate',
      'ModelLoadError',
      'ProviderInitializationFailed',
      'ModelMemoryPressure',
      'ModelFilesMissing',
      'ModelValidationFailed',
    ]);
    expect(rules.filter((r) => r.readsRefusals)).toEqual([
      { name: 'ModelValidationFailed', severity: 'info', readsRefusals: true },
    ]);
    expect(rules.filter((r) => r.severity === 'critical').map((r) => r.name)).toEqual([
      'ModelLoadError',
      'ProviderInitializationFailed',
      'ModelFilesMissing',
    ]);
  });
});
