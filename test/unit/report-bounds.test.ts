import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_CHARS, MAX_NAME_CHARS, truncationMarker } from '../../schemas/bounded-text.js';
import {
  FileReport,
  fitFileReport,
  listsCutNote,
  MAX_FILE_REPORT_CHARS,
  type OnnxInspection,
  type TensorInfo,
  ValidationReport,
} from '../../schemas/report.schema.js';
import { aReport } from '../helpers/builders.js';

const LONG = 2_000_000;
const huge = (char: string) => char.repeat(LONG);
const cut = (char: string) => {
  const marker = truncationMarker(LONG);
  return char.repeat(MAX_NAME_CHARS - marker.length) + marker;
};

/** A loaded file's report with every field a model's bytes or the runtime can fill. */
function fileReport(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    path: 'model.onnx',
    sha256: 'a'.repeat(64),
    size: 1,
    format: 'onnx',
    check: 'loaded',
    ok: true,
    ...overrides,
  };
}

function onnxInspection(overrides: Partial<OnnxInspection> = {}): OnnxInspection {
  return {
    irVersion: 8,
    opsetImports: [{ domain: '', version: 17 }],
    producerName: 'pytorch',
    producerVersion: '2.4',
    fileSize: 1,
    ...overrides,
  };
}

describe('the report schema bounds what a model or the runtime wrote', () => {
  it('cuts every name and message with a marker, and refuses none of them', () => {
    const parsed = FileReport.parse(
      fileReport({
        ok: false,
        error: { code: 'INFERENCE_FAILED', message: `input ${huge('X')} has no value` },
        inputs: [{ name: huge('X'), type: huge('T'), shape: [huge('D'), 8] }],
        outputs: [{ name: huge('Y'), type: 'float32', shape: [1] }],
        inputShapes: { [huge('X')]: [1, 8] },
        fedInputs: [
          { name: huge('X'), type: 'float32', shape: [1, 8], value: huge('v'), source: 'synthesized' },
        ],
        probes: [{ inputs: [], error: huge('e') }],
        notes: [huge('n')],
        executionProvider: huge('P'),
        executionProviderNodes: { [huge('P')]: 3 },
        golden: { file: 'model.golden.json', tolerance: 0, outputs: [{ name: huge('Y'), maxAbsDiff: 0 }] },
        inspection: onnxInspection({
          producerName: huge('p'),
          opsetImports: [{ domain: huge('d'), version: 1 }],
          operators: [{ domain: huge('d'), opType: huge('O'), count: 1 }],
          functions: [{ domain: huge('d'), name: huge('f') }],
          externalData: [{ tensor: huge('w'), location: huge('l') }],
        }),
      }),
    );
    expect(parsed.inputs).toEqual([{ name: cut('X'), type: cut('T'), shape: [cut('D'), 8] }]);
    expect(parsed.outputs[0]?.name).toBe(cut('Y'));
    expect(Object.keys(parsed.inputShapes ?? {})).toEqual([cut('X')]);
    expect(parsed.fedInputs?.[0]?.name).toBe(cut('X'));
    expect(parsed.fedInputs?.[0]?.value).toHaveLength(200);
    expect(parsed.probes?.[0]?.error).toHaveLength(2000);
    expect(parsed.notes?.[0]).toHaveLength(MAX_MESSAGE_CHARS);
    expect(parsed.error?.message).toHaveLength(MAX_MESSAGE_CHARS);
    expect(parsed.error?.message).toMatch(/^input X+…\[truncated, 2000019 bytes in all\]$/);
    expect(parsed.executionProvider).toBe(cut('P'));
    expect(Object.keys(parsed.executionProviderNodes ?? {})).toEqual([cut('P')]);
    expect(parsed.golden?.outputs[0]?.name).toBe(cut('Y'));
    const inspection = parsed.inspection as OnnxInspection;
    expect(inspection.producerName).toBe(cut('p'));
    expect(inspection.opsetImports[0]?.domain).toBe(cut('d'));
    expect(inspection.operators?.[0]).toEqual({ domain: cut('d'), opType: cut('O'), count: 1 });
    expect(inspection.functions?.[0]).toEqual({ domain: cut('d'), name: cut('f') });
    expect(inspection.externalData?.[0]?.tensor).toBe(cut('w'));
    expect(inspection.externalData?.[0]?.location).toHaveLength(4096);
    expect(JSON.stringify(parsed).length).toBeLessThan(32 * 1024);
  });

  it('cuts the report of any worker, and the version failure it carries, at the top level too', () => {
    const report = ValidationReport.parse(
      aReport({
        outcome: 'failed',
        error: { code: 'MODEL_CORRUPTED', message: huge('m'), detail: huge('b') },
        runtime: { name: 'onnxruntime-node', version: huge('1') },
        executionProvider: huge('c'),
      }),
    );
    expect(report.error?.message).toHaveLength(MAX_MESSAGE_CHARS);
    expect(report.error?.detail).toHaveLength(2000);
    expect(report.error?.detail).toContain(`truncated, ${LONG} bytes in all`);
    expect(report.runtime.version).toBe(cut('1'));
    expect(report.executionProvider).toBe(cut('c'));
  });

  it("leaves a large real model's report whole: an LLM's ~160 inputs and outputs and 700 external tensors", () => {
    const layers = 40;
    const kv = (prefix: string): TensorInfo[] =>
      Array.from({ length: 2 * layers }, (_, i) => ({
        name: `${prefix}.${i >> 1}.${i % 2 ? 'value' : 'key'}`,
        type: 'float16',
        shape: ['batch_size', 8, 'past_sequence_length', 128],
      }));
    const inputs = [
      { name: 'input_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] },
      ...kv('past'),
    ];
    const outputs = [
      { name: 'logits', type: 'float16', shape: ['batch_size', 'sequence_length', 32000] },
      ...kv('present'),
    ];
    const given = fileReport({
      inputs,
      outputs,
      inputShapes: Object.fromEntries(inputs.map((i) => [i.name, [1, 8, 1, 128]])),
      fedInputs: inputs.map((i) => ({
        name: i.name,
        type: i.type,
        shape: [1, 8, 1, 128],
        value: 'fill 0',
        source: 'synthesized',
      })),
      inspection: onnxInspection({
        inputs,
        outputs,
        operators: Array.from({ length: 60 }, (_, i) => ({
          domain: 'com.microsoft',
          opType: `Op${i}`,
          count: 40,
        })),
        functions: [],
        externalData: Array.from({ length: 700 }, (_, i) => ({
          tensor: `model.layers.${i >> 4}.self_attn.q_proj.weight_${i}`,
          location: 'model.onnx.data',
          offset: i * 2 ** 24,
          length: 2 ** 24,
        })),
        truncatedLists: false,
      }),
    });
    const parsed = FileReport.parse(given);
    expect(parsed).toEqual(given);
    expect(JSON.stringify(parsed).length).toBeGreaterThan(100 * 1024);
  });

  it('keeps the first entries of every list when count × length is over the file bound, and says so', () => {
    const names = (char: string) =>
      Array.from({ length: 3000 }, (_, i) => ({
        name: `${i}:${char.repeat(300)}`,
        type: 'float32',
        shape: [1],
      }));
    const parsed = FileReport.parse(
      fileReport({
        inputs: names('X'),
        outputs: names('Y'),
        notes: ['non-finite outputs on synthesized inputs'],
        inspection: onnxInspection({
          inputs: names('X'),
          operators: Array.from({ length: 3000 }, (_, i) => ({
            domain: 'x'.repeat(300),
            opType: `${i}`,
            count: 1,
          })),
          truncatedLists: false,
        }),
      }),
    );
    const json = JSON.stringify(parsed).length;
    expect(json).toBeLessThanOrEqual(MAX_FILE_REPORT_CHARS);
    // Five lists of 3000 entries of ~310 characters: 128 entries each fit (~200 K), 256 would not.
    expect(parsed.inputs).toHaveLength(128);
    expect(parsed.inputs[0]?.name.startsWith('0:XXX')).toBe(true);
    expect(parsed.inputs[127]?.name.startsWith('127:XXX')).toBe(true);
    expect(parsed.outputs).toHaveLength(128);
    const inspection = parsed.inspection as OnnxInspection;
    expect(inspection.inputs).toHaveLength(128);
    expect(inspection.operators).toHaveLength(128);
    expect(inspection.truncatedLists).toBe(true);
    expect(parsed.notes).toEqual([
      'non-finite outputs on synthesized inputs',
      listsCutNote(128, MAX_FILE_REPORT_CHARS),
    ]);
  });

  it('fits even when every list must go, leaving out an inspection whose unknown fields are too big', () => {
    const report = FileReport.parse(fileReport());
    const fitted = fitFileReport(
      {
        ...report,
        inspection: onnxInspection({ somethingNew: 'z'.repeat(300_000) } as Partial<OnnxInspection>),
      },
      MAX_FILE_REPORT_CHARS,
    );
    expect(fitted.inspection).toBeUndefined();
    expect(fitted.notes).toEqual([listsCutNote(0, MAX_FILE_REPORT_CHARS)]);
    expect(JSON.stringify(fitted).length).toBeLessThanOrEqual(MAX_FILE_REPORT_CHARS);
  });
});
