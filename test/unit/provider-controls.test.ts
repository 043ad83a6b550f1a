import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planDownload } from '../../core/download.js';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { admitsNode, nodeHash, rampPosition } from '../../core/provider-ramp.js';
import { applyDisabledProvidersList, disableProvider, enableProvider } from '../../core/providers.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

const nodes = Array.from({ length: 2000 }, (_, i) => `node-${i}.cluster.local`);
const MIN = 60_000;

describe('provider controls: disable, enable, ramp, DISABLED_PROVIDERS', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
    await validated(deps, 'det@1', { provider: 'paddle' });
  });
  afterEach(() => deps.cleanup());

  const admitted = async () => {
    let n = 0;
    for (const node of nodes) {
      try {
        await planDownload(deps, 'det', '1', { node });
        n++;
      } catch (e) {
        expect(e).toMatchObject({ code: 'PROVIDER_DISABLED' });
      }
    }
    return n;
  };

  it('refuses every fetch of a disabled provider with PROVIDER_DISABLED and the reason', async () => {
    await disableProvider(deps, 'paddle', 'OOM on gpu nodes');
    await expect(planDownload(deps, 'det', '1', { node: 'n1' })).rejects.toMatchObject({
      code: 'PROVIDER_DISABLED',
      message: expect.stringContaining('OOM on gpu nodes'),
    });
    await enableProvider(deps, 'paddle');
    expect((await planDownload(deps, 'det', '1', { node: 'n1' })).version.version).toBe('1');
  });

  it('refuses to disable a provider no model uses (a typo must not look like success)', async () => {
    await expect(disableProvider(deps, 'padle', 'typo')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('admits the ramp share of nodes per step, the same nodes every time, growing monotonically', async () => {
    await disableProvider(deps, 'paddle', 'incident');
    await enableProvider(deps, 'paddle', { steps: [1, 10, 100], stepMs: 5 * MIN });
    const at1 = await admitted();
    expect(at1).toBeGreaterThan(0);
    expect(at1).toBeLessThan(nodes.length * 0.03);
    expect(await admitted()).toBe(at1); // deterministic
    const firstWave = nodes.filter((n) => admitsNode(1, n));
    deps.clock.advance(5 * MIN);
    const at10 = await admitted();
    expect(at10).toBeGreaterThan(nodes.length * 0.07);
    expect(at10).toBeLessThan(nodes.length * 0.13);
    expect(firstWave.every((n) => admitsNode(10, n))).toBe(true);
    await expect(planDownload(deps, 'det', '1')).rejects.toMatchObject({ code: 'PROVIDER_DISABLED' }); // no node id
    deps.clock.advance(5 * MIN);
    expect(await admitted()).toBe(nodes.length);
  });

  it('rolls a ramp back to disabled when two reporters fail during it, not after it ended', async () => {
    await disableProvider(deps, 'paddle', 'incident');
    await enableProvider(deps, 'paddle', { steps: [10, 100], stepMs: 5 * MIN });
    deps.clock.advance(MIN);
    const first = await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'GPU_UNAVAILABLE', node: 'n0' },
      TRUSTED_MACHINE,
    );
    expect(first.rampRolledBack).toBe(false);
    const r = await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'GPU_UNAVAILABLE', node: 'n1' },
      TRUSTED_MACHINE,
    );
    expect(r.rampRolledBack).toBe(true);
    const p = await deps.metadata.getProvider('paddle');
    expect(p).toMatchObject({ state: 'disabled', disabledBy: 'ramp-rollback' });
    expect(p?.reason).toContain('GPU_UNAVAILABLE');

    await enableProvider(deps, 'paddle', { steps: [10, 100], stepMs: 5 * MIN });
    deps.clock.advance(6 * MIN);
    const after = await recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'GPU_UNAVAILABLE', node: 'n2' },
      TRUSTED_MACHINE,
    );
    expect(after.rampRolledBack).toBe(false);
    expect((await deps.metadata.getProvider('paddle'))?.state).toBe('ramping'); // finished: effectively enabled
    expect(rampPosition((await deps.metadata.getProvider('paddle'))!, deps.clock.now()).percent).toBe(100);
  });

  it('applies DISABLED_PROVIDERS at start, and undoes only its own disabling when unset', async () => {
    await validated(deps, 'rec@1', { provider: 'tesseract' });
    await disableProvider(deps, 'tesseract', 'operator says no');
    await applyDisabledProvidersList(deps, ['paddle', 'future']);
    expect(await deps.metadata.getProvider('paddle')).toMatchObject({ state: 'disabled', disabledBy: 'env' });
    expect(await deps.metadata.getProvider('future')).toMatchObject({ state: 'disabled', disabledBy: 'env' });
    await applyDisabledProvidersList(deps, []);
    expect((await deps.metadata.getProvider('paddle'))?.state).toBe('enabled');
    expect((await deps.metadata.getProvider('tesseract'))?.state).toBe('disabled');
  });

  it('hashes node ids with a fixed function (stable across processes)', () => {
    expect(nodeHash('')).toBe(0x811c9dc5);
    expect(nodeHash('a')).toBe(0xe40c292c);
  });
});
