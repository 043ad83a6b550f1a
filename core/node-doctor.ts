import { LoadErrorCode } from '../schemas/error-codes.schema.js';
import { fitsMemory, MEMORY_HEADROOM } from './memory-fit.js';

/**
 * The pure rules of `modelgate doctor` (DESIGN.md "On the node"): which finding is how severe, which
 * step of RUNBOOK-MODEL_LOAD_ERROR.md fixes it, and the memory, GPU and runtime verdicts on facts the
 * caller gathered. No I/O here: the CLI probes the node and hands the facts in.
 */

/**
 * What a finding can be: a load error's root cause, or `SIGNATURE_INVALID` (with a trusted key, the
 * registry's signatures are missing, do not verify, or list other files: the CLI's code for it).
 */
export type DoctorCode = LoadErrorCode | 'SIGNATURE_INVALID';

/** One thing wrong on this node: its code, the file at fault (if any), what was seen and the fix. */
export interface Finding {
  code: DoctorCode;
  file?: string;
  message: string;
  /** The runbook step that fixes it, with the command to run. */
  fix: string;
}

/** The CLI's exit codes for doctor's outcomes (cli/exit-codes.ts holds the same numbers). */
export const DOCTOR_EXIT = { OK: 0, INSUFFICIENT_MEMORY: 5, INTEGRITY: 6, ENVIRONMENT: 7 } as const;

const INTEGRITY_CODES: ReadonlySet<DoctorCode> = new Set([
  'FILE_MISSING',
  'CHECKSUM_MISMATCH',
  'MODEL_CORRUPTED',
  'SIGNATURE_INVALID',
]);

/** Whether a finding is a load error, the only kind a field report carries (not SIGNATURE_INVALID). */
export function isLoadErrorFinding<F extends Pick<Finding, 'code'>>(
  finding: F,
): finding is F & { code: LoadErrorCode } {
  return LoadErrorCode.safeParse(finding.code).success;
}

/** The exit code a finding alone would give: 6 integrity, 5 memory, 7 anything about this node. */
export function exitCodeOfFinding(code: DoctorCode): number {
  if (INTEGRITY_CODES.has(code)) return DOCTOR_EXIT.INTEGRITY;
  if (code === 'INSUFFICIENT_MEMORY') return DOCTOR_EXIT.INSUFFICIENT_MEMORY;
  return DOCTOR_EXIT.ENVIRONMENT;
}

/** Most severe first: bytes that are not the version's, then memory, then the node's environment. */
const SEVERITY_ORDER: readonly number[] = [
  DOCTOR_EXIT.INTEGRITY,
  DOCTOR_EXIT.INSUFFICIENT_MEMORY,
  DOCTOR_EXIT.ENVIRONMENT,
];

/** 0 when there is no finding, else the exit code of the most severe one. */
export function doctorExitCode(findings: readonly Pick<Finding, 'code'>[]): number {
  const codes = new Set(findings.map((f) => exitCodeOfFinding(f.code)));
  return SEVERITY_ORDER.find((c) => codes.has(c)) ?? DOCTOR_EXIT.OK;
}

/** The most severe finding (the one whose code a field report carries), or undefined. */
export function mostSevere<F extends Pick<Finding, 'code'>>(findings: readonly F[]): F | undefined {
  const exit = doctorExitCode(findings);
  return findings.find((f) => exitCodeOfFinding(f.code) === exit);
}

/**
 * The runbook step (RUNBOOK-MODEL_LOAD_ERROR.md "3. Common Fixes") for each code, with the modelgate
 * command that carries it out on a folder `dir` fetched from `ref` (NAME@VERSION).
 */
export function runbookFix(code: DoctorCode, dir: string, ref: string): string {
  const refetch = `modelgate fetch ${ref} --dest ${dir}`;
  switch (code) {
    case 'SIGNATURE_INVALID':
      return `runbook "Check model files" (verify checksums: the folder's own checksum files cannot vouch for it here): re-download from the registry with its signatures checked, \`${refetch} --verify-key PEM\` with the key given here`;
    case 'FILE_MISSING':
      return `runbook "Fix: Missing Model Files": re-download with \`${refetch}\``;
    case 'CHECKSUM_MISMATCH':
    case 'MODEL_CORRUPTED':
      return `runbook "Fix: Corrupted Model Files": re-download with verification, \`${refetch}\``;
    case 'PERMISSION_DENIED':
      return `runbook "Fix: Permission Issues": \`find ${dir}/ -type f -exec chmod 644 {} \\;\` and \`find ${dir}/ -type d -exec chmod 755 {} \\;\` (restorecon -Rv where SELinux applies)`;
    case 'INSUFFICIENT_MEMORY':
      return 'runbook "Fix: Insufficient Memory": raise the container\'s memory limit (kubectl set resources / docker update --memory) or free memory on the node';
    case 'INSUFFICIENT_DISK':
      return `runbook "Analyze resource constraints" (df -h): free space on the file system of ${dir}, or keep fewer old versions (\`fetch --keep 0\`)`;
    case 'GPU_UNAVAILABLE':
      return 'runbook "Analyze resource constraints" (nvidia-smi, lspci | grep -i nvidia): install the NVIDIA driver or run on a GPU node';
    case 'DEPENDENCY_MISSING':
      return 'runbook "Root Cause Analysis: Dependencies": install the runtime and execution provider the version was validated with';
    case 'UNSUPPORTED_MODEL':
      return 'runbook "Root Cause Analysis: Dependencies" (version conflicts): upgrade onnxruntime on this node, or serve a version exported for this runtime';
    default:
      return `runbook "Test model loading directly": \`modelgate doctor ${dir} --load\`, then \`modelgate status ${ref}\` for how validation ran it`;
  }
}

