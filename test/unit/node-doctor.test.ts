import { describe, expect, it } from 'vitest';
import {
  diskVerdict,
  doctorExitCode,
  gpuVerdict,
  isLoadErrorFinding,
  memoryVerdict,
  mostSevere,
  permissionProblem,
  runbookFix,
  runtimeVerdict,
} from '../../core/node-doctor.js';
import { MAX_INTERVAL_MS, MIN_INTERVAL_MS, nextPollDelay, parseInterval } from '../../core/node-sync.js';
import { parseRange } from '../../local/blob-endpoint.js';

const GIB = 1024 ** 3;

describe("doctor's exit code", () => {
  it('is 0 without findings and the most severe finding otherwise: 6 integrity, then 5 memory, then 7', () => {
    expect(doctorExitCode([])).toBe(0);
    expect(doctorExitCode([{ code: 'PERMISSION_DENIED' }])).toBe(7);
    expect(doctorExitCode([{ code: 'PERMISSION_DENIED' }, { code: 'INSUFFICIENT_MEMORY' }])).toBe(5);
    expect(
      doctorExitCode([
        { code: 'GPU_UNAVAILABLE' },
        { code: 'INSUFFICIENT_MEMORY' },
        { code: 'FILE_MISSING' },
      ]),
    ).toBe(6);
    expect(doctorExitCode([{ code: 'CHECKSUM_MISMATCH' }])).toBe(6);
    for (const code of [
      'INSUFFICIENT_DISK',
      'GPU_UNAVAILABLE',
      'DEPENDENCY_MISSING',
      'UNSUPPORTED_MODEL',
    ] as const)
      expect(doctorExitCode([{ code }])).toBe(7);
  });

  it('names the most severe finding, the one a field report carries', () => {
    const findings = [
      { code: 'PERMISSION_DENIED' as const, n: 1 },
      { code: 'INSUFFICIENT_MEMORY' as const, n: 2 },
    ];
    expect(mostSevere(findings)?.n).toBe(2);
    expect(mostSevere([])).toBeUndefined();
  });

  it("points every code at the runbook's step and the command that carries it out", () => {
    expect(runbookFix('FILE_MISSING', '/app/models/paddle', 'det@3')).toBe(
      'runbook "Fix: Missing Model Files": re-download with `modelgate fetch det@3 --dest /app/models/paddle`',
    );
    expect(runbookFix('PERMISSION_DENIED', '/m', 'det@3')).toContain('chmod 644');
    expect(runbookFix('INSUFFICIENT_MEMORY', '/m', 'det@3')).toContain('Fix: Insufficient Memory');
    expect(runbookFix('INFERENCE_FAILED', '/m', 'det@3')).toContain('Test model loading directly');
    expect(runbookFix('SIGNATURE_INVALID', '/m', 'det@3')).toContain(
      '`modelgate fetch det@3 --dest /m --verify-key PEM`',
    );
  });

  it('counts a bad signature as integrity (6), never sent as a field report’s load error', () => {
    expect(doctorExitCode([{ code: 'SIGNATURE_INVALID' }])).toBe(6);
    expect(doctorExitCode([{ code: 'PERMISSION_DENIED' }, { code: 'SIGNATURE_INVALID' }])).toBe(6);
    expect(isLoadErrorFinding({ code: 'SIGNATURE_INVALID' })).toBe(false);
    expect(isLoadErrorFinding({ code: 'CHECKSUM_MISMATCH' })).toBe(true);
  });
});

describe('memory and disk on the node', () => {
  it("applies the runbook's peak × 1.5 rule to MemAvailable", () => {
    expect(memoryVerdict(2 * GIB, 3 * GIB).ok).toBe(true);
    const short = memoryVerdict(2 * GIB, 3 * GIB - 1);
    expect(short.ok).toBe(false);
    expect(short.message).toBe(
      "3.00 GiB available, the version's profiled peak 2.00 GiB × 1.5 = 3.00 GiB does not fit",
    );
  });

  it('wants room for one more version of this size', () => {
    expect(diskVerdict(10 * GIB, 10 * GIB).ok).toBe(true);
    expect(diskVerdict(10 * GIB - 1, 10 * GIB).ok).toBe(false);
  });
});

describe('GPU check (on probe facts, so the CUDA case runs on any machine)', () => {
  const gpu = { nvidiaSmi: 'ok', driverLoaded: true } as const;
  it('needs no GPU for a version validated on the CPU, whatever the node has', () => {
    expect(gpuVerdict('cpu', { nvidiaSmi: 'absent', driverLoaded: false })).toMatchObject({
      needed: false,
      ok: true,
    });
  });

  it('passes a CUDA version on a node whose nvidia-smi lists a GPU and whose driver is loaded', () => {
    expect(gpuVerdict('cuda', gpu)).toMatchObject({ needed: true, ok: true });
  });

  it.each([
    [{ nvidiaSmi: 'absent', driverLoaded: false }, 'nvidia-smi is not installed and no NVIDIA kernel driver'],
    [
      { nvidiaSmi: 'failed', driverLoaded: true, detail: 'Driver/library version mismatch' },
      'nvidia-smi failed (Driver/library version mismatch) and /proc/driver/nvidia exists',
    ],
    [{ nvidiaSmi: 'ok', driverLoaded: false }, 'no NVIDIA kernel driver'],
  ] as const)('fails a CUDA version on %j', (probe, seen) => {
    const verdict = gpuVerdict('cuda', probe);
    expect(verdict.ok).toBe(false);
    expect(verdict.message).toContain('validated on cuda, but');
    expect(verdict.message).toContain(seen);
  });
});

