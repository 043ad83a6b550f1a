import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateFiles } from '../../gpu-validator/engine.js';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { compareSample, findSampleSet, readSampleSet } from '../../gpu-validator/sample-io.js';
import { describeType, readDeclaredTypes } from '../../gpu-validator/value-types.js';
import { type FileReport, ValidationReport } from '../../schemas/report.schema.js';
import {
  ContainedType,
  DataType,
  OptionalProto,
  SequenceProto,
  TensorProto,
} from '../fixtures/onnx-proto.js';
import { encodeModel, valueInfo } from '../fixtures/onnx-writer.js';
import { engineInput, type FixtureFile, layOutVersion, manifestEntry } from '../fixtures/version-files.js';

/**
 * Sample sets whose files are not all TensorProtos: `input_K.pb` / `output_K.pb` is a SequenceProto or an
 * OptionalProto where the model's K-th input or output is one, and reading it as a TensorProto failed good
 * models CONFIG_INVALID. The verdict must be bare onnxruntime-node's: each case is also loaded (and run,
 * where the runtime can) by onnxruntime-node directly, with nothing of the validator in between.
 */

const DATA = join(import.meta.dirname, '../fixtures/onnx-test-data');

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sample-kinds-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) =>
    statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)],
  );
}

/** Validates a copied onnx test folder (model.onnx + test_data_set_0) as a version, with the real engine. */
async function validateOnnxTest(name: string): Promise<FileReport> {
  const dir = mkdtempSync(join(root, `${name}-`));
  cpSync(join(DATA, name), dir, { recursive: true });
  const files = walk(dir).map((p) => {
    const path = relative(dir, p).split('\\').join('/');
    return {
      ...manifestEntry(path, readFileSync(p), path.endsWith('.onnx') ? 'onnx' : 'other'),
      localPath: p,
    };
  });
  const report = await validateFiles(engineInput(files, dir));
  expect(ValidationReport.parse(report)).toEqual(report);
  expect(report.error).toBeUndefined();
  expect(report.outcome).toBe('passed');
  return report.files.find((f) => f.path === 'model.onnx') as FileReport;
}

async function validate(files: FixtureFile[]) {
  const dir = mkdtempSync(join(root, 'v-'));
  const report = await validateFiles(engineInput(layOutVersion(dir, files), dir));
  ValidationReport.parse(report);
  return report;
}

/** Bare onnxruntime-node on the copied folder: the session, and a run's rejection message ('' if it ran). */
async function bare(name: string, feeds: Record<string, ort.Tensor>, fetches?: string[]) {
  const session = await ort.InferenceSession.create(join(DATA, name, 'model.onnx'));
  const run = fetches ? session.run(feeds, fetches) : session.run(feeds);
  const error = await run.then(
    () => '',
    (e: Error) => e.message,
  );
  return { session, error, results: error ? undefined : await run };
}

const pb = (name: string, file: string) => readFileSync(join(DATA, name, 'test_data_set_0', file));

