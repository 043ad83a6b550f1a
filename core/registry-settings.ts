import type { RegistryEnv } from '../schemas/config.schema.js';
import type { RegistrySettings } from './ports.js';
import { deploymentMemoryBudget } from './validation-rules.js';

/**
 * The registry settings of a deployment from the shared environment vocabulary
 * (schemas/config.schema.ts `RegistryEnv`, already parsed): the one mapping the embedded server, the
 * Lambdas and the validator task all use, so a setting means the same thing wherever it is read. The
 * memory budget is resolved here (deploymentMemoryBudget: configured, else smallest node class, else 4 GiB).
 */
export function registrySettingsOf(env: RegistryEnv): RegistrySettings {
  return {
    urlTtlSeconds: env.MODELGATE_URL_TTL_SECONDS,
    leaseMs: env.MODELGATE_LEASE_MS,
    maxValidationAttempts: env.MODELGATE_MAX_ATTEMPTS,
    defaultMemoryBudgetBytes: deploymentMemoryBudget(env.MODELGATE_MEMORY_BUDGET, env.MODELGATE_NODE_CLASSES),
    nodeClasses: env.MODELGATE_NODE_CLASSES,
    operations: {
      quarantineNodes: env.MODELGATE_QUARANTINE_NODES,
      quarantineWindowMs: env.MODELGATE_QUARANTINE_WINDOW_MS,
      rampRollbackReporters: env.MODELGATE_RAMP_ROLLBACK_REPORTERS,
      healthWindowMs: env.MODELGATE_HEALTH_WINDOW_MS,
    },
  };
}
