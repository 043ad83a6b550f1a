import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkExternalData, validateFiles } from '../../gpu-validator/engine.js';
import { ValidationReport } from '../../schemas/report.schema.js';
import {
  buildGguf,
  buildPytorchZip,
  buildSafetensors,
  buildZip,
  convertToOrt,
} from '../fixtures/model-formats.js';
import { buildMlpModel, encodeModel, valueInfo } from '../fixtures/onnx-writer.js';
import { engineInput, type FixtureFile, layOutVersion } from '../fixtures/version-files.js';

/**
 * The cases of test/fixtures/cases (small versions that modelgate once judged wrongly, each a kind of
 * fault) and their siblings, validated by the real engine: real inspectors, real onnxruntime-node.
 */

const CASES = join(import.meta.dirname, '../fixtures/cases');

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'validator-cases-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function caseFiles(name: string): FixtureFile[] {
  const base = join(CASES, name, 'version');
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) =>
      statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)],
    );
  return walk(base).map((p) => ({ path: relative(base, p).split('\\').join('/'), bytes: readFileSync(p) }));
}

async function validate(files: FixtureFile[]) {
  const dir = mkdtempSync(join(root, 'v-'));
  const report = await validateFiles(engineInput(layOutVersion(dir, files), dir));
  ValidationReport.parse(report);
  return report;
}

describe('the cases', () => {
  it('fp16-type-mismatch: a graph whose types contradict is MODEL_INVALID, not corruption', async () => {
    const report = await validate(caseFiles('fp16-type-mismatch'));
    expect(report.error).toMatchObject({ code: 'MODEL_INVALID', file: 'model.onnx' });
    expect(report.error?.message).toMatch(/Type Error/);
    // The runtime names the scratch copy it opened; the publisher is told the version's own path.
    expect(report.error?.message).toContain('Load model from model.onnx failed');
    expect(report.error?.message).not.toMatch(/\/tmp\/|scratch/);
  });

  it('ext-dotdot-inside: external data under ../ is refused in the pre-check, stating the rule', async () => {
    const report = await validate(caseFiles('ext-dotdot-inside'));
    expect(report.error).toMatchObject({ code: 'MODEL_INVALID', file: 'det/model.onnx' });
    expect(report.error?.message).toContain("external data must lie in the model's folder or below it");
    // The pre-check decided: no load was attempted.
    expect(report.files.find((f) => f.path === 'det/model.onnx')?.loadMs).toBeUndefined();
  });

  it('git-lfs-pointer: FILE_MISSING, telling to git lfs pull', async () => {
    const report = await validate(caseFiles('git-lfs-pointer'));
    expect(report.error).toMatchObject({ code: 'FILE_MISSING' });
    expect(report.error?.message).toContain(
      'a Git LFS pointer, not the model: fetch the real file (git lfs pull)',
    );
    expect(report.files[0]?.detectedFormat).toBe('git-lfs-pointer');
  });

  it('pytorch-zip-as-onnx: MODEL_CORRUPTED naming a zip / PyTorch checkpoint, no byte offsets', async () => {
    const report = await validate(caseFiles('pytorch-zip-as-onnx'));
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    expect(report.error?.message).toMatch(/zip archive.*PyTorch checkpoint/);
    expect(report.error?.message).not.toMatch(/byte \d/);
    expect(report.files[0]?.detectedFormat).toBe('zip');
  });

  it('no-onnx-zero-byte-pt: a zero-byte model file is MODEL_CORRUPTED, and nothing was load-tested', async () => {
    const report = await validate(caseFiles('no-onnx-zero-byte-pt'));
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED', file: 'model.pt' });
    expect(report.error?.message).toContain('0 bytes');
    expect(report.loadTested).toBe(false);
  });

  it('ort-format-garbage: a .ort file is loaded by onnxruntime, and garbage fails MODEL_CORRUPTED', async () => {
    const report = await validate(caseFiles('ort-format-garbage'));
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED', file: 'model.ort' });
    expect(report.error?.message).toMatch(/ORT model verification failed/);
    expect(report.files[0]?.check).toBe('loaded');
  });

  it('inspector-negative-length: MODEL_CORRUPTED at once, naming the length that runs backwards', async () => {
    const started = performance.now();
    const report = await validate(caseFiles('inspector-negative-length'));
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED', file: 'model.onnx' });
    // Plain words for the publisher; the reader's byte-level account is kept as the detail.
    expect(report.error?.message).toMatch(/model.onnx is not a readable ONNX model: its contents break off/);
    expect(report.error?.message).not.toMatch(/byte/);
    expect(report.error?.detail).toMatch(/field of -2048 bytes at byte 2048 runs past/);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(report.files[0]?.loadMs).toBeUndefined();
  });
});