describe('onnx test data with sequence and optional values (copied from onnx)', () => {
  it('reads each file by the declared type of its slot', () => {
    const declared = readDeclaredTypes(join(DATA, 'test_sequence_insert_at_back', 'model.onnx'));
    expect(declared.inputs.map((i) => `${i.name}: ${describeType(i.type)}`)).toEqual([
      'sequence: sequence(tensor(int64))',
      'tensor: tensor(int64)',
    ]);
    expect(declared.outputs.map((o) => describeType(o.type))).toEqual(['sequence(tensor(int64))']);
    const identity = readDeclaredTypes(join(DATA, 'test_identity_opt', 'model.onnx'));
    expect(describeType(identity.inputs[0]?.type ?? { kind: 'unknown' })).toBe(
      'optional(sequence(tensor(float32)))',
    );
    const files = walk(join(DATA, 'test_sequence_insert_at_back')).map((p) => ({
      path: relative(join(DATA, 'test_sequence_insert_at_back'), p),
      localPath: p,
    }));
    const set = findSampleSet('model.onnx', files);
    expect(set).toBeDefined();
    const reading = readSampleSet(set as NonNullable<typeof set>, declared);
    expect(reading.unfeedable).toBe(
      'input "sequence" is sequence(tensor(int64)); onnxruntime-node can feed tensors only',
    );
    expect(reading.inputs).toEqual([]);
    expect(reading.inputNames).toEqual(['sequence', 'tensor']);
    expect(reading.skipped).toEqual([
      'test_data_set_0/output_0.pb not compared: output "output_sequence" is sequence(tensor(int64)); onnxruntime-node returns tensors only',
    ]);
  });

  it('test_if_seq: a sequence output, nothing to fetch: the set is not run and the model is VERIFIED, as bare onnxruntime-node can load but not return it', async () => {
    const file = await validateOnnxTest('test_if_seq');
    expect(file.smokeRun).toBe('skipped');
    expect(file.notes?.[0]).toBe(
      'test_data_set_0 was not run: the model has no tensor output onnxruntime-node can return. The smoke run falls back to synthesized inputs, as without it',
    );
    const cond = new ort.Tensor('bool', Uint8Array.from([1]), []);
    expect((await bare('test_if_seq', { cond })).error).toMatch(
      /Non tensor type is temporarily not supported/,
    );
  });

  for (const [name, input] of [
    ['test_sequence_insert_at_back', 'sequence'],
    ['test_sequence_map_extract_shapes_expanded', 'in_seq'],
    ['test_identity_opt', 'opt_in'],
  ] as const) {
    it(`${name}: the sequence input "${input}" cannot be fed, so the set is not run and the model is VERIFIED on its load, as bare onnxruntime-node cannot feed it either`, async () => {
      const file = await validateOnnxTest(name);
      expect(file.smokeRun).toBe('skipped');
      expect(file.loadMs).toBeGreaterThan(0);
      expect(file.notes?.[0]).toMatch(
        new RegExp(`^test_data_set_0 was not run: input "${input}" is (optional\\()?sequence\\(tensor`),
      );
      expect(file.notes?.[1]).toMatch(
        /^smoke run skipped: input ".+" is a sequence; onnxruntime-node can feed tensors only/,
      );
      const { session, error } = await bare(name, {});
      expect(session.inputMetadata.find((m) => m.name === input)?.isTensor).toBe(false);
      expect(error).toMatch(new RegExp(`input '${input}' is missing in 'feeds'`));
    });
  }

  it('test_optional_get_element: an optional input holding a tensor is fed that tensor and its output compared, as bare onnxruntime-node computes it', async () => {
    const file = await validateOnnxTest('test_optional_get_element');
    expect(file.smokeRun).toBe('ran');
    expect(file.fedInputs).toEqual([
      {
        name: 'optional_input',
        type: 'float32',
        shape: [4],
        value: 'from test_data_set_0/input_0.pb',
        source: 'sample',
      },
    ]);
    expect(file.golden).toEqual({
      file: 'test_data_set_0',
      tolerance: 1e-3,
      outputs: [{ name: 'output', maxAbsDiff: 0 }],
    });
    // Bare: the optional's tensor, decoded independently (protobufjs), run; the expected output matches.
    const optional = OptionalProto.decode(pb('test_optional_get_element', 'input_0.pb')) as unknown as {
      tensorValue: { dims: number[]; floatData: number[]; rawData: Uint8Array };
    };
    const value = optional.tensorValue;
    const floats = value.floatData.length
      ? Float32Array.from(value.floatData)
      : new Float32Array(Uint8Array.from(value.rawData).buffer);
    const ran = await bare('test_optional_get_element', {
      optional_input: new ort.Tensor('float32', floats, value.dims.map(Number)),
    });
    expect(ran.error).toBe('');
    const expected = TensorProto.decode(pb('test_optional_get_element', 'output_0.pb')) as unknown as {
      rawData: Uint8Array;
      floatData: number[];
    };
    const want = expected.floatData.length
      ? Float32Array.from(expected.floatData)
      : new Float32Array(Uint8Array.from(expected.rawData).buffer);
    expect(ran.results?.output?.data).toEqual(want);
  });

  it('test_optional_has_element_empty: an empty optional cannot be fed, so the set is not run and synthesized inputs run instead (VERIFIED), as bare onnxruntime-node refuses a run without it', async () => {
    const file = await validateOnnxTest('test_optional_has_element_empty');
    expect(file.smokeRun).toBe('ran');
    expect(file.notes).toEqual([
      'test_data_set_0 was not run: test_data_set_0/input_0.pb is an empty optional for the input "optional_input" (optional(tensor(int32))); onnxruntime-node cannot feed an absent value (a run needs every input). The smoke run falls back to synthesized inputs, as without it',
    ]);
    expect(file.fedInputs?.[0]).toMatchObject({
      name: 'optional_input',
      type: 'int32',
      source: 'synthesized',
    });
    expect(file.golden).toBeUndefined();
    expect((await bare('test_optional_has_element_empty', {})).error).toMatch(/'optional_input' is missing/);
  });

  it('test_cast_STRING_to_FLOAT: a string tensor input is fed and the float output compared', async () => {
    const file = await validateOnnxTest('test_cast_STRING_to_FLOAT');
    expect(file.fedInputs?.[0]).toMatchObject({
      name: 'input',
      type: 'string',
      shape: [3, 4],
      source: 'sample',
    });
    expect(file.golden?.outputs).toEqual([{ name: 'output', maxAbsDiff: 0 }]);
  });
});

