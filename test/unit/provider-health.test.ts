import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getProviderSummary, registryHealth } from '../../core/health.js';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { disableProvider } from '../../core/providers.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

/** core/health.ts's documented status rule, case by case, over real SQLite. */
describe('provider health: score and status rule', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
  });
  afterEach(() => deps.cleanup());

  const fail = (ref: string, node: string) => {
    const [model, version] = ref.split('@') as [string, string];
    return recordFieldReport(
      deps,
      { model, version },
      { outcome: 'failed', code: 'INSUFFICIENT_MEMORY', node },
      TRUSTED_MACHINE,
    );
  };
  const ok = (ref: string, node: string) => {
    const [model, version] = ref.split('@') as [string, string];
    return recordFieldReport(deps, { model, version }, { outcome: 'ok', node }, TRUSTED_MACHINE);
  };

  it('is healthy with a validated version and no failed load', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    const p = await getProviderSummary(deps, 'paddle');
    expect(p).toMatchObject({
      status: 'healthy',
      healthScore: 1,
      currentVersion: 'det@1',
      modelLoaded: true,
      model_loaded: true,
      lastError: null,
    });
  });

  it('is unhealthy when the newest version failed validation, even with an older VERIFIED one', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await validated(deps, 'det@2', { provider: 'paddle', fails: 'MODEL_CORRUPTED' });
    const p = await getProviderSummary(deps, 'paddle');
    expect(p.status).toBe('unhealthy');
    expect(p.currentVersion).toBe('det@1');
    expect(p.healthScore).toBe(0.5);
    expect(p.lastError).toMatchObject({ code: 'MODEL_CORRUPTED', version: '2', source: 'validation' });
    expect(p.reasons.join()).toContain('failed validation');
  });

  it('is unhealthy with score 0 when nothing is VERIFIED', async () => {
    await validated(deps, 'det@1', { provider: 'paddle', fails: 'UNSUPPORTED_MODEL' });
    const p = await getProviderSummary(deps, 'paddle');
    expect(p).toMatchObject({
      status: 'unhealthy',
      healthScore: 0,
      currentVersion: null,
      modelLoaded: false,
    });
  });

  it('is degraded when some recent loads failed, unhealthy below the threshold', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await ok('det@1', 'n1');
    await fail('det@1', 'n2');
    let p = await getProviderSummary(deps, 'paddle');
    expect(p.status).toBe('degraded');
    expect(p.healthScore).toBeCloseTo(2 / 3, 3);
    expect(p.modelLoaded).toBe(false); // the latest load of the served version failed
    await fail('det@1', 'n2');
    await fail('det@1', 'n2');
    p = await getProviderSummary(deps, 'paddle');
    expect(p.healthScore).toBeCloseTo(2 / 5, 3);
    expect(p.status).toBe('unhealthy');
  });

  it('forgets failures older than the health window', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await fail('det@1', 'n1');
    expect((await getProviderSummary(deps, 'paddle')).status).toBe('degraded');
    deps.clock.advance(61 * 60_000);
    expect((await getProviderSummary(deps, 'paddle')).status).toBe('healthy');
  });

  it('is disabled when an operator disabled it, whatever its loads', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await disableProvider(deps, 'paddle', 'incident 42');
    const p = await getProviderSummary(deps, 'paddle');
    expect(p).toMatchObject({
      status: 'disabled',
      enabled: false,
      modelLoaded: false,
      reason: 'incident 42',
    });
  });

  it('answers /health in the shape the runbook reads, degraded overall when one provider is not healthy', async () => {
    await validated(deps, 'good@1', { provider: 'tesseract' });
    await validated(deps, 'bad@1', { provider: 'paddle', fails: 'MODEL_CORRUPTED' });
    const h = await registryHealth(deps);
    expect(h.status).toBe('degraded');
    expect(Object.keys(h.providers).sort()).toEqual(['paddle', 'tesseract']);
    expect(h.providers.tesseract).toMatchObject({
      status: 'healthy',
      healthScore: 1,
      currentVersion: 'good@1',
      modelLoaded: true,
      lastError: null,
    });
    expect(h.providers.paddle?.status).toBe('unhealthy');
  });
});
