import { randomBytes } from 'node:crypto';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { estimateValidationBytes } from '../core/memory-fit.js';
import type { RegistryDeps } from '../core/ports.js';
import { effectiveMemoryBudget } from '../core/validation-rules.js';
import { runValidation } from '../gpu-validator/run-validation.js';
import { WorkerPool } from '../gpu-validator/worker-pool.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';
import type { Logger } from './log.js';

/** onnxruntime-node's resident memory in an empty child, measured here at about 60 MiB; rounded up. */
const RUNTIME_BASELINE_ESTIMATE = 100 * 1024 * 1024;

/** Share of the memory free at start that validations may use: a quarter stays for the server and page cache. */
const MACHINE_SHARE = 0.75;

/**
 * The in-process validation workers of the embedded server (`MODELGATE_WORKERS` of them), running the
 * validator's engine on CPU in child processes under `<data dir>/scratch`. Several jobs run at once only
 * while their estimated memory (core's estimateValidationBytes) fits what the machine had free at start.
 */
export function localWorkerPool(deps: RegistryDeps, config: LocalServerConfig, log: Logger): WorkerPool {
  return new WorkerPool(deps, {
    workers: config.MODELGATE_WORKERS,
    id: `local-${process.pid}-${randomBytes(3).toString('hex')}`,
    validate: (version, worker) =>
      runValidation(version, {
        blobs: deps.blobs,
        scratchDir: join(config.MODELGATE_DATA_DIR, 'scratch'),
        worker,
        memoryBudgetBytes: deps.settings.defaultMemoryBudgetBytes,
        timeoutMs: config.MODELGATE_VALIDATION_TIMEOUT_MS,
      }),
    memory: {
      capacityBytes: Math.floor(freemem() * MACHINE_SHARE),
      estimateBytes: (v) =>
        estimateValidationBytes(v, effectiveMemoryBudget(v, deps.settings), RUNTIME_BASELINE_ESTIMATE),
    },
    log,
  });
}
