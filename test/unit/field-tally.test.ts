import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordFieldReport, TALLY_KEEP, TRUSTED_MACHINE } from '../../core/load-reports.js';
import type { MetadataStore } from '../../core/ports.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

/** Field reports decide from a bounded tally: what one report reads does not grow with the fleet. */
describe('field reports at fleet scale', () => {
  let deps: TestDeps;
  let calls: string[];
  beforeEach(async () => {
    const base = await localTestDeps();
    calls = [];
    // The real store, with every call it receives written down.
    const store = base.metadata;
    const metadata = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(property));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as MetadataStore;
    deps = Object.assign(base, { metadata });
    await validated(deps, 'det@1', { provider: 'paddle' });
  });
  afterEach(() => deps.cleanup());

  const report = (node: string, outcome: 'ok' | 'failed') =>
    recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      outcome === 'ok' ? { outcome, node } : { outcome, node, code: 'MODEL_CORRUPTED' },
      TRUSTED_MACHINE,
    );

  /** The store calls of one report from a new node. */
  async function callsOfOne(outcome: 'ok' | 'failed', node: string): Promise<string[]> {
    calls.length = 0;
    await report(node, outcome);
    return [...calls];
  }

  it('makes the same store calls with 3 or 300 nodes reporting, and never lists reports', async () => {
    for (let i = 0; i < 3; i++) await report(`early-${i}`, 'ok');
    const few = [await callsOfOne('ok', 'probe-a'), await callsOfOne('failed', 'bad-a')];
    for (let i = 0; i < 300; i++) await report(`node-${i}`, 'ok');
    const many = [await callsOfOne('ok', 'probe-b'), await callsOfOne('failed', 'bad-a')];
    expect(many).toEqual(few);
    expect(few.flat()).not.toContain('listLoadReports');
    expect(few[0]).toEqual(['getVersion', 'appendLoadReport', 'tallyFieldLoad']);
  });

  it('still quarantines on the third distinct failing node after hundreds of ok reports', async () => {
    for (let i = 0; i < 200; i++) await report(`node-${i}`, 'ok');
    expect((await report('node-1', 'failed')).quarantined).toBe(false);
    expect((await report('node-2', 'failed')).quarantined).toBe(false);
    const third = await report('node-3', 'failed');
    expect(third.quarantined).toBe(true);
    const tally = await deps.metadata.tallyFieldLoad(
      { ref: { model: 'det', version: '1' } },
      { reporter: 'x', principal: 'x', node: 'x', outcome: 'ok', at: new Date(0).toISOString() },
      TALLY_KEEP,
    );
    expect(Object.keys(tally.okNodes).length).toBeLessThanOrEqual(TALLY_KEEP);
    expect(Object.keys(tally.failedReporters).sort()).toEqual(['node:node-1', 'node:node-2', 'node:node-3']);
  });
});
