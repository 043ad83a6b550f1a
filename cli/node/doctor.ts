import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { RegistryError } from '../../core/errors.js';
import { versionPeakBytes } from '../../core/memory-fit.js';
import {
  type DoctorCode,
  diskVerdict,
  doctorExitCode,
  type Finding,
  gpuVerdict,
  memoryVerdict,
  permissionProblem,
  runbookFix,
  runtimeVerdict,
} from '../../core/node-doctor.js';
import { SignatureError, type TrustedKey } from '../../core/provenance.js';
import { checkCompatibility, limitsFor } from '../../gpu-validator/compat.js';
import { validateFiles } from '../../gpu-validator/engine.js';
import type { FileReport, OnnxInspection } from '../../schemas/report.schema.js';
import { MODEL_SIG_FILE, VALIDATION_SIG_FILE } from '../../schemas/signature.schema.js';
import type { InstalledMetadata } from '../files/metadata.js';
import { checkFile, extraFiles, readMetadata } from '../files/verify-dir.js';
import { VERIFY_KEY_ENV } from '../files/verify-key-env.js';
import { checkSignedFolder } from '../files/verify-signature.js';
import { type NodeProbes, nodeProbes, type RuntimeProbe } from './node-probes.js';

/**
 * `modelgate doctor DIR`: RUNBOOK-MODEL_LOAD_ERROR.md's "2. Investigation", in its order, on a folder
 * `fetch` installed: "Check model files" (presence, integrity, extra files, permissions), "Analyze
 * resource constraints" (memory, disk, GPU), the runtime and its support for the models (the runbook's
 * "Dependencies" root cause), and with `load`, "Test model loading directly" in an isolated child.
 */

export type CheckStatus = 'ok' | 'failed' | 'skipped';

/** One step of the investigation: what it looked at and what it saw. */
export interface DoctorCheck {
  name:
    | 'files'
    | 'signature'
    | 'permissions'
    | 'memory'
    | 'disk'
    | 'gpu'
    | 'runtime'
    | 'model-support'
    | 'load';
  /** The runbook step it carries out. */
  step: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorResult {
  ok: boolean;
  dir: string;
  /** The installed version, when its manifest could be read. */
  version?: { model: string; version: string; seq: number; provider: string };
  findings: Finding[];
  checks: DoctorCheck[];
  exitCode: number;
}

export interface DoctorOptions {
  dir: string;
  /** Load and smoke-run each model in an isolated child (the runbook's "Test model loading directly"). */
  load?: boolean;
  /** Free memory in bytes to judge by instead of MemAvailable. */
  freeMemoryBytes?: number;
  /** Memory the isolated load may use, in bytes (default: the free memory judged by). */
  loadBudgetBytes?: number;
  /** Per model: session creation plus the smoke run, in ms (default 120 s). */
  loadTimeoutMs?: number;
  probes?: Partial<NodeProbes>;
  /**
   * Keys to check the registry's signatures (model.sig, validation.sig) with; without them the check only
   * says whether the signatures are present.
   */
  trustedKeys?: readonly TrustedKey[];
  /**
   * Only the load check (`sync --load-check` on content fetch has just verified: the load re-checks every
   * file's integrity anyway, so the other file checks would only read the bytes again).
   */
  loadOnly?: boolean;
}

const STEP = {
  files: 'Check model files',
  resources: 'Analyze resource constraints',
  dependencies: 'Root Cause Analysis: Dependencies',
  load: 'Test model loading directly',
} as const;

const MIB = 1024 * 1024;
const DEFAULT_LOAD_TIMEOUT_MS = 120_000;

class Investigation {
  readonly findings: Finding[] = [];
  readonly checks: DoctorCheck[] = [];
  constructor(
    readonly dir: string,
    readonly ref: string,
  ) {}

  find(code: DoctorCode, message: string, file?: string, fix?: string): void {
    this.findings.push({
      code,
      ...(file ? { file } : {}),
      message,
      fix: fix ?? runbookFix(code, this.dir, this.ref),
    });
  }

