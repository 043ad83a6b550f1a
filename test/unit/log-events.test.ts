import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import type { RegistryEvents } from '../../core/ports.js';
import { jsonLogger } from '../../local/log.js';
import { logEvents } from '../../local/log-events.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

/** The runbook's grep, as it is written in RUNBOOK-MODEL_LOAD_ERROR.md (grep -E, case-sensitive). */
const RUNBOOK_GREP = /MODEL_LOAD_ERROR|Failed to load model|Model initialization failed/;

describe('log lines of registry events', () => {
  let deps: TestDeps;
  let events: RegistryEvents;
  let lines: string[];
  beforeEach(async () => {
    lines = [];
    events = logEvents(jsonLogger((l) => lines.push(l)));
    deps = Object.assign(await localTestDeps(), { events });
  });
  afterEach(() => deps.cleanup());

  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, string>);

  it('logs a refused candidate at info with its cause, and nothing the runbook greps for', async () => {
    const version = await validated(deps, 'det@2', { provider: 'paddle' });
    lines.length = 0;
    events.validationFinished({
      version: { ...version, status: 'FAILED' },
      error: {
        code: 'MODEL_CORRUPTED',
        message: 'Failed to load model because protobuf parsing failed (MODEL_LOAD_ERROR in the runtime)',
      },
    });
    expect(parsed()).toEqual([
      expect.objectContaining({
        level: 'info',
        event: 'validation_failed',
        provider: 'paddle',
        model: 'det',
        version: '2',
        code: 'MODEL_CORRUPTED',
        message: 'Validation refused det@2 (provider paddle) with MODEL_CORRUPTED: no node received it',
        cause: 'failed to load model because protobuf parsing failed (model load error in the runtime)',
      }),
    ]);
    expect(lines.filter((l) => RUNBOOK_GREP.test(l))).toEqual([]);
  });

  it("logs a node's failed load at error, found by the runbook's grep", async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    lines.length = 0;
    await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'INSUFFICIENT_MEMORY', message: 'OOM', node: 'node-a' },
      TRUSTED_MACHINE,
    );
    const failed = parsed().filter((l) => l.event === 'model_load_failed');
    expect(failed).toEqual([
      expect.objectContaining({
        level: 'error',
        code: 'MODEL_LOAD_ERROR',
        reason: 'INSUFFICIENT_MEMORY',
        source: 'field',
        node: 'node-a',
        message: 'Failed to load model det@1 (provider paddle): INSUFFICIENT_MEMORY: OOM',
      }),
    ]);
    expect(lines.filter((l) => RUNBOOK_GREP.test(l))).toHaveLength(1);
  });

  it('logs a passed validation without any failure line', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    expect(parsed().filter((l) => l.level !== 'info')).toEqual([]);
    expect(lines.filter((l) => RUNBOOK_GREP.test(l))).toEqual([]);
  });
});
