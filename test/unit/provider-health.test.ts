import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setAlias } from '../../core/aliases.js';
import { getProviderSummary, registryHealth } from '../../core/health.js';
import { recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { disableProvider } from '../../core/providers.js';
import { claimValidation, completeValidation, requestRevalidation } from '../../core/validation-jobs.js';
import { deprecateVersion } from '../../core/versions.js';
import type { ProviderHealth } from '../../schemas/health.schema.js';
import { aReport } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

const pick = (h: ProviderHealth) => ({ status: h.status, reasons: h.reasons, notes: h.notes });

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

  it('stays healthy when its newest candidate was refused, with the refusal as a note', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await ok('det@1', 'n1');
    await validated(deps, 'det@2', { provider: 'paddle', fails: 'MODEL_CORRUPTED' });
    const p = await getProviderSummary(deps, 'paddle');
    expect(p).toMatchObject({
      status: 'healthy',
      healthScore: 1, // validations do not count: one field load, ok
      currentVersion: 'det@1',
      modelLoaded: true,
      lastError: null,
      reasons: [],
    });
    expect(p.notes).toEqual([
      {
        kind: 'candidate-refused',
        model: 'det',
        version: '2',
        code: 'MODEL_CORRUPTED',
        message: 'synthetic MODEL_CORRUPTED',
        at: expect.any(String),
        served: 'det@1',
        text: 'det@2 was refused by validation (MODEL_CORRUPTED); det@1 is still served',
      },
    ]);
    // a newer VERIFIED version supersedes the refused one: the note goes
    await validated(deps, 'det@3', { provider: 'paddle' });
    expect((await getProviderSummary(deps, 'paddle')).notes).toEqual([]);
  });

  it('takes its status from the alias target it serves, not from newer versions', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await validated(deps, 'det@2', { provider: 'paddle' });
    await setAlias(deps, 'det', 'production', '1');
    await validated(deps, 'det@3', { provider: 'paddle', fails: 'INFERENCE_FAILED' });
    const p = await getProviderSummary(deps, 'paddle');
    expect(p.status).toBe('healthy');
    expect(p.currentVersion).toBe('det@1');
    expect(p.notes.map((n) => n.text)).toEqual([
      'det@3 was refused by validation (INFERENCE_FAILED); det@1 is still served',
    ]);
  });

  it('is unhealthy when nodes fail to load what it serves, whatever validation said', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await fail('det@1', 'n1');
    const p = await getProviderSummary(deps, 'paddle');
    expect(p.status).toBe('unhealthy');
    expect(p.healthScore).toBe(0);
    expect(p.lastError).toMatchObject({ code: 'INSUFFICIENT_MEMORY', version: '1', source: 'field' });
    expect(p.notes).toEqual([]);
  });

  it('is unhealthy with score 0 when nothing is VERIFIED', async () => {
    await validated(deps, 'det@1', { provider: 'paddle', fails: 'UNSUPPORTED_MODEL' });
    const p = await getProviderSummary(deps, 'paddle');
    expect(p).toMatchObject({
      status: 'unhealthy',
      healthScore: 0,
      currentVersion: null,
      modelLoaded: false,
      lastError: null, // no node loaded anything
    });
    expect(p.reasons).toContain('det has no VERIFIED version to serve');
    expect(p.notes.map((n) => n.text)).toEqual([
      'det@1 was refused by validation (UNSUPPORTED_MODEL); det has no VERIFIED version yet',
    ]);
  });

  it("stays healthy when a new model's first candidate is refused beside a served model", async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await validated(deps, 'rec@1', { provider: 'paddle', fails: 'MODEL_CORRUPTED' });
    const p = await getProviderSummary(deps, 'paddle');
    // rec was never served: its refusal is a prevented incident, not a serving failure of paddle
    expect(p).toMatchObject({ status: 'healthy', healthScore: 1, modelLoaded: true, reasons: [] });
    expect(p.notes.map((n) => n.text)).toEqual([
      'rec@1 was refused by validation (MODEL_CORRUPTED); rec has no VERIFIED version yet',
    ]);
  });

  it('is unhealthy when a model that was served has nothing left to serve', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await validated(deps, 'rec@1', { provider: 'paddle' });
    await deprecateVersion(deps, { model: 'rec', version: '1' }, 'retired too early');
    const p = await getProviderSummary(deps, 'paddle');
    expect(p.status).toBe('unhealthy');
    expect(p.healthScore).toBe(0);
    expect(p.reasons).toContain('rec has no VERIFIED version to serve');
    // a refused candidate deprecated afterwards was never served: it is not judged
    await validated(deps, 'ocr@1', { provider: 'tesseract' });
    await validated(deps, 'cls@1', { provider: 'tesseract', fails: 'UNSUPPORTED_MODEL' });
    await deprecateVersion(deps, { model: 'cls', version: '1' }, undefined);
    expect((await getProviderSummary(deps, 'tesseract')).status).toBe('healthy');
  });

  it('is unhealthy when the only version of a served model fails its re-validation', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await validated(deps, 'rec@1', { provider: 'paddle' });
    const ref = { model: 'rec', version: '1' };
    const queued = await requestRevalidation(deps, ref);
    // While it is validated again it is judged: it was served until a moment ago.
    expect((await getProviderSummary(deps, 'paddle')).status).toBe('unhealthy');
    const claimed = await claimValidation(deps, queued, 'validator-1');
    await completeValidation(
      deps,
      claimed!,
      'validator-1',
      aReport({
        outcome: 'failed',
        error: { code: 'UNSUPPORTED_MODEL', message: 'opset 99' },
        worker: 'validator-1',
      }),
    );
    const p = await getProviderSummary(deps, 'paddle');
    expect(p).toMatchObject({ status: 'unhealthy', healthScore: 0, modelLoaded: false });
    expect(p.reasons).toContain('rec has no VERIFIED version to serve');
    expect(p.notes.map((n) => n.text)).toEqual([
      'rec@1 was refused by validation (UNSUPPORTED_MODEL); rec has no VERIFIED version left to serve',
    ]);
  });

  it('is degraded when some recent loads failed, unhealthy below the threshold', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await ok('det@1', 'n1');
    await fail('det@1', 'n2');
    let p = await getProviderSummary(deps, 'paddle');
    expect(p.status).toBe('degraded');
    expect(p.healthScore).toBeCloseTo(1 / 2, 3); // field loads only: one ok, one failed
    expect(p.modelLoaded).toBe(false); // the latest load of the served version failed
    await ok('det@1', 'n3');
    await fail('det@1', 'n2');
    await fail('det@1', 'n2');
    p = await getProviderSummary(deps, 'paddle');
    expect(p.healthScore).toBeCloseTo(2 / 5, 3);
    expect(p.status).toBe('unhealthy');
  });

  it('forgets failures older than the health window', async () => {
    await validated(deps, 'det@1', { provider: 'paddle' });
    await ok('det@1', 'n2');
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
    await validated(deps, 'good@2', { provider: 'tesseract', fails: 'MODEL_INVALID' });
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
    expect(h.providers.tesseract?.notes.map((n) => n.version)).toEqual(['2']);
    expect(h.providers.paddle?.status).toBe('unhealthy');
    // the dashboard reads /api/v1/providers: the same function gives the same status, reasons and notes
    const summary = await getProviderSummary(deps, 'tesseract');
    expect(pick(summary)).toEqual(pick(h.providers.tesseract!));
  });
});