describe('siblings of the cases', () => {
  const mlp = () => buildMlpModel({ layers: 1, dim: 4 });

  it('a model file that is empty on disk but not in the manifest gets integrity\'s verdict, not "empty model"', async () => {
    const dir = mkdtempSync(join(root, 'v-'));
    const [file] = layOutVersion(dir, [{ path: 'model.onnx', bytes: mlp() }]);
    writeFileSync(file!.localPath, '');
    const report = await validateFiles(engineInput([file!], dir));
    expect(report.error).toMatchObject({ code: 'FILE_MISSING', file: 'model.onnx' });
    expect(report.error?.message).not.toContain('empty (0 bytes)');
  });

  it('a safetensors file whose bytes changed after publishing is CHECKSUM_MISMATCH, hashed once before inspection', async () => {
    const dir = mkdtempSync(join(root, 'v-'));
    const bytes = buildSafetensors([{ name: 'w', dtype: 'F32', shape: [4] }]);
    const [file] = layOutVersion(dir, [{ path: 'w.safetensors', bytes }]);
    const damaged = Buffer.from(bytes);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 1, damaged.length - 1);
    writeFileSync(file!.localPath, damaged);
    const report = await validateFiles(engineInput([file!], dir));
    expect(report.error).toMatchObject({ code: 'CHECKSUM_MISMATCH', file: 'w.safetensors' });
  });

  it('an HTML page named .onnx or .safetensors is FILE_MISSING, a downloaded error page', async () => {
    for (const path of ['model.onnx', 'model.safetensors']) {
      const report = await validate([
        { path, bytes: '<!DOCTYPE html>\n<html><body>404 Not Found</body></html>' },
      ]);
      expect(report.error).toMatchObject({ code: 'FILE_MISSING', file: path });
      expect(report.error?.message).toContain('a downloaded error page');
    }
  });

  it('a Git LFS pointer fails the version whatever its extension (.bin, .json)', async () => {
    const pointer = readFileSync(join(CASES, 'git-lfs-pointer/version/model.onnx'));
    for (const path of ['weights.bin', 'tokenizer.json']) {
      const report = await validate([
        { path: 'model.onnx', bytes: mlp() },
        { path, bytes: pointer },
      ]);
      expect(report.outcome).toBe('failed');
      expect(report.error).toMatchObject({ code: 'FILE_MISSING', file: path });
    }
  });

  it('a safetensors or GGUF file named .onnx is MODEL_CORRUPTED naming what it is', async () => {
    const st = await validate([
      { path: 'model.onnx', bytes: buildSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2] }]) },
    ]);
    expect(st.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    expect(st.error?.message).toContain('a safetensors file');
    const gguf = await validate([{ path: 'model.onnx', bytes: buildGguf([{ name: 'w', dims: [4] }]) }]);
    expect(gguf.error?.message).toContain('a GGUF model');
  });

  it('a valid safetensors file is inspected: tensors counted, total bytes as the static estimate, not load-tested', async () => {
    const report = await validate([
      {
        path: 'model.safetensors',
        bytes: buildSafetensors([
          { name: 'a', dtype: 'F32', shape: [4, 4] },
          { name: 'b', dtype: 'F16', shape: [8] },
        ]),
      },
    ]);
    expect(report.outcome).toBe('passed');
    expect(report.loadTested).toBe(false);
    expect(report.files[0]).toMatchObject({ check: 'inspected', detectedFormat: 'safetensors' });
    expect(report.files[0]?.inspection).toMatchObject({ tensorCount: 2, staticMemoryEstimateBytes: 64 + 16 });
  });

  it('a truncated safetensors file is MODEL_CORRUPTED naming the tensor it cut', async () => {
    const whole = buildSafetensors([
      { name: 'a', dtype: 'F32', shape: [4] },
      { name: 'layer.weight', dtype: 'F32', shape: [64] },
    ]);
    const report = await validate([
      { path: 'model.safetensors', bytes: whole.subarray(0, whole.length - 10) },
    ]);
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    expect(report.error?.message).toContain('"layer.weight"');
    expect(report.error?.message).toContain('truncated');
  });

  it('a GGUF file: header and tensor table checked; truncated data names the tensor', async () => {
    const whole = buildGguf([
      { name: 'tok_embd', dims: [8, 4] },
      { name: 'output', dims: [16, 4] },
    ]);
    const ok = await validate([{ path: 'm.gguf', bytes: whole }]);
    expect(ok.outcome).toBe('passed');
    expect(ok.files[0]).toMatchObject({ check: 'inspected', detectedFormat: 'gguf' });
    expect(ok.files[0]?.inspection).toMatchObject({ version: 3, tensorCount: 2, architecture: 'llama' });
    const cut = await validate([{ path: 'm.gguf', bytes: whole.subarray(0, whole.length - 32) }]);
    expect(cut.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    expect(cut.error?.message).toContain('"output"');
  });

  it('a PyTorch zip checkpoint (.pt, .bin) passes inspected; without data.pkl or truncated it is MODEL_CORRUPTED', async () => {
    const good = await validate([{ path: 'model.pt', bytes: buildPytorchZip() }]);
    expect(good.outcome).toBe('passed');
    expect(good.files[0]).toMatchObject({ check: 'inspected', detectedFormat: 'pytorch-zip' });
    const noPkl = await validate([{ path: 'pytorch_model.bin', bytes: buildPytorchZip(false) }]);
    expect(noPkl.error).toMatchObject({ code: 'MODEL_CORRUPTED', file: 'pytorch_model.bin' });
    expect(noPkl.error?.message).toContain('data.pkl');
    const zip = buildPytorchZip();
    const cut = await validate([{ path: 'model.pth', bytes: zip.subarray(0, zip.length - 30) }]);
    expect(cut.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    expect(cut.error?.message).toMatch(/zip archive/);
  });

  it('a .pt that is neither zip nor pickle is MODEL_CORRUPTED; an ordinary .bin stays integrity-only', async () => {
    const pt = await validate([{ path: 'model.pt', bytes: 'not a checkpoint' }]);
    expect(pt.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    const bin = await validate([
      { path: 'model.onnx', bytes: mlp() },
      { path: 'vocab.bin', bytes: Buffer.from([1, 2, 3]) },
    ]);
    expect(bin.outcome).toBe('passed');
    expect(bin.files[1]?.check).toBe('integrity-only');
    expect(bin.loadTested).toBe(true);
  });

  it('an element type ONNX does not define (999) is MODEL_INVALID in the pre-check', async () => {
    const bytes = encodeModel({
      nodes: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
      initializers: [],
      inputs: [valueInfo('x', 999, [1, 4])],
      outputs: [valueInfo('y', 999, [1, 4])],
    });
    const report = await validate([{ path: 'model.onnx', bytes }]);
    expect(report.error).toMatchObject({ code: 'MODEL_INVALID' });
    expect(report.error?.message).toContain('element type 999');
  });

  it('a bfloat16 graph input or output fails UNSUPPORTED_MODEL naming the Node binding, not a missing kernel', async () => {
    const identity = (type: number) =>
      encodeModel({
        nodes: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
        initializers: [],
        inputs: [valueInfo('x', type, [1, 4])],
        outputs: [valueInfo('y', type, [1, 4])],
      });
    // onnxruntime-node's InferenceSession.create throws "Unsupported data type: 16" after the runtime has
    // created the session: its JS side has no name for bfloat16. A node serving through it fails the same way.
    const bf16 = await validate([{ path: 'bf16.onnx', bytes: identity(16) }]);
    expect(bf16.outcome).toBe('failed');
    expect(bf16.error?.code).toBe('UNSUPPORTED_MODEL');
    expect(bf16.error?.message).toMatch(
      /^onnxruntime \S+ loads this graph, but onnxruntime-node cannot create a session for it: its inputs or outputs include "x" \(bfloat16\), "y" \(bfloat16\).*with a Cast at each/,
    );
    expect(bf16.error?.message).not.toContain('no kernel');
    expect(bf16.files[0]?.inputs).toEqual([{ name: 'x', type: 'bfloat16', shape: [1, 4] }]);
    // The same element type where the runtime really has no kernel: the runtime's own words, not the binding's.
    const add = encodeModel({
      nodes: [{ opType: 'Add', input: ['x', 'x'], output: ['y'] }],
      initializers: [],
      inputs: [valueInfo('x', 16, [1, 4])],
      outputs: [valueInfo('y', 16, [1, 4])],
    });
    const noKernel = await validate([{ path: 'add.onnx', bytes: add }]);
    expect(noKernel.error).toMatchObject({ code: 'UNSUPPORTED_MODEL' });
    expect(noKernel.error?.message).toContain('Could not find an implementation for Add(14)');
    // bfloat16 inside the graph only: an ordinary model, loaded and smoke-run.
    const inside = encodeModel({
      nodes: [
        { opType: 'Cast', input: ['x'], output: ['b'], attribute: [{ name: 'to', type: 2, i: 16 }] },
        { opType: 'Cast', input: ['b'], output: ['y'], attribute: [{ name: 'to', type: 2, i: 1 }] },
      ],
      initializers: [],
      inputs: [valueInfo('x', 1, [1, 4])],
      outputs: [valueInfo('y', 1, [1, 4])],
    });
    const ran = await validate([{ path: 'inside.onnx', bytes: inside }]);
    expect(ran.outcome).toBe('passed');
    expect(ran.files[0]?.smokeRun).toBe('ran');
  });

  it('bound types that contradict each other are MODEL_INVALID, not corruption', async () => {
    const mixed = encodeModel({
      nodes: [{ opType: 'Add', input: ['x', 'z'], output: ['y'] }],
      initializers: [],
      inputs: [valueInfo('x', 1, [1, 4]), valueInfo('z', 7, [1, 4])],
      outputs: [valueInfo('y', 1, [1, 4])],
    });
    const bound = await validate([{ path: 'mixed.onnx', bytes: mixed }]);
    expect(bound.error).toMatchObject({ code: 'MODEL_INVALID' });
    expect(bound.error?.message).toContain('bound to different types');
  });

  it('a real ORT-format model (converted by onnxruntime) is loaded and smoke-run like .onnx', async () => {
    const onnxPath = join(root, 'for-ort.onnx');
    writeFileSync(onnxPath, mlp());
    const ort = convertToOrt(onnxPath, join(root, 'converted.ort'));
    expect(ort.toString('latin1', 4, 8)).toBe('ORTM');
    const report = await validate([{ path: 'model.ort', bytes: ort }]);
    expect(report.outcome).toBe('passed');
    expect(report.loadTested).toBe(true);
    expect(report.files[0]).toMatchObject({ check: 'loaded', detectedFormat: 'ort', ok: true });
    expect(report.files[0]?.loadMs).toBeGreaterThan(0);
    expect(report.files[0]?.inputs.map((i) => i.name)).toEqual(['input']);
  });

  it('an ONNX protobuf named .ort is refused telling to name it .onnx', async () => {
    const report = await validate([{ path: 'model.ort', bytes: mlp() }]);
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED', file: 'model.ort' });
    expect(report.error?.message).toContain('name it .onnx');
    expect(report.files[0]?.detectedFormat).toBe('onnx');
  });

  it('a zip archive named .ort is refused as what it is', async () => {
    const report = await validate([{ path: 'model.ort', bytes: buildZip([{ name: 'a', data: 'b' }]) }]);
    expect(report.error).toMatchObject({ code: 'MODEL_CORRUPTED' });
    expect(report.error?.message).toContain('a zip archive');
  });

  it('loads each distinct blob once: a second path with the same bytes reuses the first report', async () => {
    const bytes = mlp();
    const report = await validate([
      { path: 'a/model.onnx', bytes },
      { path: 'b/model.onnx', bytes },
    ]);
    expect(report.outcome).toBe('passed');
    const [a, b] = report.files;
    expect(b?.path).toBe('b/model.onnx');
    expect(b?.loadMs).toBe(a?.loadMs);
    expect(b?.peakRssBytes).toBe(a?.peakRssBytes);
    expect(b?.notes?.at(-1)).toContain('same bytes as a/model.onnx');
  });

  it('does not reuse a report for a copy that has its own golden file', async () => {
    const bytes = mlp();
    const golden = JSON.stringify({
      inputs: { input: { type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] } },
      outputs: { output: { dims: [1, 4], data: [0, 0, 0, 0] } },
      tolerance: 1e-6,
    });
    const report = await validate([
      { path: 'a/model.onnx', bytes },
      { path: 'b/model.onnx', bytes },
      { path: 'b/model.golden.json', bytes: golden },
    ]);
    const b = report.files.find((f) => f.path === 'b/model.onnx');
    expect(b?.notes ?? []).not.toContainEqual(expect.stringContaining('same bytes as'));
    expect(b?.golden?.file).toBe('b/model.golden.json');
  });
});

