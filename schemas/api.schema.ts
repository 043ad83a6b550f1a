import { z } from 'zod';
import { ProviderSummary } from './health.schema.js';
import { LoadReport, NodeId } from './load-report.schema.js';
import { VersionString } from './names.schema.js';
import { Alias, Version } from './version.schema.js';

/**
 * Request and response shapes of the HTTP API that belong to no single domain schema: list wrappers,
 * acknowledgements and the download query. The routes (lambdas/api/) and the OpenAPI document both use
 * these, so the public contract lives in `schemas/` only.
 */

/**
 * A version string, an alias or `latest`, as a path segment, resolved by core. Alias names and `latest`
 * are version strings too (schemas/names.schema.ts), so a ref that is none of them (`..`, `a/b`, a
 * non-ASCII name) is refused as the bad request it is, naming `ref`, instead of looked up and not found.
 */
export const VersionRef = VersionString;

/** `GET /models/{name}/aliases`: `{items: Alias[]}`. */
export const AliasList = z.object({ items: z.array(Alias) });

/** `DELETE /models/{name}/aliases/{alias}`: the alias is gone. */
export const AliasDeleted = z.object({ deleted: z.literal(true) });

/** `GET /providers`: every provider with its status and health score. */
export const ProviderSummaryList = z.array(ProviderSummary);

/** `GET /load-reports`: recent loads, newest first. */
export const LoadReportList = z.object({ items: z.array(LoadReport) });

/** `POST …/field-reports`: the stored report, the version after it, and what it set off. */
export const FieldReportResponse = z.object({
  report: LoadReport,
  version: Version,
  /** The report tipped the version into QUARANTINED. */
  quarantined: z.boolean(),
  /** The report rolled back its provider's gradual re-enable. */
  rampRolledBack: z.boolean(),
});
export type FieldReportResponse = z.infer<typeof FieldReportResponse>;

/** `GET /failure-explanations`: per load error code, the cause in plain words, the runbook step and the fix. */
export const FailureExplanations = z.record(
  z.string(),
  z.object({ cause: z.string(), runbookStep: z.string(), fix: z.string() }),
);

/**
 * `GET /models/{name}/download/{ref}` query. A node may say how much memory it has free (bytes): a
 * version that would not fit is refused before any byte moves. `node` is the fetching node's id: a
 * provider that is being re-enabled gradually admits nodes by it.
 */
export const DownloadQuery = z.object({
  freeMemoryBytes: z.coerce.number().int().nonnegative().optional(),
  node: NodeId.optional(),
  /** The `nextCursor` of the previous page of the plan. */
  cursor: z.string().max(2000).optional(),
});
