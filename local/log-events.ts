import { withoutPagingWords } from '../core/events.js';
import type { RegistryEvents } from '../core/ports.js';
import { LOAD_ERROR_FAMILY } from '../schemas/error-codes.schema.js';
import type { Logger } from './log.js';

/**
 * The registry's events as JSON log lines.
 *
 * - A load that failed on a serving node (a field report, `fetch --report`) is logged at error with
 *   `MODEL_LOAD_ERROR` and the words "Failed to load model", so the runbook's
 *   `grep -E "MODEL_LOAD_ERROR|Failed to load model"` finds it, with provider, model, version and reason.
 * - A candidate the registry refused (validation FAILED) is a prevented incident: event
 *   `validation_failed` at info, with its code and cause, and none of the words the runbook greps for
 *   (the validator's own message is quoted as `cause`, never in `message`).
 */
export function logEvents(log: Logger): RegistryEvents {
  const loadFailed = ({
    message,
    ...f
  }: {
    provider: string;
    model: string;
    version: string;
    reason: string;
    message: string;
    source: string;
    node?: string;
  }) =>
    log('model_load_failed', {
      level: 'error',
      code: LOAD_ERROR_FAMILY,
      message: `Failed to load model ${f.model}@${f.version} (provider ${f.provider}): ${f.reason}: ${message}`,
      ...f,
    });
  return {
    providerSeen: ({ provider }) => log('provider_seen', { provider }),
    versionCommitted: () => {},
    validationFinished: ({ version, error }) => {
      if (error)
        log('validation_failed', {
          level: 'info',
          provider: version.provider,
          model: version.model,
          version: version.version,
          code: error.code,
          message: `Validation refused ${version.model}@${version.version} (provider ${version.provider}) with ${error.code}: no node received it`,
          cause: withoutPagingWords(error.message),
        });
    },
    fieldReportReceived: ({ version, report }) => {
      log('field_report', {
        provider: version.provider,
        model: version.model,
        version: version.version,
        node: report.node,
        outcome: report.outcome,
        ...(report.code ? { reason: report.code } : {}),
      });
      if (report.outcome === 'failed')
        loadFailed({
          provider: version.provider,
          model: version.model,
          version: version.version,
          reason: report.code ?? 'unknown',
          message: report.message ?? 'reported by a node',
          source: 'field',
          node: report.node,
        });
    },
    versionQuarantined: ({ version, by, reason }) =>
      log('version_quarantined', {
        level: 'warn',
        provider: version.provider,
        model: version.model,
        version: version.version,
        by,
        message: `${version.model}@${version.version} QUARANTINED: ${reason}; aliases now resolve to the last VERIFIED version before it`,
      }),
    versionReleased: ({ version, by }) =>
      log('version_released', {
        provider: version.provider,
        model: version.model,
        version: version.version,
        by,
      }),
    providerChanged: ({ provider, change }) =>
      log(`provider_${change.replaceAll('-', '_')}`, {
        level: change === 'enabled' || change === 'ramp-started' ? 'info' : 'warn',
        provider: provider.name,
        state: provider.state,
        ...(provider.reason && provider.state === 'disabled' ? { reason: provider.reason } : {}),
        ...(provider.ramp && provider.state === 'ramping' ? { ramp: provider.ramp } : {}),
      }),
    aliasFellBack: ({ model, alias, target, served }) =>
      log('alias_fell_back', {
        level: 'warn',
        model,
        alias,
        target: target.version,
        targetStatus: target.status,
        served: served.version,
        message: `${model}@${alias} points at ${target.version} (${target.status}); serving ${served.version}, the last VERIFIED version before it`,
      }),
  };
}
