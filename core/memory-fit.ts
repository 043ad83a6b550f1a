import type { NodeClass } from '../schemas/node-class.schema.js';
import type { ValidationReport } from '../schemas/report.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { RegistryError } from './errors.js';

/** The runbook's ModelMemoryPressure rule: a model needs 1.5 × its size in free memory to load safely. */
export const MEMORY_HEADROOM = 1.5;

/**
 * Peak resident memory of a process that loads every model file of the version, as a node does: the
 * runtime's baseline once, plus each file's own share (its child's peak minus that baseline). Files that
 * were only integrity-checked are not loaded and add nothing.
 */
export function versionPeakBytes(report: Pick<ValidationReport, 'files'>): number {
  const loaded = report.files.filter((f) => f.check === 'loaded' && f.peakRssBytes !== undefined);
  if (loaded.length === 0) return 0;
  const baseline = Math.min(...loaded.map((f) => f.baselineRssBytes ?? 0));
  return (
    baseline + loaded.reduce((sum, f) => sum + Math.max(0, f.peakRssBytes! - (f.baselineRssBytes ?? 0)), 0)
  );
}

/** Sum of the GPU memory, in bytes, that the version's loaded files used (0 when none was measured). */
export const versionGpuBytes = (report: Pick<ValidationReport, 'files'>): number =>
  report.files.reduce((sum, f) => sum + (f.gpuBytes ?? 0), 0);

/** The runbook's rule: a peak of `peakBytes` fits `freeBytes` when it fits with `MEMORY_HEADROOM` to spare. */
export function fitsMemory(peakBytes: number, freeBytes: number): boolean {
  return peakBytes * MEMORY_HEADROOM <= freeBytes;
}

const formatGiB = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

/** For each node class: does the validated version fit it, by the runbook's rule, and why. */
export function fitNodeClasses(
  report: Pick<ValidationReport, 'files' | 'executionProvider' | 'outcome'>,
  classes: readonly NodeClass[],
): ValidationReport['nodeClasses'] {
  const peak = versionPeakBytes(report);
  const gpu = versionGpuBytes(report);
  return classes.map((c) => {
    if (report.outcome !== 'passed')
      return { nodeClass: c.name, fits: false, reason: 'the version failed validation' };
    if (!c.executionProviders.includes(report.executionProvider))
      return {
        nodeClass: c.name,
        fits: false,
        reason: `validated on ${report.executionProvider}, which ${c.name} does not run (${c.executionProviders.join(', ')})`,
      };
    if (!fitsMemory(peak, c.memoryBytes))
      return {
        nodeClass: c.name,
        fits: false,
        reason: `peak ${formatGiB(peak)} × ${MEMORY_HEADROOM} > ${formatGiB(c.memoryBytes)} memory`,
      };
    if (gpu > 0 && c.gpuMemoryBytes !== undefined && !fitsMemory(gpu, c.gpuMemoryBytes))
      return {
        nodeClass: c.name,
        fits: false,
        reason: `GPU ${formatGiB(gpu)} × ${MEMORY_HEADROOM} > ${formatGiB(c.gpuMemoryBytes)} GPU memory`,
      };
    return {
      nodeClass: c.name,
      fits: true,
      reason: `peak ${formatGiB(peak)} × ${MEMORY_HEADROOM} ≤ ${formatGiB(c.memoryBytes)}`,
    };
  });
}

/** The validation budget when a version names none: the smallest node class, else the server default. */
export function defaultMemoryBudget(classes: readonly NodeClass[], fallbackBytes: number): number {
  return classes.length > 0 ? Math.min(...classes.map((c) => c.memoryBytes)) : fallbackBytes;
}

/**
 * The largest validation budget a publisher may ask for (`memoryBudgetBytes`), in bytes: the server's
 * own budget, or the memory of the largest serving node class when that is more (a model meant for the
 * big nodes may use what they have). A publisher's budget overrides the server's for its version, so
 * without this cap a 3 GiB model would be VERIFIED under a 512 MiB server budget.
 */
export function memoryBudgetCap(settings: {
  readonly defaultMemoryBudgetBytes: number;
  readonly nodeClasses: readonly NodeClass[];
}): number {
  return Math.max(settings.defaultMemoryBudgetBytes, ...settings.nodeClasses.map((c) => c.memoryBytes));
}

/** CONFIG_INVALID (400), field `memoryBudgetBytes`, when a publisher's budget is above the cap. */
export function assertMemoryBudgetAllowed(
  requested: number | undefined,
  settings: Parameters<typeof memoryBudgetCap>[0],
): void {
  if (requested === undefined) return;
  const cap = memoryBudgetCap(settings);
  if (requested > cap)
    throw new RegistryError(
      'CONFIG_INVALID',
      `memoryBudgetBytes: ${requested} bytes is above this registry's cap of ${cap} bytes (${formatGiB(cap)}: the server's memory budget or its largest node class); ask for at most that`,
      { field: 'memoryBudgetBytes', requested, cap },
    );
}

/**
 * Memory a validation job may use, reserved by the worker pool before it starts the job, so several
 * workers never overcommit the machine. The child is killed past its budget, so the budget bounds it;
 * before inspection, 2.5 × the version's bytes plus the runtime baseline is a tighter bound for small
 * versions (every file counts: external-data files are loaded with the model that references them).
 */
export function estimateValidationBytes(
  version: Version,
  budgetBytes: number,
  runtimeBaselineBytes: number,
): number {
  return Math.min(budgetBytes, runtimeBaselineBytes + Math.ceil(version.totalSize * 2.5));
}
