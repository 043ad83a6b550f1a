import { describe, expect, it } from 'vitest';
import { planFile } from '../../gpu-validator/file-kind.js';
import { sniffFormat } from '../../gpu-validator/format-sniff.js';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { buildGguf, buildPytorchZip, buildSafetensors } from '../fixtures/model-formats.js';
import { buildMlpModel } from '../fixtures/onnx-writer.js';

const sniff = (bytes: Buffer | string) => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return sniffFormat(b.subarray(0, 512), b.length);
};

const LFS = 'version https://git-lfs.github.com/spec/v1\noid sha256:33\nsize 98765432\n';

describe('sniffFormat: each signature', () => {
  it.each([
    ['an empty file', '', 'empty'],
    ['a Git LFS pointer', LFS, 'git-lfs-pointer'],
    ['an HTML page with a doctype', '<!DOCTYPE html><html></html>', 'html'],
    ['an HTML page with a BOM, blanks and upper case', '\ufeff \n<HTML><body>403</body>', 'html'],
    ['a zip archive', buildPytorchZip(), 'zip'],
    ['an empty zip archive', Buffer.from(`PK\x05\x06${'\0'.repeat(18)}`, 'latin1'), 'zip'],
    ['a GGUF model', buildGguf([{ name: 't', dims: [4] }]), 'gguf'],
    ['a safetensors file', buildSafetensors([{ name: 'w', dtype: 'F32', shape: [2] }]), 'safetensors'],
    [
      'an ORT-format model',
      Buffer.concat([Buffer.from([0x14, 0, 0, 0]), Buffer.from('ORTM'), Buffer.alloc(16)]),
      'ort',
    ],
    ['a legacy torch.save pickle', Buffer.from([0x80, 0x02, 0x8a, 0x0a]), 'pickle'],
    ['an ONNX model (no signature)', buildMlpModel({ layers: 1, dim: 4 }), 'unknown'],
  ] as const)('%s → %s', (_what, bytes, expected) => {
    expect(sniff(bytes)).toBe(expected);
  });

  it('takes an LFS-like text longer than a pointer can be for something else', () => {
    expect(sniff(LFS + 'x'.repeat(2000))).toBe('unknown');
  });

  it('does not take a header length past the end of the file for safetensors', () => {
    const b = buildSafetensors([{ name: 'w', dtype: 'F32', shape: [2] }]);
    b.writeBigUInt64LE(BigInt(b.length));
    expect(sniff(b)).toBe('unknown');
  });
});

describe('planFile: how each file is checked', () => {
  const refusal = (path: string, sniffed: Parameters<typeof planFile>[1]) => {
    try {
      planFile(path, sniffed);
    } catch (error) {
      if (error instanceof LoadFailure) return { code: error.code, message: error.message };
      throw error;
    }
    throw new Error(`${path} (${sniffed}) was not refused`);
  };

  it('refuses a Git LFS pointer under any name as FILE_MISSING', () => {
    for (const path of ['model.onnx', 'weights.bin', 'config.json', 'README'])
      expect(refusal(path, 'git-lfs-pointer')).toMatchObject({
        code: 'FILE_MISSING',
        message: expect.stringContaining('git lfs pull'),
      });
  });

  it('refuses an empty or HTML model file; leaves an empty or HTML data file alone', () => {
    expect(refusal('m.safetensors', 'empty').code).toBe('MODEL_CORRUPTED');
    expect(refusal('m.gguf', 'html')).toMatchObject({
      code: 'FILE_MISSING',
      message: expect.stringContaining('error page'),
    });
    expect(planFile('docs/index.html', 'html')).toEqual({ handling: 'integrity', detectedFormat: 'html' });
    expect(planFile('empty.txt', 'empty')).toEqual({ handling: 'integrity' });
  });

  it('names the real format of a misnamed .onnx or .ort file', () => {
    expect(refusal('m.onnx', 'zip').message).toMatch(/a zip archive.*PyTorch checkpoint/);
    expect(refusal('m.onnx', 'gguf').message).toContain('a GGUF model');
    expect(refusal('m.onnx', 'pickle').message).toContain('a Python pickle');
    expect(refusal('m.onnx', 'ort').message).toContain('name it .ort');
    expect(refusal('m.ort', 'safetensors').message).toContain('a safetensors file');
  });

  it('routes each format to its check', () => {
    expect(planFile('m.onnx', 'unknown').handling).toBe('load-onnx');
    expect(planFile('m.ORT', 'ort').handling).toBe('load-ort');
    expect(planFile('m.ort', 'unknown').handling).toBe('load-ort');
    expect(planFile('m.safetensors', 'safetensors').handling).toBe('safetensors');
    expect(planFile('m.gguf', 'gguf').handling).toBe('gguf');
    expect(planFile('pytorch_model.bin', 'zip').handling).toBe('pytorch-zip');
    expect(planFile('model.pth', 'pickle')).toEqual({ handling: 'integrity', detectedFormat: 'pickle' });
    expect(planFile('weights.bin', 'unknown').handling).toBe('integrity');
    expect(planFile('weights.bin', 'safetensors').handling).toBe('safetensors');
    expect(refusal('model.pt', 'unknown').code).toBe('MODEL_CORRUPTED');
  });
});