// ---- Built models: the siblings ---------------------------------------------------------------------

const tensorPb = (
  name: string,
  dims: number[],
  fields: Record<string, unknown>,
  dataType: number = DataType.FLOAT,
) => Buffer.from(TensorProto.encode(TensorProto.fromObject({ name, dims, dataType, ...fields })).finish());
const sequenceOf = (name: string) => ({
  name,
  type: { sequenceType: { elemType: { tensorType: { elemType: DataType.FLOAT } } } },
});
const optionalOf = (name: string) => ({
  name,
  type: {
    optionalType: {
      elemType: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 2 }] } } },
    },
  },
});

/** x float[2] → y (Identity), s (a sequence of x), o (an optional holding x). */
const mixedOutputs = encodeModel(
  {
    nodes: [
      { opType: 'Identity', input: ['x'], output: ['y'] },
      { opType: 'SequenceConstruct', input: ['x'], output: ['s'] },
      { opType: 'Optional', input: ['x'], output: ['o'] },
    ],
    initializers: [],
    inputs: [valueInfo('x', DataType.FLOAT, [2])],
    outputs: [valueInfo('y', DataType.FLOAT, [2]), sequenceOf('s'), optionalOf('o')],
  },
  { opset: 18 },
);
const x = tensorPb('x', [2], { floatData: [1.5, -2] });
const sequencePb = (name: string, values: Buffer[]) =>
  Buffer.from(
    SequenceProto.encode(
      SequenceProto.fromObject({
        name,
        elemType: ContainedType.TENSOR,
        tensorValues: values.map((v) => TensorProto.decode(v)),
      }),
    ).finish(),
  );
const optionalPb = (name: string, value?: Buffer) =>
  Buffer.from(
    OptionalProto.encode(
      OptionalProto.fromObject({
        name,
        elemType: value ? ContainedType.TENSOR : ContainedType.UNDEFINED,
        ...(value ? { tensorValue: TensorProto.decode(value) } : {}),
      }),
    ).finish(),
  );