  check(name: DoctorCheck['name'], step: string, status: CheckStatus, detail: string): void {
    this.checks.push({ name, step, status, detail });
  }
}

/** The manifest, or a finding saying why there is none (then nothing else can be checked). */
async function manifestOf(inv: Investigation): Promise<InstalledMetadata | undefined> {
  try {
    return await readMetadata(inv.dir);
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    const code =
      err.code === 'FILE_MISSING' || err.code === 'PERMISSION_DENIED' ? err.code : 'CHECKSUM_MISMATCH';
    inv.find(code, err.message, '.modelgate.json');
    inv.check('files', STEP.files, 'failed', err.message);
    return undefined;
  }
}

/** Every manifest file present with its size and sha256; nothing else a loader might pick up. */
async function checkFiles(inv: Investigation, metadata: InstalledMetadata): Promise<void> {
  const before = inv.findings.length;
  for (const file of metadata.files) {
    let kind: Awaited<ReturnType<typeof checkFile>>;
    try {
      kind = await checkFile(inv.dir, file);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'PERMISSION_DENIED') {
        inv.find('PERMISSION_DENIED', `${file.path} cannot be read: ${err.message}`, file.path);
        continue;
      }
      throw err;
    }
    if (kind === 'missing')
      inv.find('FILE_MISSING', `${file.path} is missing (${file.size} bytes expected)`, file.path);
    else if (kind === 'size')
      inv.find(
        'CHECKSUM_MISMATCH',
        `${file.path} is not ${file.size} bytes long: truncated or replaced`,
        file.path,
      );
    else if (kind === 'mismatch')
      inv.find('CHECKSUM_MISMATCH', `${file.path} does not match its sha256 ${file.sha256}`, file.path);
  }
  for (const path of await extraFilesOrFinding(inv, metadata))
    inv.find(
      'CHECKSUM_MISMATCH',
      `${path}${await linkNote(join(inv.dir, path))} is not a file of ${metadata.model}@${metadata.version}: a loader may pick it up`,
      path,
      `runbook "Fix: Corrupted Model Files" (clear model cache): remove it, \`rm ${join(inv.dir, path)}\`, or re-download with \`modelgate fetch ${inv.ref} --dest ${inv.dir}\``,
    );
  const failed = inv.findings.length - before;
  inv.check(
    'files',
    STEP.files,
    failed === 0 ? 'ok' : 'failed',
    failed === 0
      ? `${metadata.files.length} file(s) present, each matching its sha256; no extra files`
      : `${failed} problem(s) among ${metadata.files.length} file(s)`,
  );
}

/** The folder's extra files; a folder this user cannot list is a PERMISSION_DENIED finding instead. */
async function extraFilesOrFinding(inv: Investigation, metadata: InstalledMetadata): Promise<string[]> {
  try {
    return await extraFiles(inv.dir, metadata);
  } catch (err) {
    if (!(err instanceof RegistryError && err.code === 'PERMISSION_DENIED')) throw err;
    inv.find('PERMISSION_DENIED', `a folder cannot be listed for extra files: ${err.message}`);
    return [];
  }
}

/** ` (a symbolic link to TARGET)` for a link, else nothing: a loader follows it to files outside the folder. */
async function linkNote(path: string): Promise<string> {
  const target = await readlink(path).catch(() => undefined);
  return target === undefined ? '' : ` (a symbolic link to ${target})`;
}

const SIGNATURE_FILES = [MODEL_SIG_FILE, VALIDATION_SIG_FILE] as const;

/** Which of model.sig and validation.sig are in the folder as regular files. */
async function signaturesPresent(dir: string): Promise<string> {
  const seen: string[] = [];
  for (const name of SIGNATURE_FILES) {
    const stats = await lstat(join(dir, name)).catch(() => undefined);
    seen.push(
      `${name} ${stats === undefined ? 'absent' : stats.isFile() ? 'present' : 'not a regular file'}`,
    );
  }
  return seen.join(', ');
}

