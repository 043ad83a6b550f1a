import { setTimeout as sleep } from 'node:timers/promises';
import { FAILURE_EXPLANATIONS } from '../../core/failure-explanations.js';
import { getProviderSummary, listProviderSummaries, registryHealth } from '../../core/health.js';
import { listLoadReports, recordFieldReport, releaseVersion } from '../../core/load-reports.js';
import { operationsSettings } from '../../core/ports.js';
import { testProvider } from '../../core/provider-test.js';
import { disableProvider, enableProvider } from '../../core/providers.js';
import {
  FailureExplanations,
  FieldReportResponse,
  LoadReportList,
  ProviderSummaryList,
} from '../../schemas/api.schema.js';
import {
  HealthResponse,
  ProviderSummary,
  ProviderTestRequest,
  ProviderTestResult,
} from '../../schemas/health.schema.js';
import { FieldReportRequest, LoadReportsQuery } from '../../schemas/load-report.schema.js';
import { ModelName, ProviderName, VersionString } from '../../schemas/names.schema.js';
import {
  DisableProviderRequest,
  EnableProviderRequest,
  ProviderRecord,
} from '../../schemas/provider.schema.js';
import { Version } from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';
import { reportSenderOf } from '../http/principal.js';

const versionParams = { name: ModelName, version: VersionString };
const providerParams = { provider: ProviderName };
/** The `{name}` and `{version}` path parameters as the version key core takes. */
const keyOf = (p: { name: string; version: string }) => ({ model: p.name, version: p.version });
const providersRoute = (path: '/api/v1/providers' | '/api/v1/ocr/providers', summary: string) =>
  defineRoute({
    method: 'GET',
    path,
    group: 'operations',
    role: 'reader',
    summary,
    params: {},
    response: ProviderSummaryList,
    run: ({ deps }) => listProviderSummaries(deps),
  });

export const operationsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/health',
    group: 'operations',
    role: 'reader',
    summary: 'Registry and provider health (the local server also serves it at /health)',
    params: {},
    response: HealthResponse,
    run: ({ deps }) => registryHealth(deps),
  }),
  providersRoute(
    '/api/v1/providers',
    'Providers with status, health score, current version and model_loaded',
  ),
  providersRoute('/api/v1/ocr/providers', "The runbook's path for GET /api/v1/providers"),
  defineRoute({
    method: 'GET',
    path: '/api/v1/providers/{provider}',
    group: 'operations',
    role: 'reader',
    summary: 'One provider',
    params: providerParams,
    response: ProviderSummary,
    run: ({ deps, params }) => getProviderSummary(deps, params.provider),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/providers/{provider}/disable',
    group: 'operations',
    role: 'admin',
    summary:
      "Disable a provider: its versions are refused to fetch (the runbook's 'Prevent cascade failures')",
    params: providerParams,
    body: DisableProviderRequest,
    response: ProviderRecord,
    run: ({ deps, params, body }) => disableProvider(deps, params.provider, body.reason),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/providers/{provider}/enable',
    group: 'operations',
    role: 'admin',
    summary: 'Enable a provider, at once or by a ramp of node percentages (rolled back on a failure report)',
    params: providerParams,
    body: EnableProviderRequest,
    response: ProviderRecord,
    run: ({ deps, params, body }) =>
      enableProvider(
        deps,
        params.provider,
        body.ramp ? { steps: body.ramp, stepMs: body.stepSeconds * 1000 } : undefined,
      ),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/ocr/test',
    group: 'operations',
    role: 'admin',
    summary:
      "Re-validate the provider's current version(s) and return the verdicts (the runbook's provider test)",
    params: {},
    body: ProviderTestRequest,
    response: ProviderTestResult,
    run: ({ deps, body }) =>
      testProvider(deps, body.provider, {
        timeoutMs: operationsSettings(deps).providerTestWaitMs,
        pollMs: 250,
        sleep: (ms) => sleep(ms),
      }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/field-reports',
    group: 'operations',
    role: 'reader',
    summary:
      'A node reports the outcome of loading a version (feeds health, metrics, quarantine, ramp rollback)',
    params: versionParams,
    body: FieldReportRequest,
    response: FieldReportResponse,
    status: 201,
    run: ({ deps, params, body, event }) =>
      recordFieldReport(deps, keyOf(params), body, reportSenderOf(event)),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/release',
    group: 'operations',
    role: 'admin',
    summary: 'Release a QUARANTINED version back to VERIFIED (an operator decided it is safe)',
    params: versionParams,
    response: Version,
    run: ({ deps, params }) => releaseVersion(deps, keyOf(params)),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/load-reports',
    group: 'operations',
    role: 'reader',
    summary: 'Recent loads (field reports and validations), newest first, optionally of one provider',
    params: {},
    query: LoadReportsQuery,
    response: LoadReportList,
    run: async ({ deps, query }) => ({ items: await listLoadReports(deps, query) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/failure-explanations',
    group: 'operations',
    role: 'reader',
    summary: 'Each load error code in plain words, with the runbook step that fixes it',
    params: {},
    response: FailureExplanations,
    run: async () => FAILURE_EXPLANATIONS,
  }),
];
