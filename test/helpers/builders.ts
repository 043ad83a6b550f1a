import { createHash } from 'node:crypto';
import type { Model } from '../../schemas/model.schema.js';
import type { FileReport, ValidationReport } from '../../schemas/report.schema.js';
import type { ManifestFile, Version } from '../../schemas/version.schema.js';

/**
 * Builders for the registry's records in tests: each returns a valid record with neutral values, and a
 * test states only what it is about in `overrides`. One place to change when a record gains a required
 * field, instead of every literal that spells one out by hand.
 */

/** A fixed instant for records whose times do not matter (ISO 8601). */
export const BUILT_AT = '2024-01-20T00:00:00Z';

/** Model `m` of provider `p`. */
export function aModel(overrides: Partial<Model> = {}): Model {
  return { name: 'm', provider: 'p', description: '', tags: [], createdAt: BUILT_AT, ...overrides };
}

/** One manifest entry: `model.onnx`, 1000 bytes, placeholder digests (`a…` sha256, `b…` md5). */
export function aManifestFile(overrides: Partial<ManifestFile> = {}): ManifestFile {
  return {
    path: 'model.onnx',
    size: 1000,
    sha256: 'a'.repeat(64),
    md5: 'b'.repeat(32),
    format: 'onnx',
    ...overrides,
  };
}

/** `n` distinct files with distinct digests, as a sharded model has them (`weights/shard-00000.bin`, …). */
export function aShardedManifest(n: number): ManifestFile[] {
  return Array.from({ length: n }, (_, i) => ({
    path: `weights/shard-${String(i).padStart(5, '0')}.bin`,
    size: 1000 + i,
    sha256: createHash('sha256').update(`s${i}`).digest('hex'),
    md5: createHash('md5').update(`m${i}`).digest('hex'),
    format: 'other' as const,
  }));
}

/**
 * A version as `createVersion` takes it (no `seq`): `m@1` of provider `p`, UPLOADED, no files unless
 * given, `totalSize` the sum of the files' sizes unless given, never attempted.
 */
export function aNewVersion(overrides: Partial<Omit<Version, 'seq'>> = {}): Omit<Version, 'seq'> {
  const files = overrides.files ?? [];
  const at = overrides.createdAt ?? BUILT_AT;
  return {
    model: 'm',
    version: '1',
    provider: 'p',
    status: 'UPLOADED',
    files,
    totalSize: files.reduce((sum, f) => sum + f.size, 0),
    inputShapes: {},
    publisher: 'test',
    createdAt: at,
    updatedAt: overrides.updatedAt ?? at,
    validation: { attempts: 0 },
    ...overrides,
  };
}

/** A stored version: `aNewVersion` with `seq` 1 unless given. */
export function aVersion(overrides: Partial<Version> = {}): Version {
  const { seq = 1, ...rest } = overrides;
  return { ...aNewVersion(rest), seq };
}

/** A file's report: `model.onnx` loaded and passed, with no measurements. */
export function aFileReport(overrides: Partial<FileReport> = {}): FileReport {
  return {
    path: 'model.onnx',
    sha256: 'a'.repeat(64),
    size: 1000,
    format: 'onnx',
    check: 'loaded',
    ok: true,
    inputs: [],
    outputs: [],
    ...overrides,
  };
}

/** A passed validation report on the CPU by worker `w`, attempt 1, with no files and zero totals. */
export function aReport(overrides: Partial<ValidationReport> = {}): ValidationReport {
  return {
    outcome: 'passed',
    runtime: { name: 'onnxruntime-node', version: 'test' },
    executionProvider: 'cpu',
    worker: 'w',
    attempt: 1,
    startedAt: BUILT_AT,
    finishedAt: BUILT_AT,
    durationMs: 0,
    memoryBudgetBytes: 1024 ** 3,
    files: [],
    totals: { loadMs: 0, inferenceMs: 0, peakRssBytes: 0 },
    nodeClasses: [],
    ...overrides,
  };
}