describe('runtime check', () => {
  const base = { validatedVersion: '1.30.0', validatedProvider: 'cpu' };
  it('is ok with the same runtime and provider, and notes a different version without failing', () => {
    expect(runtimeVerdict({ ...base, nodeVersion: '1.30.0', nodeProviders: ['cpu'] })).toMatchObject({
      ok: true,
      versionDiffers: false,
    });
    const other = runtimeVerdict({ ...base, nodeVersion: '1.22.0', nodeProviders: ['cpu'] });
    expect(other).toMatchObject({ ok: true, versionDiffers: true });
    expect(other.message).toContain('onnxruntime-node 1.22.0 here, 1.30.0 at validation');
  });

  it('fails when the runtime or the validated execution provider is missing', () => {
    expect(runtimeVerdict({ ...base, nodeVersion: undefined, nodeProviders: [] }).ok).toBe(false);
    const cuda = runtimeVerdict({
      ...base,
      validatedProvider: 'cuda',
      nodeVersion: '1.30.0',
      nodeProviders: ['cpu', 'webgpu'],
    });
    expect(cuda.ok).toBe(false);
    expect(cuda.message).toContain('validated on execution provider cuda, which this runtime does not offer');
  });
});

describe("permissions, as the runbook's ls -la | grep -v rw-r--r-- sees them", () => {
  it.each([
    ['file', 0o100644, undefined],
    ['file', 0o100444, undefined],
    ['file', 0o100600, 'mode 0600: not readable by others (want 0644)'],
    ['file', 0o100640, 'mode 0640: not readable by others (want 0644)'],
    ['dir', 0o40755, undefined],
    ['dir', 0o40700, 'mode 0700: others cannot list or enter it (want 0755)'],
    ['dir', 0o40754, 'mode 0754: others cannot list or enter it (want 0755)'],
  ] as const)('%s %o → %s', (kind, mode, problem) => {
    expect(permissionProblem(kind, mode)).toBe(problem);
  });
});

describe("sync's polling", () => {
  it('polls every interval, spread by ±10 %', () => {
    expect(nextPollDelay(30_000, 0, 0)).toBe(27_000);
    expect(nextPollDelay(30_000, 0, 0.5)).toBe(30_000);
    expect(nextPollDelay(30_000, 0, 0.999_999)).toBe(33_000);
  });

  it('doubles the wait per unreachable poll, up to 16 × and at most 10 minutes', () => {
    expect([1, 2, 3, 4, 5, 9].map((f) => nextPollDelay(1000, f, 0.5))).toEqual([
      2000, 4000, 8000, 16_000, 16_000, 16_000,
    ]);
    expect(nextPollDelay(60_000, 6, 0.5)).toBe(600_000);
  });

  it('reads intervals in ms, s, m and h', () => {
    expect(parseInterval('30s')).toBe(30_000);
    expect(parseInterval('1s')).toBe(1000);
    expect(parseInterval('500ms')).toBe(500);
    expect(parseInterval('5m')).toBe(300_000);
    expect(parseInterval('2')).toBe(2000);
    expect(parseInterval('0s')).toBeUndefined();
    expect(parseInterval('soon')).toBeUndefined();
  });

  it('refuses an interval that would poll in a loop, or overflow a timer (which Node then fires after 1 ms)', () => {
    expect(parseInterval('100ms')).toBe(MIN_INTERVAL_MS);
    expect(parseInterval('480h')).toBe(MAX_INTERVAL_MS);
    for (const text of ['0.1ms', '0.4ms', '99ms', '0.01', '481h', '1000h', '99999999999999999999h'])
      expect(parseInterval(text), text).toBeUndefined();
    // The longest wait the agent may take, backed off and jittered, still fits a timer.
    expect(nextPollDelay(MAX_INTERVAL_MS, 9, 0.999_999)).toBeLessThanOrEqual(2 ** 31 - 1);
  });
});

describe("the blob endpoint's Range header", () => {
  it.each([
    [undefined, 100, undefined],
    ['bytes=0-', 100, { start: 0, end: 99 }],
    ['bytes=40-', 100, { start: 40, end: 99 }],
    ['bytes=40-49', 100, { start: 40, end: 49 }],
    ['bytes=40-1000', 100, { start: 40, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=50-40', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=0-10,20-30', 100, undefined],
    ['items=0-10', 100, undefined],
  ] as const)('%s of %i bytes → %j', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});
