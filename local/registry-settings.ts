import { defaultSettings, type RegistrySettings } from '../core/ports.js';
import { deploymentMemoryBudget } from '../core/validation-rules.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';
import { LocalOperations } from './operations.js';

/**
 * The registry settings of the embedded server, from its parsed configuration
 * (schemas/config.schema.ts). The memory budget is resolved once here, as every deployment does it:
 * `MODELGATE_MEMORY_BUDGET`, else the smallest node class, else 4 GiB.
 */
export function localRegistrySettings(config: LocalServerConfig): RegistrySettings {
  return {
    ...defaultSettings,
    urlTtlSeconds: config.MODELGATE_URL_TTL_SECONDS,
    leaseMs: config.MODELGATE_LEASE_MS,
    maxValidationAttempts: config.MODELGATE_MAX_ATTEMPTS,
    defaultMemoryBudgetBytes: deploymentMemoryBudget(
      config.MODELGATE_MEMORY_BUDGET,
      config.MODELGATE_NODE_CLASSES,
    ),
    nodeClasses: config.MODELGATE_NODE_CLASSES,
    operations: LocalOperations.settingsOf(config),
  };
}