/** Bytes in the largest binary unit that keeps them ≥ 1 (`512.0 MiB`, `1.50 GiB`). */
export function humanBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
const gib = humanBytes;

/**
 * The runbook's ModelMemoryPressure rule on this node: MemAvailable must hold the version's profiled
 * peak × 1.5. `peakBytes` 0 (nothing was load-tested) never fails.
 */
export function memoryVerdict(peakBytes: number, freeBytes: number): { ok: boolean; message: string } {
  const needed = Math.ceil(peakBytes * MEMORY_HEADROOM);
  const ok = fitsMemory(peakBytes, freeBytes);
  return {
    ok,
    message: `${gib(freeBytes)} available, the version's profiled peak ${gib(peakBytes)} × ${MEMORY_HEADROOM} = ${gib(needed)} ${ok ? 'fits' : 'does not fit'}`,
  };
}

/** Free space must hold one more version of this size: what the next fetch stages beside the current one. */
export function diskVerdict(freeBytes: number, versionBytes: number): { ok: boolean; message: string } {
  const ok = freeBytes >= versionBytes;
  return {
    ok,
    message: `${gib(freeBytes)} free, the next version needs about ${gib(versionBytes)} (the size of this one) while both are kept`,
  };
}

/** Execution providers that need an NVIDIA GPU and driver. */
export const GPU_EXECUTION_PROVIDERS: ReadonlySet<string> = new Set(['cuda', 'tensorrt']);

/** What the node says about its GPU: nvidia-smi's answer and whether the kernel driver is loaded. */
export interface GpuProbe {
  /** `ok` listed at least one GPU; `absent` not installed; `failed` installed but erred (no device, driver mismatch). */
  nvidiaSmi: 'ok' | 'absent' | 'failed';
  /** /proc/driver/nvidia exists. */
  driverLoaded: boolean;
  /** nvidia-smi's first line of output or error, for the message. */
  detail?: string;
}

/** GPU_UNAVAILABLE when the version was validated on a GPU provider and this node has no working GPU. */
export function gpuVerdict(
  validatedProvider: string,
  probe: GpuProbe,
): { needed: boolean; ok: boolean; message: string } {
  if (!GPU_EXECUTION_PROVIDERS.has(validatedProvider))
    return { needed: false, ok: true, message: `validated on ${validatedProvider}: no GPU needed` };
  if (probe.nvidiaSmi === 'ok' && probe.driverLoaded)
    return { needed: true, ok: true, message: `validated on ${validatedProvider}; nvidia-smi lists a GPU` };
  const seen = [
    probe.nvidiaSmi === 'absent'
      ? 'nvidia-smi is not installed'
      : probe.nvidiaSmi === 'failed'
        ? `nvidia-smi failed${probe.detail ? ` (${probe.detail})` : ''}`
        : 'nvidia-smi lists a GPU',
    probe.driverLoaded
      ? '/proc/driver/nvidia exists'
      : 'no NVIDIA kernel driver (/proc/driver/nvidia is absent)',
  ];
  return {
    needed: true,
    ok: false,
    message: `validated on ${validatedProvider}, but ${seen.join(' and ')}`,
  };
}

/** The runtime on this node, and the one the version was validated with. */
export interface RuntimeFacts {
  /** onnxruntime-node's version here, or undefined when it is not installed. */
  nodeVersion: string | undefined;
  /** Execution providers this node's runtime offers (`cpu`, `cuda`, …). */
  nodeProviders: readonly string[];
  validatedVersion: string;
  validatedProvider: string;
}

/**
 * DEPENDENCY_MISSING when the runtime or the validated execution provider is missing here. A different
 * runtime version is only a note: the IR/opset check (and `--load`) decide whether it can load the model.
 */
export function runtimeVerdict(facts: RuntimeFacts): {
  ok: boolean;
  message: string;
  versionDiffers: boolean;
} {
  if (facts.nodeVersion === undefined)
    return {
      ok: false,
      versionDiffers: true,
      message: `onnxruntime-node is not installed on this node; the version was validated with ${facts.validatedVersion}`,
    };
  const versionDiffers = facts.nodeVersion !== facts.validatedVersion;
  const versions = versionDiffers
    ? `onnxruntime-node ${facts.nodeVersion} here, ${facts.validatedVersion} at validation`
    : `onnxruntime-node ${facts.nodeVersion}, as at validation`;
  if (!facts.nodeProviders.includes(facts.validatedProvider))
    return {
      ok: false,
      versionDiffers,
      message: `${versions}; validated on execution provider ${facts.validatedProvider}, which this runtime does not offer (it offers ${facts.nodeProviders.join(', ') || 'none'})`,
    };
  return {
    ok: true,
    versionDiffers,
    message: `${versions}; execution provider ${facts.validatedProvider} available`,
  };
}

/**
 * Files and folders must be readable by the service user, as the runbook's `ls -la | grep -v rw-r--r--`
 * checks: a file needs r for others (0644), a folder r and x for others (0755). Returns what is missing.
 */
export function permissionProblem(kind: 'file' | 'dir', mode: number): string | undefined {
  const perms = mode & 0o777;
  const octal = perms.toString(8).padStart(4, '0');
  if (kind === 'file' && (perms & 0o004) === 0) return `mode ${octal}: not readable by others (want 0644)`;
  if (kind === 'dir' && (perms & 0o005) !== 0o005)
    return `mode ${octal}: others cannot list or enter it (want 0755)`;
  return undefined;
}
