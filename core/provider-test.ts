import type { ProviderTestResult } from '../schemas/health.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { notFound } from './errors.js';
import { modelsOfProvider } from './pages.js';
import type { RegistryDeps } from './ports.js';
import { servedVersion } from './resolve.js';
import { requestRevalidation } from './validation-jobs.js';
import { isValidationPending } from './validation-rules.js';

/** How `testProvider` waits for the verdicts of the versions it re-validates; times in ms. */
export interface WaitOptions {
  /** How long to wait for the verdicts; versions still validating then are `pending`. */
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * The runbook's "Test provider initialization" (POST /api/v1/ocr/test): re-validates the version each
 * model of the provider serves (or, with none to serve, its newest version, so a failed provider can be
 * re-tested after a fix) and waits for the verdicts. While a served version is re-validated, its
 * aliases resolve to the VERIFIED version before it (resolve.ts).
 */
export async function testProvider(
  deps: RegistryDeps,
  provider: string,
  wait: WaitOptions,
): Promise<ProviderTestResult> {
  if (!(await deps.metadata.getProvider(provider))) throw notFound(`provider ${provider}`, { provider });
  const targets: Version[] = [];
  for await (const m of modelsOfProvider(deps, provider)) {
    const v =
      (await servedVersion(deps, m.name)) ??
      (await deps.metadata.listVersions(m.name, { limit: 1 })).items[0];
    if (v) targets.push(v);
  }

  for (const v of targets)
    if (v.status === 'VERIFIED' || v.status === 'FAILED') await requestRevalidation(deps, v);

  const deadline = Date.now() + wait.timeoutMs;
  let current = targets;
  for (;;) {
    current = await Promise.all(current.map(async (v) => (await deps.metadata.getVersion(v)) ?? v));
    const settled = current.every((v) => !isValidationPending(v.status));
    if (settled || Date.now() >= deadline) break;
    await wait.sleep(wait.pollMs);
  }
  const results = current.map((v) => {
    const outcome: 'passed' | 'failed' | 'pending' =
      v.status === 'VERIFIED'
        ? 'passed'
        : v.status === 'UPLOADED' || v.status === 'VALIDATING'
          ? 'pending'
          : 'failed';
    const error = v.statusReason ?? v.report?.error;
    return {
      model: v.model,
      version: v.version,
      status: v.status,
      outcome,
      ...(outcome === 'failed' && error ? { error: { code: error.code, message: error.message } } : {}),
      ...(v.report ? { loadMs: v.report.totals.loadMs, peakRssBytes: v.report.totals.peakRssBytes } : {}),
    };
  });
  return { provider, ok: results.length > 0 && results.every((r) => r.outcome === 'passed'), results };
}
