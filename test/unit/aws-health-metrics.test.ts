import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createModel } from '../../core/models.js';
import { publishHealthScores } from '../../lambdas/aws/health-metrics.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

describe('provider health scores as CloudWatch EMF', () => {
  let deps: TestDeps;
  afterEach(() => {
    deps.cleanup();
    vi.restoreAllMocks();
  });

  it('writes one EMF document per provider with its score in percent', async () => {
    deps = await localTestDeps();
    for (const [name, provider] of [
      ['det', 'paddle'],
      ['rec', 'tesseract'],
    ] as const)
      await createModel(deps, { name, provider, description: '', tags: [] });
    const lines: string[] = [];
    // Powertools writes EMF to stdout: read what it wrote.
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = new Metrics({ namespace: 'ocr', serviceName: 'test' });
    const published = await publishHealthScores(deps, metrics);
    vi.restoreAllMocks();

    expect(published).toBe(2);
    const docs = lines
      .flatMap((l) => l.split('\n'))
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const scores = Object.fromEntries(docs.map((d) => [d.provider, d.provider_health_score]));
    expect(Object.keys(scores).sort()).toEqual(['paddle', 'tesseract']);
    for (const d of docs) {
      const def = d._aws.CloudWatchMetrics[0];
      expect(def.Namespace).toBe('ocr');
      expect(def.Dimensions[0]).toContain('provider');
      expect(def.Metrics[0]).toMatchObject({ Name: 'provider_health_score', Unit: 'Percent' });
      expect(d.provider_health_score).toBeGreaterThanOrEqual(0);
      expect(d.provider_health_score).toBeLessThanOrEqual(100);
    }
  });
});