/**
 * The registry's signatures, which trust nothing of the folder's own manifest and checksum files (a
 * swap can rewrite those): with trusted keys, both bundles verify and list exactly the folder's files
 * and digests (SIGNATURE_INVALID naming the file otherwise); without, only whether they are present,
 * never a finding. Skipped when the files check already found something: the signatures would only
 * repeat it, and the same re-fetch fixes both.
 */
async function checkSignature(
  inv: Investigation,
  metadata: InstalledMetadata,
  keys: readonly TrustedKey[] | undefined,
  filesBroken: boolean,
): Promise<void> {
  const step = `${STEP.files} (verify checksums)`;
  if (!keys) {
    inv.check(
      'signature',
      step,
      'skipped',
      `${await signaturesPresent(inv.dir)}; not verified: no key given (--key PEM or ${VERIFY_KEY_ENV})`,
    );
    return;
  }
  if (filesBroken) {
    inv.check('signature', step, 'skipped', 'the files check failed: fix what it found first');
    return;
  }
  try {
    const signed = await checkSignedFolder(inv.dir, keys, metadata);
    inv.check(
      'signature',
      step,
      'ok',
      `${MODEL_SIG_FILE} and ${VALIDATION_SIG_FILE} verify with key ${signed.keyId}: ${signed.files} file(s) of ${signed.model}@${signed.version}, ${signed.loadTested ? 'load-tested' : 'not load-tested'}, validated ${signed.validatedAt}`,
    );
  } catch (e) {
    if (e instanceof SignatureError) {
      inv.find('SIGNATURE_INVALID', e.message, e.file);
      inv.check('signature', step, 'failed', `with ${keys.length} trusted key(s): ${e.message}`);
      return;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'EACCES' && err.code !== 'EPERM') throw e;
    const file = err.path ? relative(inv.dir, err.path) : undefined;
    inv.find(
      'PERMISSION_DENIED',
      `${file ?? 'a file'} cannot be read to check the signatures (${err.code})`,
      file,
    );
    inv.check('signature', step, 'failed', `cannot read ${file ?? 'a file'} (${err.code})`);
  }
}

/** SELinux context of `path` when SELinux is on (`stat -c %C`), else undefined. */
function selinuxContext(path: string): Promise<string | undefined> {
  if (!existsSync('/sys/fs/selinux/enforce')) return Promise.resolve(undefined);
  return new Promise((resolve) =>
    execFile('stat', ['-c', '%C', path], { timeout: 5000 }, (err, out) =>
      resolve(err ? undefined : out.trim()),
    ),
  );
}

/** The runbook's `ls -la | grep -v rw-r--r--`: every file 0644-readable, every folder 0755-enterable. */
async function checkPermissions(inv: Investigation): Promise<void> {
  const root = await realpath(inv.dir);
  const before = inv.findings.length;
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? join(root, rel) : root;
    const stats = await lstat(abs);
    const problem = permissionProblem(stats.isDirectory() ? 'dir' : 'file', stats.mode);
    if (problem) inv.find('PERMISSION_DENIED', `${rel || '.'}: ${problem}`, rel || '.');
    if (!stats.isDirectory()) return;
    // A folder this user cannot list was named above by its mode (0700 and the like): nothing below it is seen.
    const entries = await readdir(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EACCES' && err.code !== 'EPERM') throw err;
      if (!problem)
        inv.find('PERMISSION_DENIED', `${rel || '.'}: cannot be listed (${err.code})`, rel || '.');
      return [];
    });
    for (const entry of entries) await walk(rel ? `${rel}/${entry}` : entry);
  };
  await walk('');
  const root0 = await lstat(root);
  const context = await selinuxContext(root);
  const owner = `owner uid ${root0.uid}, gid ${root0.gid}${context ? `, SELinux ${context}` : ''}`;
  const failed = inv.findings.length - before;
  inv.check(
    'permissions',
    STEP.files,
    failed === 0 ? 'ok' : 'failed',
    failed === 0
      ? `files 0644-readable and folders 0755 (${owner})`
      : `${failed} path(s) a service user cannot read (${owner})`,
  );
}

