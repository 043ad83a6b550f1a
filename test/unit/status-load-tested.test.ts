import { describe, expect, it } from 'vitest';
import { describeVersion, loadTestedFields } from '../../cli/commands/status.command.js';
import { INTEGRITY_ONLY, wasLoadTested } from '../../core/failure-explanations.js';
import type { FileReport, ValidationReport } from '../../schemas/report.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { aFileReport, aManifestFile, aReport, aVersion } from '../helpers/builders.js';

/** Nothing may say a version passed a runtime unless a runtime loaded one of its files. */

const NOW = '2026-01-01T00:00:00.000Z';

function file(path: string, check: FileReport['check'], extra: Partial<FileReport> = {}): FileReport {
  return aFileReport({ path, size: 10, format: 'other', check, ...extra });
}

function version(files: FileReport[], loadTested?: boolean): Version {
  const report = aReport({
    ...(loadTested === undefined ? {} : { loadTested }),
    runtime: { name: 'onnxruntime-node', version: '1.30.0' },
    startedAt: NOW,
    finishedAt: NOW,
    durationMs: 12,
    files,
  });
  return aVersion({
    model: 'm',
    version: '1.0.0',
    status: 'VERIFIED',
    files: files.map((f) => aManifestFile({ path: f.path, size: 10, sha256: f.sha256, format: 'other' })),
    createdAt: NOW,
    validation: { attempts: 1 },
    report,
  });
}

describe('integrity-only versions', () => {
  it('status says "integrity only" and never names the runtime for a version no runtime loaded', () => {
    const v = version([file('model.pt', 'inspected', { detectedFormat: 'pytorch-zip' })], false);
    const text = describeVersion(v);
    expect(text).toContain(INTEGRITY_ONLY);
    expect(text).not.toContain('on onnxruntime-node');
    expect(text).toContain('structure inspected (pytorch-zip), not loaded by a runtime');
    expect(loadTestedFields(v)).toEqual({ loadTested: false, note: INTEGRITY_ONLY });
  });

  it('a version with a loaded file says which runtime passed it', () => {
    const v = version([file('model.onnx', 'loaded', { loadMs: 3, inferenceMs: 1 })], true);
    expect(describeVersion(v)).toContain('validation: passed on onnxruntime-node 1.30.0');
    expect(loadTestedFields(v)).toEqual({ loadTested: true });
  });

  it('judges reports written before loadTested existed by their files', () => {
    expect(wasLoadTested(version([file('a.txt', 'integrity-only')]).report as ValidationReport)).toBe(false);
    expect(wasLoadTested(version([file('m.onnx', 'loaded')]).report as ValidationReport)).toBe(true);
    // a smoke run that failed after the load still ran on the runtime; a file refused before it did not
    const afterLoad = file('m.onnx', 'loaded', {
      ok: false,
      loadMs: 5,
      error: { code: 'INFERENCE_FAILED', message: 'x' },
    });
    expect(wasLoadTested(version([afterLoad]).report as ValidationReport)).toBe(true);
    const refused = file('m.onnx', 'loaded', {
      ok: false,
      error: { code: 'MODEL_CORRUPTED', message: '0 bytes' },
    });
    expect(wasLoadTested(version([refused]).report as ValidationReport)).toBe(false);
  });
});

describe('a FAILED version', () => {
  it('shows what was measured before the failure, and never a peak that was not measured', () => {
    const failedFile = file('model.onnx', 'loaded', {
      ok: false,
      loadMs: 40,
      error: { code: 'MODEL_CORRUPTED', message: 'the file ends inside a field' },
    });
    const v = { ...version([failedFile], true), status: 'FAILED' } as Version;
    v.report = { ...v.report!, outcome: 'failed' };
    const text = describeVersion(v);
    expect(text).toContain('validation: failed on onnxruntime-node 1.30.0 (cpu), 12 ms, budget 1.0 GiB');
    expect(text).not.toContain('peak RSS 0 B');
    expect(text).not.toMatch(/[^0-9.]0 B/);
  });

  it('shows the peak when one was measured', () => {
    const v = version(
      [file('model.onnx', 'loaded', { loadMs: 3, inferenceMs: 1, peakRssBytes: 2 << 20 })],
      true,
    );
    v.report = { ...v.report!, totals: { loadMs: 3, inferenceMs: 1, peakRssBytes: 2 << 20 } };
    const text = describeVersion(v);
    expect(text).toContain('peak RSS 2.0 MiB');
    expect(text).toContain('load 3 ms, run 1.0 ms, peak 2.0 MiB');
  });
});
