import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType, TensorProto } from '../fixtures/onnx-proto.js';
import { buildControlInputModel, buildRowsModel } from '../fixtures/onnx-writer.js';
import { useServer } from './use-server.js';

/**
 * Smoke inputs that tell the truth, through the real CLI and a real server: a model with an int64 scalar
 * control input whose zero value breaks the graph, one whose dynamic dimension cannot be 1, and the
 * publisher's own inputs (`--input-value`, `--sample-inputs`), with the names checked before upload.
 */
describe('smoke inputs through the CLI', () => {
  const fixture = useServer();
  const { run } = fixture;
  const write = (name: string, bytes: Buffer) => writeFileSync(join(fixture.work, name), bytes);

  async function status(ref: string) {
    return JSON.parse((await run('status', ref, '--json')).stdout);
  }

  it('verifies a model whose int64 control input breaks the graph at 0, feeding a plausible value', async () => {
    write('chunker.onnx', buildControlInputModel());
    const published = await run('publish', 'chunker@1', 'chunker.onnx', '--wait');
    expect(published.code, published.stderr).toBe(0);
    const v = await status('chunker@1');
    expect(v.status).toBe('VERIFIED');
    const fed = v.report.files[0].fedInputs;
    expect(fed.find((f: { name: string }) => f.name === 'frames')).toMatchObject({
      shape: [],
      value: 'fill 1',
    });
    const human = await run('status', 'chunker@1');
    expect(human.stdout).toMatch(/fed frames int64\[\] fill 1 \(synthesized\)/);
  });

  it('verifies a model whose dynamic dimension cannot be 1 by probing, and shows the probe', async () => {
    write('pairs.onnx', buildRowsModel(2));
    const published = await run('publish', 'pairs@1', 'pairs.onnx', '--wait');
    expect(published.code, published.stderr).toBe(0);
    const v = await status('pairs@1');
    expect(v.status).toBe('VERIFIED');
    const [x] = v.report.files[0].fedInputs;
    expect(x).toMatchObject({ name: 'x', source: 'probe' });
    expect(x.shape[0] % 2).toBe(0);
    expect(v.report.files[0].probes[0].inputs[0].shape).toEqual([1]);
    expect((await run('status', 'pairs@1')).stdout).toMatch(
      /\d smoke run\(s\) failed before:\n +x\[1\] ramp 0\.1…0\.9 → .*Reshape/,
    );
  });

  it('fails SAMPLE_INPUTS_REQUIRED when no probe runs, then verifies with --input-shape', async () => {
    write('sevens.onnx', buildRowsModel(7));
    const refused = await run('publish', 'sevens@1', 'sevens.onnx', '--wait');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(
      /error SAMPLE_INPUTS_REQUIRED: the model loaded in \d+ ms .*--input-shape x=/s,
    );
    const given = await run('publish', 'sevens@2', 'sevens.onnx', '--input-shape', 'x=14', '--wait');
    expect(given.code, given.stderr).toBe(0);
  });

  it('runs --input-value as the publisher value and --sample-inputs as a golden file and as ONNX test data', async () => {
    write('given.onnx', buildControlInputModel());
    const valued = await run('publish', 'given@1', 'given.onnx', '--input-value', 'frames=2', '--wait');
    expect(valued.code, valued.stderr).toBe(0);
    const v1 = await status('given@1');
    expect(v1.inputValues).toEqual({ frames: 2 });
    expect(v1.report.files[0].fedInputs.find((f: { name: string }) => f.name === 'frames')).toMatchObject({
      value: 'fill 2',
      source: 'publisher',
    });

    const golden = {
      inputs: {
        x: { type: 'float32', dims: [4], data: [1, 2, 3, 4] },
        frames: { type: 'int64', dims: [], data: [2] },
      },
      outputs: { y: { dims: [2, 2], data: [1, 2, 3, 4] } },
    };
    writeFileSync(join(fixture.work, 'samples.json'), JSON.stringify(golden));
    const sampled = await run(
      'publish',
      'given@2',
      'given.onnx',
      '--sample-inputs',
      'samples.json',
      '--wait',
    );
    expect(sampled.code, sampled.stderr).toBe(0);
    const v2 = await status('given@2');
    expect(v2.files.map((f: { path: string }) => f.path)).toContain('given.golden.json');
    expect(v2.report.files[0].golden.outputs).toEqual([{ name: 'y', maxAbsDiff: 0 }]);

    const set = join(fixture.work, 'data', 'test_data_set_0');
    mkdirSync(set, { recursive: true });
    const tensor = (name: string, dataType: number, dims: number[], field: Record<string, unknown>) =>
      Buffer.from(TensorProto.encode(TensorProto.fromObject({ name, dims, dataType, ...field })).finish());
    writeFileSync(join(set, 'input_0.pb'), tensor('x', DataType.FLOAT, [4], { floatData: [1, 2, 3, 4] }));
    writeFileSync(join(set, 'input_1.pb'), tensor('frames', DataType.INT64, [], { int64Data: [4] }));
    writeFileSync(join(set, 'output_0.pb'), tensor('y', DataType.FLOAT, [1, 4], { floatData: [1, 2, 3, 4] }));
    const folder = await run(
      'publish',
      'given@3',
      'given.onnx',
      '--sample-inputs',
      join(fixture.work, 'data'),
      '--wait',
    );
    expect(folder.code, folder.stderr).toBe(0);
    const v3 = await status('given@3');
    expect(v3.files.map((f: { path: string }) => f.path)).toContain('test_data_set_0/input_1.pb');
    expect(v3.report.files[0].fedInputs.map((f: { source: string }) => f.source)).toEqual([
      'sample',
      'sample',
    ]);
  });

  it('verifies onnx test data whose output is a sequence, in the model folder or as --sample-inputs', async () => {
    // onnx's own test_if_seq: a bool in, a sequence out; output_0.pb is a SequenceProto, once read as a tensor.
    const data = join(import.meta.dirname, '../fixtures/onnx-test-data/test_if_seq');
    const folder = join(fixture.work, 'if-seq');
    cpSync(data, folder, { recursive: true });
    const published = await run('publish', 'if-seq@1', folder, '--wait');
    expect(published.code, published.stderr).toBe(0);
    const v1 = await status('if-seq@1');
    expect(v1.status).toBe('VERIFIED');
    expect(v1.files.map((f: { path: string }) => f.path)).toContain('test_data_set_0/output_0.pb');
    expect(v1.report.files[0].notes[0]).toMatch(
      /^test_data_set_0 was not run: the model has no tensor output onnxruntime-node can return/,
    );
    write('if-seq.onnx', readFileSync(join(data, 'model.onnx')));
    const sampled = await run('publish', 'if-seq@2', 'if-seq.onnx', '--sample-inputs', data, '--wait');
    expect(sampled.code, sampled.stderr).toBe(0);
    expect((await status('if-seq@2')).status).toBe('VERIFIED');
  });

  it('refuses names that are not inputs of the version before uploading anything (exit 2)', async () => {
    write('named.onnx', buildControlInputModel());
    const shape = await run('publish', 'named@1', 'named.onnx', '--input-shape', 'image=1,3,960,960');
    expect(shape.code).toBe(2);
    expect(shape.stderr).toMatch(
      /--input-shape names "image", not an input of any model of this version: named\.onnx has x, frames/,
    );
    const value = await run('publish', 'named@1', 'named.onnx', '--input-value', 'sr=16000');
    expect(value.code).toBe(2);
    expect(value.stderr).toMatch(/--input-value names "sr"/);
    const rank = await run('publish', 'named@1', 'named.onnx', '--input-shape', 'x=1,4');
    expect(rank.code).toBe(2);
    expect(rank.stderr).toMatch(/input "x" has rank 1/);
    // Nothing was created: the model does not exist.
    expect((await run('status', 'named@1', '--json')).code).not.toBe(0);
  });
});
