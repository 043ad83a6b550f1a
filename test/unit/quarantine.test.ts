import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setAlias } from '../../core/aliases.js';
import { planDownload } from '../../core/download.js';
import { recordFieldReport, releaseVersion, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { resolveVersion } from '../../core/resolve.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { recordingEvents, validated } from '../helpers/operations-fixtures.js';

/** Automatic quarantine by distinct failing nodes in a window, graceful degradation, and release. */
describe('quarantine from field reports', () => {
  let deps: TestDeps;
  let events: ReturnType<typeof recordingEvents>;
  beforeEach(async () => {
    const base = await localTestDeps();
    events = recordingEvents();
    deps = Object.assign(base, { events });
    await validated(deps, 'det@1', { provider: 'paddle' });
    await validated(deps, 'det@2', { provider: 'paddle' });
    await setAlias(deps, 'det', 'production', '2');
  });
  afterEach(() => deps.cleanup());

  const fail = (node: string, version = '2') =>
    recordFieldReport(
      deps,
      { model: 'det', version },
      { outcome: 'failed', code: 'INSUFFICIENT_MEMORY', message: 'OOM', node },
      TRUSTED_MACHINE,
    );

  it('quarantines on the third distinct node, not on repeats of one node', async () => {
    await fail('n1');
    await fail('n1');
    await fail('n2');
    await fail('n2');
    expect((await deps.metadata.getVersion({ model: 'det', version: '2' }))?.status).toBe('VERIFIED');
    const third = await fail('n3');
    expect(third.quarantined).toBe(true);
    expect(third.version.status).toBe('QUARANTINED');
    expect(third.version.statusReason?.message).toContain('3 distinct nodes');
    expect(events.seen.filter((e) => e.name === 'versionQuarantined')).toHaveLength(1);
  });

  it('does not count failures older than the window', async () => {
    await fail('n1');
    await fail('n2');
    deps.clock.advance(16 * 60_000);
    expect((await fail('n3')).quarantined).toBe(false);
    expect((await fail('n4')).quarantined).toBe(false);
    expect((await fail('n5')).quarantined).toBe(true);
  });

  it('serves the last VERIFIED version before it through aliases and latest; refuses it by name', async () => {
    for (const n of ['n1', 'n2', 'n3']) await fail(n);
    expect((await resolveVersion(deps, 'det', 'production')).version).toBe('1');
    expect((await resolveVersion(deps, 'det', 'latest')).version).toBe('1');
    expect((await planDownload(deps, 'det', 'production')).version.version).toBe('1');
    await expect(planDownload(deps, 'det', '2')).rejects.toMatchObject({ code: 'NOT_VERIFIED' });
    expect(events.seen.some((e) => e.name === 'aliasFellBack')).toBe(true);
  });

  it('is released by an operator, and failures from before the release no longer count', async () => {
    for (const n of ['n1', 'n2', 'n3']) await fail(n);
    const released = await releaseVersion(deps, { model: 'det', version: '2' });
    expect(released.status).toBe('VERIFIED');
    expect(released.statusReason).toBeUndefined();
    expect((await resolveVersion(deps, 'det', 'production')).version).toBe('2');
    deps.clock.advance(1000);
    expect((await fail('n4')).quarantined).toBe(false);
    await expect(releaseVersion(deps, { model: 'det', version: '2' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('refuses a failed report without a code at the API boundary (schema)', async () => {
    const { FieldReportRequest } = await import('../../schemas/load-report.schema.js');
    expect(FieldReportRequest.safeParse({ outcome: 'failed', node: 'n1' }).success).toBe(false);
    expect(FieldReportRequest.safeParse({ outcome: 'ok', node: 'n1' }).success).toBe(true);
  });
});
