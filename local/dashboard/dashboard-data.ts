import { listAliases } from '../../core/aliases.js';
import { FAILURE_EXPLANATIONS } from '../../core/failure-explanations.js';
import { listProviderSummaries, registryHealth } from '../../core/health.js';
import { listLoadReports } from '../../core/load-reports.js';
import { listModels } from '../../core/models.js';
import type { RegistryDeps } from '../../core/ports.js';
import { listVersions } from '../../core/versions.js';

/** Versions per model on the page: the newest 20, as app.js asks the API for. */
const VERSIONS_PER_MODEL = 20;
/** Loads for the reports table and the chart, newest first, as app.js asks the API for. */
const REPORTS = 500;

/**
 * What the dashboard shows, read through the same core functions as the API routes app.js polls
 * (`/health`, `/api/v1/providers`, `/api/v1/models`, `…/versions`, `…/aliases`, `/api/v1/load-reports`,
 * `/api/v1/failure-explanations`), so the page the server sends and the page after a refresh agree.
 * Provider status is `providerHealthOf` (core/health.ts) in both /health and the providers list.
 *
 * Shape: `{ health, providers, models: [{ name, provider, versions: Version[], aliases: Alias[] }],
 * reports: LoadReport[], explanations }`.
 */
export async function dashboardData(deps: RegistryDeps) {
  const [health, providers, reports, models] = await Promise.all([
    registryHealth(deps),
    listProviderSummaries(deps),
    listLoadReports(deps, { limit: REPORTS }),
    allModels(deps),
  ]);
  const withVersions = await Promise.all(
    models.map(async (m) => ({
      name: m.name,
      provider: m.provider,
      versions: (await listVersions(deps, m.name, { limit: VERSIONS_PER_MODEL })).items,
      aliases: await listAliases(deps, m.name),
    })),
  );
  return { health, providers, models: withVersions, reports, explanations: FAILURE_EXPLANATIONS };
}

async function allModels(deps: RegistryDeps) {
  const models = [];
  let cursor: string | undefined;
  do {
    const page = await listModels(deps, { limit: 1000, cursor });
    models.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return models;
}

/**
 * The data as a JSON script element for index.html. `<` is escaped so no string in the data (a model
 * description, a runtime's error text) can close the element or open another.
 */
export function embeddedDataScript(data: unknown): string {
  const json = JSON.stringify(data).replaceAll('<', '\\u003c');
  return `<script id="dashboard-data" type="application/json">${json}</script>`;
}
