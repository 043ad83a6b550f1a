import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { RegistryError } from '../core/errors.js';
import type { RegistryDeps, VersionRef } from '../core/ports.js';
import { completeValidation, heartbeat, startQueuedValidation } from '../core/validation-jobs.js';
import { heartbeatIntervalMs } from '../core/validation-rules.js';
import { ValidatorJobEnv } from '../schemas/config.schema.js';
import type { ValidationReport } from '../schemas/report.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { runtimeBaseline } from './baseline.js';
import { runValidation } from './run-validation.js';

/**
 * The validation job's logic (one AWS Batch job attempt), apart from its AWS wiring (ecs-task.ts) so
 * that it runs in tests over SQLite and a blob folder. The state machine (cdk/constructs/validation-pipeline.ts)
 * reserved the version for its execution id and passes that id here as the owner; the job takes the
 * lease when it starts (however long it waited in the queue), heartbeats it every MODELGATE_HEARTBEAT_MS,
 * validates, and records the report as that owner.
 *
 * Exit contract (VALIDATOR_EXIT, schemas/validation-task.schema.ts): the container exits 0 once an
 * outcome is recorded, passed or failed, and also when there is nothing to do (the version is settled or
 * another execution's). Anything else throws, and the container exits 1: "nothing was recorded", which
 * the job's retry strategy retries as an infrastructure failure.
 */

/**
 * Every variable the job reads, in one schema (ValidatorJobEnv, schemas/config.schema.ts): a missing or
 * malformed one fails naming it.
 */
export const EcsJobEnv = ValidatorJobEnv;
export type EcsJobEnv = z.infer<typeof EcsJobEnv>;

export class EcsEnvError extends Error {
  constructor(
    readonly variables: readonly string[],
    detail: string,
  ) {
    super(`invalid validation task environment: ${detail}`);
    this.name = 'EcsEnvError';
  }
}

/** The names the CDK task definition sets (`MODELGATE_MODEL` …) are accepted for the short ones. */
const ALIASES: Record<string, string> = {
  MODEL: 'MODELGATE_MODEL',
  VERSION: 'MODELGATE_VERSION',
  LEASE_OWNER: 'MODELGATE_LEASE_OWNER',
};

/**
 * Reads the job: environment first, then `--model M --version V --lease-owner L` arguments over it
 * (for running the task by hand). Throws EcsEnvError naming each missing or malformed variable.
 */
export function readEcsJobEnv(
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[] = [],
): EcsJobEnv {
  const { values } = parseArgs({
    args: [...argv],
    options: { model: { type: 'string' }, version: { type: 'string' }, 'lease-owner': { type: 'string' } },
    strict: true,
  });
  const merged: Record<string, string | undefined> = { ...env };
  for (const [short, long] of Object.entries(ALIASES)) merged[short] = env[short] ?? env[long];
  if (values.model) merged.MODEL = values.model;
  if (values.version) merged.VERSION = values.version;
  if (values['lease-owner']) merged.LEASE_OWNER = values['lease-owner'];
  return parseEnv(EcsJobEnv, merged);
}

/** Parses environment variables with `schema`, or throws EcsEnvError naming each bad variable. */
export function parseEnv<T extends z.ZodType>(
  schema: T,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const names = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))];
  const detail = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ');
  throw new EcsEnvError(names, detail);
}

export type EcsJobOutcome =
  | { readonly status: 'recorded'; readonly version: Version; readonly report: ValidationReport }
  | { readonly status: 'skipped'; readonly reason: string };

export interface EcsJobOptions {
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

const isConflict = (e: unknown) => e instanceof RegistryError && e.code === 'CONFLICT';

/**
 * The heartbeat interval in milliseconds: `configuredMs` (MODELGATE_HEARTBEAT_MS) or a third of the lease.
 * Throws EcsEnvError when it is over half the lease (`leaseMs`): one missed beat would let the lease lapse.
 */
export function heartbeatMsOf(configuredMs: number | undefined, leaseMs: number): number {
  if (configuredMs === undefined) return heartbeatIntervalMs(leaseMs);
  if (configuredMs > leaseMs / 2)
    throw new EcsEnvError(
      ['MODELGATE_HEARTBEAT_MS'],
      `MODELGATE_HEARTBEAT_MS: ${configuredMs} is over half of MODELGATE_LEASE_MS (${leaseMs})`,
    );
  return configuredMs;
}

/** Extends the lease every `intervalMs` while `work` runs, so that it never lapses mid-validation. */
async function whileHeartbeating<T>(
  deps: RegistryDeps,
  ref: VersionRef,
  owner: string,
  intervalMs: number,
  work: () => Promise<T>,
): Promise<T> {
  // A missed beat is retried at the next one (the lease outlasts two of them); a lost lease shows at
  // completion, which only the owner may do.
  const beat = setInterval(() => heartbeat(deps, ref, owner).catch(() => {}), intervalMs);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

export async function runEcsJob(
  deps: RegistryDeps,
  env: EcsJobEnv,
  options: EcsJobOptions = {},
): Promise<EcsJobOutcome> {
  const log = options.log ?? (() => {});
  const ref: VersionRef = { model: env.MODEL, version: env.VERSION };
  // The runtime baseline is measured once per process: start it now, while the files download.
  runtimeBaseline().catch(() => {});
  const heartbeatMs = heartbeatMsOf(env.MODELGATE_HEARTBEAT_MS, deps.settings.leaseMs);
  // The lease is taken now, when the job has a GPU, not when it was queued.
  const version = await startQueuedValidation(deps, ref, env.LEASE_OWNER);
  if (!version) {
    const reason = 'the version is settled or reserved by another execution';
    log('validation_skipped', { ...ref, reason });
    return { status: 'skipped', reason };
  }
  log('validation_started', {
    ...ref,
    executionProviders: env.MODELGATE_EXECUTION_PROVIDERS,
    attempt: version.validation.attempts,
  });
  const report = await whileHeartbeating(deps, ref, env.LEASE_OWNER, heartbeatMs, () =>
    runValidation(version, {
      blobs: deps.blobs,
      // Outside a container (tests, a run by hand) the OS temp folder; the image sets /scratch.
      scratchDir: env.MODELGATE_SCRATCH_DIR ?? tmpdir(),
      worker: env.LEASE_OWNER,
      // The deployment's budget (MODELGATE_MEMORY_BUDGET); the version's own overrides it in runValidation.
      memoryBudgetBytes: deps.settings.defaultMemoryBudgetBytes,
      timeoutMs: env.MODELGATE_VALIDATION_TIMEOUT_MS,
      executionProviders: env.MODELGATE_EXECUTION_PROVIDERS,
    }),
  );
  try {
    const settled = await completeValidation(deps, ref, env.LEASE_OWNER, report);
    log('validation_finished', {
      ...ref,
      status: settled.status,
      executionProvider: report.executionProvider,
      ...(report.error ? { reason: report.error.code, message: report.error.message } : {}),
    });
    return { status: 'recorded', version: settled, report };
  } catch (e) {
    // Another execution owns the version now (our lease lapsed and was retried): its result will stand.
    if (!isConflict(e)) throw e;
    log('validation_lease_lost', { ...ref });
    return { status: 'skipped', reason: 'the lease was lost before the report could be recorded' };
  }
}