describe('sample files for built models (siblings)', () => {
  it('a tensor output is compared while the sequence and optional outputs beside it are skipped with a note naming each', async () => {
    const good = await validate([
      { path: 'm/model.onnx', bytes: mixedOutputs },
      { path: 'm/test_data_set_0/input_0.pb', bytes: x },
      { path: 'm/test_data_set_0/output_0.pb', bytes: tensorPb('y', [2], { floatData: [1.5, -2] }) },
      { path: 'm/test_data_set_0/output_1.pb', bytes: sequencePb('s', [x]) },
      { path: 'm/test_data_set_0/output_2.pb', bytes: optionalPb('o', x) },
    ]);
    expect(good.outcome).toBe('passed');
    const file = good.files.find((f) => f.path === 'm/model.onnx');
    expect(file?.smokeRun).toBe('ran');
    expect(file?.golden?.outputs).toEqual([{ name: 'y', maxAbsDiff: 0 }]);
    expect(file?.notes).toEqual([
      'm/test_data_set_0/output_1.pb not compared: output "s" is sequence(tensor(float32)); onnxruntime-node returns tensors only',
      'm/test_data_set_0/output_2.pb not compared: output "o" is optional(tensor(float32)), which onnxruntime-node does not declare a tensor, so it is not fetched',
    ]);
    // The tensor output still decides: a wrong y fails as before.
    const wrong = await validate([
      { path: 'm/model.onnx', bytes: mixedOutputs },
      { path: 'm/test_data_set_0/input_0.pb', bytes: x },
      { path: 'm/test_data_set_0/output_0.pb', bytes: tensorPb('y', [2], { floatData: [1.5, 2] }) },
      { path: 'm/test_data_set_0/output_1.pb', bytes: sequencePb('s', [x]) },
    ]);
    expect(wrong.error).toMatchObject({ code: 'INFERENCE_FAILED', file: 'm/model.onnx' });
    expect(wrong.error?.message).toMatch(/output "y" differs from m\/test_data_set_0/);
  });

  it('a sample file that contradicts its slot is CONFIG_INVALID naming the file and what is wrong', async () => {
    const cases: [string, Buffer, RegExp][] = [
      [
        'an int64 tensor for a float input',
        tensorPb('x', [2], { int64Data: [1, 2] }, DataType.INT64),
        /^m\/test_data_set_0\/input_0\.pb holds int64; the model's input "x" is tensor\(float32\)$/,
      ],
      [
        'dims the model fixes otherwise',
        tensorPb('x', [3], { floatData: [1, 2, 3] }),
        /^m\/test_data_set_0\/input_0\.pb has dims \[3\]; the model's input "x" is declared \[2\]$/,
      ],
      [
        'a sequence for a tensor input',
        sequencePb('x', [x]),
        /^sample tensor m\/test_data_set_0\/input_0\.pb: .+; it is read as a TensorProto since the model's input 0 "x" is tensor\(float32\)$/,
      ],
    ];
    for (const [what, bytes, message] of cases) {
      const report = await validate([
        { path: 'm/model.onnx', bytes: mixedOutputs },
        { path: 'm/test_data_set_0/input_0.pb', bytes },
      ]);
      expect(report.error?.code, what).toBe('CONFIG_INVALID');
      expect(report.error?.message, what).toMatch(message);
    }
    // Bare onnxruntime-node refuses the wrong dims too: the verdict names the file instead of the run.
    const session = await ort.InferenceSession.create(mixedOutputs);
    await expect(
      session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [3]) }, ['y']),
    ).rejects.toThrow(/invalid dimensions/);
  });

  it('an optional or a sequence whose file holds something else than declared is CONFIG_INVALID', () => {
    const dir = mkdtempSync(join(root, 'held-'));
    const files = layOutVersion(dir, [
      { path: 'model.onnx', bytes: mixedOutputs },
      { path: 'test_data_set_0/input_0.pb', bytes: x },
      { path: 'test_data_set_0/output_0.pb', bytes: tensorPb('y', [2], { floatData: [1.5, -2] }) },
      { path: 'test_data_set_0/output_1.pb', bytes: sequencePb('s', []) },
      {
        path: 'test_data_set_0/output_2.pb',
        bytes: Buffer.from(
          OptionalProto.encode(
            OptionalProto.fromObject({
              name: 'o',
              elemType: ContainedType.SEQUENCE,
              sequenceValue: SequenceProto.decode(sequencePb('', [x])),
            }),
          ).finish(),
        ),
      },
    ]);
    const set = findSampleSet('model.onnx', files) as NonNullable<ReturnType<typeof findSampleSet>>;
    const declared = readDeclaredTypes(join(dir, 'model.onnx'));
    expect(() => readSampleSet(set, declared)).toThrow(
      'test_data_set_0/output_2.pb is an optional holding a sequence; the model\'s output "o" is optional(tensor(float32))',
    );
  });

  it('files named for other slots of another kind are refused: files are read by position', () => {
    const dir = mkdtempSync(join(root, 'order-'));
    const model = encodeModel(
      {
        nodes: [{ opType: 'SequenceInsert', input: ['s', 'x'], output: ['out'] }],
        initializers: [],
        inputs: [sequenceOf('s'), valueInfo('x', DataType.FLOAT, [2])],
        outputs: [sequenceOf('out')],
      },
      { opset: 18 },
    );
    // A sequence named "x" where the model's input 0 is the sequence "s", and a tensor named "s".
    const files = layOutVersion(dir, [
      { path: 'model.onnx', bytes: model },
      { path: 'test_data_set_0/input_0.pb', bytes: sequencePb('x', [x]) },
      { path: 'test_data_set_0/input_1.pb', bytes: tensorPb('s', [2], { floatData: [1, 2] }) },
    ]);
    const set = findSampleSet('model.onnx', files) as NonNullable<ReturnType<typeof findSampleSet>>;
    expect(() => readSampleSet(set, readDeclaredTypes(join(dir, 'model.onnx')))).toThrow(
      /^test_data_set_0\/input_0\.pb names the input "x" \(tensor\(float32\)\) but is input 0, where the model has "s" \(sequence\(tensor\(float32\)\)\): input_K\.pb is read as the model's K-th input/,
    );
  });

  it('strings are compared for equality and a mismatch names the element', () => {
    const set = { dir: 'd/test_data_set_0', inputs: [], outputs: [] };
    const expected = [{ name: 'out', tensor: { name: 'out', type: 'string', dims: [2], data: ['a', 'b'] } }];
    expect(compareSample(set, expected, { out: { type: 'string', dims: [2], data: ['a', 'b'] } })).toEqual([
      { name: 'out', maxAbsDiff: 0 },
    ]);
    let failure: unknown;
    try {
      compareSample(set, expected, { out: { type: 'string', dims: [2], data: ['a', 'c'] } });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(LoadFailure);
    expect((failure as LoadFailure).code).toBe('INFERENCE_FAILED');
    expect((failure as LoadFailure).message).toBe(
      'output "out" differs from d/test_data_set_0: element 1 is "c", expected "b" (strings must be equal)',
    );
  });
});
