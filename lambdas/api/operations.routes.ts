import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FAILURE_EXPLANATIONS } from '../../core/failure-explanations.js';
import { getProviderSummary, listProviderSummaries, registryHealth } from '../../core/health.js';
import { listLoadReports, recordFieldReport, releaseVersion } from '../../core/load-reports.js';
import { operationsSettings } from '../../core/ports.js';
import { testProvider } from '../../core/provider-test.js';
import { disableProvider, enableProvider } from '../../core/providers.js';
import {
  HealthResponse,
  ProviderSummary,
  ProviderTestRequest,
  ProviderTestResult,
} from '../../schemas/health.schema.js';
import { FieldReportRequest, LoadReport, LoadReportsQuery } from '../../schemas/load-report.schema.js';
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
const providersRoute = (path: string, summary: string) =>
  defineRoute({
    method: 'GET',
    path,
    summary,
    response: z.array(ProviderSummary),
    run: ({ deps }) => listProviderSummaries(deps),
  });

export const operationsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/health',
    summary: 'Registry and provider health (the local server also serves it at /health)',
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
    summary: 'One provider',
    params: providerParams,
    response: ProviderSummary,
    run: ({ deps, param }) => getProviderSummary(deps, param('provider', ProviderName)),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/providers/{provider}/disable',
    summary:
      "Disable a provider: its versions are refused to fetch (the runbook's 'Prevent cascade failures')",
    params: providerParams,
    body: DisableProviderRequest,
    response: ProviderRecord,
    run: ({ deps, param, body }) => disableProvider(deps, param('provider', ProviderName), body.reason),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/providers/{provider}/enable',
    summary: 'Enable a provider, at once or by a ramp of node percentages (rolled back on a failure report)',
    params: providerParams,
    body: EnableProviderRequest,
    response: ProviderRecord,
    run: ({ deps, param, body }) =>
      enableProvider(
        deps,
        param('provider', ProviderName),
        body.ramp ? { steps: body.ramp, stepMs: body.stepSeconds * 1000 } : undefined,
      ),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/ocr/test',
    summary:
      "Re-validate the provider's current version(s) and return the verdicts (the runbook's provider test)",
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
    summary:
      'A node reports the outcome of loading a version (feeds health, metrics, quarantine, ramp rollback)',
    params: versionParams,
    body: FieldReportRequest,
    response: z.object({
      report: LoadReport,
      version: Version,
      quarantined: z.boolean(),
      rampRolledBack: z.boolean(),
    }),
    status: 201,
    run: ({ deps, param, body, event }) =>
      recordFieldReport(
        deps,
        { model: param('name', ModelName), version: param('version', VersionString) },
        body,
        reportSenderOf(event),
      ),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models/{name}/versions/{version}/release',
    summary: 'Release a QUARANTINED version back to VERIFIED (an operator decided it is safe)',
    params: versionParams,
    response: Version,
    run: ({ deps, param }) =>
      releaseVersion(deps, { model: param('name', ModelName), version: param('version', VersionString) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/load-reports',
    summary: 'Recent loads (field reports and validations), newest first, optionally of one provider',
    query: LoadReportsQuery,
    response: z.object({ items: z.array(LoadReport) }),
    run: async ({ deps, query }) => ({ items: await listLoadReports(deps, query) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/failure-explanations',
    summary: 'Each load error code in plain words, with the runbook step that fixes it',
    response: z.record(z.string(), z.object({ cause: z.string(), runbookStep: z.string(), fix: z.string() })),
    run: async () => FAILURE_EXPLANATIONS,
  }),
];