async function checkMemory(inv: Investigation, metadata: InstalledMetadata, free: number): Promise<void> {
  if (!metadata.report) {
    inv.check(
      'memory',
      STEP.resources,
      'skipped',
      'no validation report recorded in .modelgate.json (fetched by an older modelgate)',
    );
    return;
  }
  const verdict = memoryVerdict(versionPeakBytes(metadata.report), free);
  if (!verdict.ok) inv.find('INSUFFICIENT_MEMORY', verdict.message);
  inv.check('memory', STEP.resources, verdict.ok ? 'ok' : 'failed', verdict.message);
}

async function checkDisk(inv: Investigation, metadata: InstalledMetadata, probes: NodeProbes): Promise<void> {
  const size = metadata.files.reduce((s, f) => s + f.size, 0);
  const verdict = diskVerdict(await probes.diskFree(inv.dir), size);
  if (!verdict.ok) inv.find('INSUFFICIENT_DISK', verdict.message);
  inv.check('disk', STEP.resources, verdict.ok ? 'ok' : 'failed', verdict.message);
}

async function checkGpu(inv: Investigation, metadata: InstalledMetadata, probes: NodeProbes): Promise<void> {
  if (!metadata.report) {
    inv.check(
      'gpu',
      STEP.resources,
      'skipped',
      'no validation report recorded: the execution provider is unknown',
    );
    return;
  }
  const verdict = gpuVerdict(metadata.report.executionProvider, await probes.gpu());
  if (!verdict.ok) inv.find('GPU_UNAVAILABLE', verdict.message);
  inv.check(
    'gpu',
    STEP.resources,
    verdict.needed ? (verdict.ok ? 'ok' : 'failed') : 'skipped',
    verdict.message,
  );
}

/** The runtime and execution provider against the report's, then each model's IR/opsets against the runtime. */
async function checkRuntime(
  inv: Investigation,
  metadata: InstalledMetadata,
  runtime: RuntimeProbe,
): Promise<void> {
  if (!metadata.report) {
    inv.check(
      'runtime',
      STEP.dependencies,
      'skipped',
      'no validation report recorded: nothing to compare with',
    );
    return;
  }
  const verdict = runtimeVerdict({
    nodeVersion: runtime.version,
    nodeProviders: runtime.providers,
    validatedVersion: metadata.report.runtime.version,
    validatedProvider: metadata.report.executionProvider,
  });
  const message = runtime.error ? `${verdict.message} (${runtime.error})` : verdict.message;
  if (!verdict.ok) inv.find('DEPENDENCY_MISSING', message);
  inv.check('runtime', STEP.dependencies, verdict.ok ? 'ok' : 'failed', message);
  if (runtime.version !== undefined) checkModelSupport(inv, metadata.report.files, runtime.version);
}

function checkModelSupport(inv: Investigation, files: readonly FileReport[], runtimeVersion: string): void {
  const limits = limitsFor(runtimeVersion);
  const inspected = files.filter((f) => f.inspection && 'irVersion' in f.inspection);
  if (!limits || inspected.length === 0) {
    inv.check(
      'model-support',
      STEP.dependencies,
      'skipped',
      limits
        ? 'no ONNX inspection recorded'
        : `no IR/opset limits known for onnxruntime-node ${runtimeVersion}: --load decides`,
    );
    return;
  }
  let failed = 0;
  for (const file of inspected) {
    const insp = file.inspection as OnnxInspection;
    const failure = checkCompatibility(
      { ...insp, operators: insp.operators ?? [], functions: insp.functions ?? [] },
      limits,
    );
    if (failure) {
      failed++;
      inv.find('UNSUPPORTED_MODEL', `${file.path}: ${failure.message}`, file.path);
    }
  }
  inv.check(
    'model-support',
    STEP.dependencies,
    failed === 0 ? 'ok' : 'failed',
    failed === 0
      ? `${inspected.length} model(s): IR version and opsets within onnxruntime-node ${runtimeVersion}'s support`
      : `${failed} model(s) this runtime cannot load`,
  );
}

