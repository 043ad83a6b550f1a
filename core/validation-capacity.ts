import type { LoadError } from '../schemas/report.schema.js';

/**
 * Whether a validation task can hold a version at all, decided before any task starts: a GPU
 * instance that boots only to discover that the files do not fit on its disk, or that the memory
 * budget is larger than the container may use, costs minutes and money and ends in a confusing
 * kill. Failing early names the precise cause (INSUFFICIENT_DISK / INSUFFICIENT_MEMORY) instead.
 */

/** What validating one version asks of a task, in bytes. */
export interface CapacityDemand {
  /** Sum of the version's file sizes: the validator stages every file on scratch disk. */
  readonly totalSizeBytes: number;
  /** The memory budget the load is held to (the version's own, or the registry default). */
  readonly memoryBudgetBytes: number;
}

/** What one validation task offers, in bytes. */
export interface TaskCapacity {
  /** Scratch disk the validation task may fill. */
  readonly diskBytes: number;
  /** Memory the loaded model may use inside the task (the container limit less the validator's own). */
  readonly memoryBytes: number;
}

/** Whether a version fits a task; when not, the LoadError (INSUFFICIENT_DISK or INSUFFICIENT_MEMORY) saying why. */
export type CapacityDecision = { readonly fits: true } | { readonly fits: false; readonly error: LoadError };

const GiB = 1024 ** 3;
const human = (bytes: number): string => `${(bytes / GiB).toFixed(2)} GiB (${bytes} bytes)`;

/** Disk is checked first: a version that cannot even be staged never reaches the memory question. */
export function checkTaskCapacity(demand: CapacityDemand, capacity: TaskCapacity): CapacityDecision {
  if (demand.totalSizeBytes > capacity.diskBytes) {
    return {
      fits: false,
      error: {
        code: 'INSUFFICIENT_DISK',
        message: `the version's files total ${human(demand.totalSizeBytes)}, more than the validation task's scratch disk of ${human(capacity.diskBytes)}`,
      },
    };
  }
  if (demand.memoryBudgetBytes > capacity.memoryBytes) {
    return {
      fits: false,
      error: {
        code: 'INSUFFICIENT_MEMORY',
        message: `the memory budget of ${human(demand.memoryBudgetBytes)} exceeds the ${human(capacity.memoryBytes)} a validation task can give the model`,
      },
    };
  }
  return { fits: true };
}