describe('checkExternalData: onnxruntime’s folder rule, in the pre-check', () => {
  const files = [
    {
      path: 'det/model.onnx',
      size: 100,
      sha256: 'a'.repeat(64),
      md5: 'b'.repeat(32),
      format: 'onnx' as const,
    },
    {
      path: 'det/sub/w.bin',
      size: 64,
      sha256: 'c'.repeat(64),
      md5: 'd'.repeat(32),
      format: 'other' as const,
    },
    { path: 'w.bin', size: 64, sha256: 'c'.repeat(64), md5: 'd'.repeat(32), format: 'other' as const },
  ];
  const check = (location: string) =>
    checkExternalData(
      'det/model.onnx',
      { externalData: [{ tensor: 'W', location, offset: 0, length: 64 }] },
      files,
    );

  it('refuses a location outside the model folder, however it is written, as MODEL_INVALID stating the rule', () => {
    for (const location of ['../w.bin', 'sub/../../w.bin', '/etc/passwd', '..']) {
      const refusal = check(location);
      expect(refusal?.code, location).toBe('MODEL_INVALID');
      expect(refusal?.message).toContain("external data must lie in the model's folder or below it");
    }
  });

  it('accepts the folder or below it; a location there that is not a file of the version is FILE_MISSING', () => {
    expect(check('sub/w.bin')).toBeUndefined();
    expect(check('./sub/../sub/w.bin')).toBeUndefined();
    expect(check('other.bin')?.code).toBe('FILE_MISSING');
  });
});