const mib = (bytes: number | undefined) => (bytes === undefined ? '?' : `${(bytes / MIB).toFixed(1)} MiB`);

/** Each model loaded and smoke-run in the validator's isolated child, with the version's recorded inputs. */
async function checkLoad(
  inv: Investigation,
  metadata: InstalledMetadata,
  opts: DoctorOptions,
  budget: number,
): Promise<void> {
  const dir = await realpath(inv.dir);
  const report = await validateFiles({
    files: metadata.files.map((f) => ({ ...f, localPath: join(dir, f.path) })),
    dir,
    inputShapes: metadata.inputShapes ?? {},
    ...(metadata.inputValues ? { inputValues: metadata.inputValues } : {}),
    memoryBudgetBytes: budget,
    budgetSource: 'node-memory',
    timeoutMs: opts.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS,
    executionProviders: [metadata.report?.executionProvider ?? 'cpu'],
    worker: 'doctor',
    attempt: 1,
  });
  const loaded = report.files.filter((f) => f.check === 'loaded');
  for (const f of report.files)
    if (f.error)
      inv.find(f.error.code, `load test: ${f.error.message} (peak ${mib(f.peakRssBytes)})`, f.path);
  const lines = loaded.map(
    (f) =>
      `${f.path}: ${f.ok ? 'loaded' : 'failed'}, peak ${mib(f.peakRssBytes)}, load ${Math.round(f.loadMs ?? 0)} ms, run ${Math.round(f.inferenceMs ?? 0)} ms`,
  );
  inv.check(
    'load',
    STEP.load,
    report.outcome === 'passed' ? 'ok' : 'failed',
    `${loaded.length} model(s) with onnxruntime-node ${report.runtime.version} under a ${mib(budget)} budget${lines.length ? `: ${lines.join('; ')}` : ''}`,
  );
}

/** Runs the investigation; never throws for what it finds, only for what it cannot look at. */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorResult> {
  const probes: NodeProbes = { ...nodeProbes, ...opts.probes };
  const inv = new Investigation(opts.dir, 'NAME@VERSION');
  const metadata = await manifestOf(inv);
  if (!metadata) return finish(inv, undefined);
  const ref = `${metadata.model}@${metadata.version}`;
  const withRef = new Investigation(opts.dir, ref);
  if (opts.loadOnly) {
    await checkLoad(withRef, metadata, opts, opts.loadBudgetBytes ?? (await probes.memAvailable()));
    return finish(withRef, metadata);
  }
  await checkFiles(withRef, metadata);
  await checkSignature(withRef, metadata, opts.trustedKeys, withRef.findings.length > 0);
  await checkPermissions(withRef);
  const free = opts.freeMemoryBytes ?? (await probes.memAvailable());
  await checkMemory(withRef, metadata, free);
  await checkDisk(withRef, metadata, probes);
  await checkGpu(withRef, metadata, probes);
  await checkRuntime(withRef, metadata, await probes.runtime());
  if (opts.load) {
    const integrityBroken = withRef.findings.some(
      (f) => f.code === 'FILE_MISSING' || f.code === 'CHECKSUM_MISMATCH',
    );
    if (integrityBroken)
      withRef.check('load', STEP.load, 'skipped', "the files are not the version's: fix them first");
    else await checkLoad(withRef, metadata, opts, opts.loadBudgetBytes ?? free);
  }
  return finish(withRef, metadata);
}

function finish(inv: Investigation, metadata: InstalledMetadata | undefined): DoctorResult {
  const exitCode = doctorExitCode(inv.findings);
  return {
    ok: inv.findings.length === 0,
    dir: inv.dir,
    ...(metadata
      ? {
          version: {
            model: metadata.model,
            version: metadata.version,
            seq: metadata.seq,
            provider: metadata.provider,
          },
        }
      : {}),
    findings: inv.findings,
    checks: inv.checks,
    exitCode,
  };
}
