import { posix } from 'node:path';
import { FORMAT_NAMES, type SniffedFormat } from './format-sniff.js';
import { LoadFailure } from './load-failure.js';

/**
 * Decides how a version's file is checked, from its name and its first bytes (format-sniff.ts), before any
 * parser sees it:
 * - `load`: an ONNX (`.onnx`) or ORT-format (`.ort`) model, loaded by onnxruntime (`.onnx` is inspected
 *   first, `.ort` goes to the runtime as it is: onnxruntime judges its FlatBuffer itself);
 * - `safetensors`, `gguf`, `pytorch-zip`: a model format the runtime does not load, checked structurally;
 * - `integrity`: any other file (external data, tokenizers, configs): its checksums only.
 * Refusals (LoadFailure) for what a signature already proves: a Git LFS pointer anywhere, an empty model
 * file, an HTML page or another format under a model's name.
 */

export type FileHandling = 'load-onnx' | 'load-ort' | 'safetensors' | 'gguf' | 'pytorch-zip' | 'integrity';

export interface FilePlan {
  handling: FileHandling;
  /** What the bytes are, when the signature says (reported as `detectedFormat`). */
  detectedFormat?: string;
}

const MODEL_EXTENSIONS = new Set(['.onnx', '.ort', '.safetensors', '.gguf', '.pt', '.pth', '.ckpt']);
const PYTORCH_EXTENSIONS = new Set(['.pt', '.pth', '.ckpt', '.bin']);

const extensionOf = (path: string) => posix.extname(path).toLowerCase();

/** Whether a file's name says it is a model (so an empty or HTML one is a broken model, not a data file). */
export const isModelPath = (path: string) => MODEL_EXTENSIONS.has(extensionOf(path));

export function planFile(path: string, sniffed: SniffedFormat): FilePlan {
  const ext = extensionOf(path);
  const detected = sniffed === 'unknown' || sniffed === 'empty' ? {} : { detectedFormat: sniffed };
  if (sniffed === 'git-lfs-pointer') {
    throw new LoadFailure(
      'FILE_MISSING',
      `${path} is a Git LFS pointer, not the model: fetch the real file (git lfs pull) and publish again`,
      { detectedFormat: sniffed },
    );
  }
  if (isModelPath(path)) {
    if (sniffed === 'empty') {
      throw new LoadFailure('MODEL_CORRUPTED', `${path} is empty (0 bytes): a model file cannot be`, {});
    }
    if (sniffed === 'html') {
      throw new LoadFailure(
        'FILE_MISSING',
        `${path} is a downloaded error page (HTML), not the model: download the real file and publish again`,
        { detectedFormat: sniffed },
      );
    }
  }
  if (ext === '.onnx') return { handling: 'load-onnx', ...onnxOrRefuse(path, sniffed) };
  if (ext === '.ort') return { handling: 'load-ort', ...detected, ...ortOrRefuse(path, sniffed) };
  if (ext === '.safetensors') return expect(path, sniffed, 'safetensors');
  if (ext === '.gguf') return expect(path, sniffed, 'gguf');
  if (PYTORCH_EXTENSIONS.has(ext)) return pytorchPlan(path, ext, sniffed);
  // Another name: a recognised model format is still checked as what it is.
  if (sniffed === 'safetensors' || sniffed === 'gguf') return { handling: sniffed, detectedFormat: sniffed };
  return { handling: 'integrity', ...detected };
}

function misnamed(path: string, sniffed: SniffedFormat, what: string, extra = ''): LoadFailure {
  const name = FORMAT_NAMES[sniffed as keyof typeof FORMAT_NAMES] ?? sniffed;
  return new LoadFailure('MODEL_CORRUPTED', `${path} is not ${what}: it is ${name}${extra}`, {
    detectedFormat: sniffed,
  });
}

/** ONNX protobuf has no signature: only formats that are recognisably something else are refused here. */
function onnxOrRefuse(path: string, sniffed: SniffedFormat): Record<string, never> {
  if (sniffed === 'zip')
    throw misnamed(path, sniffed, 'an ONNX model', ' (a PyTorch checkpoint is a zip: export it to ONNX)');
  if (sniffed === 'ort') throw misnamed(path, sniffed, 'an ONNX protobuf', ': name it .ort');
  if (sniffed === 'pickle')
    throw misnamed(path, sniffed, 'an ONNX model', ' (a legacy PyTorch checkpoint: export it to ONNX)');
  if (sniffed === 'safetensors' || sniffed === 'gguf') throw misnamed(path, sniffed, 'an ONNX model');
  return {};
}

function ortOrRefuse(path: string, sniffed: SniffedFormat): Record<string, never> {
  if (sniffed === 'zip' || sniffed === 'safetensors' || sniffed === 'gguf' || sniffed === 'pickle')
    throw misnamed(path, sniffed, 'an ORT-format model');
  return {};
}

function expect(path: string, sniffed: SniffedFormat, format: 'safetensors' | 'gguf'): FilePlan {
  if (sniffed !== format && sniffed !== 'unknown') throw misnamed(path, sniffed, `a ${format} file`);
  // An unrecognised header is left to the inspector, whose message says what is wrong with it.
  return { handling: format, detectedFormat: format };
}

/**
 * `.pt`, `.pth`, `.ckpt` and `.bin`: a zip is a PyTorch checkpoint (checked); a pickle is a legacy one
 * (integrity only: unpickling untrusted bytes is code execution). A `.bin` may be anything else (external
 * data, a vocabulary), so only a model extension with unknown bytes is refused.
 */
function pytorchPlan(path: string, ext: string, sniffed: SniffedFormat): FilePlan {
  if (sniffed === 'zip') return { handling: 'pytorch-zip', detectedFormat: 'pytorch-zip' };
  if (sniffed === 'safetensors' || sniffed === 'gguf') return { handling: sniffed, detectedFormat: sniffed };
  if (sniffed === 'pickle') return { handling: 'integrity', detectedFormat: 'pickle' };
  if (ext !== '.bin' && sniffed !== 'unknown') throw misnamed(path, sniffed, 'a PyTorch checkpoint');
  if (ext !== '.bin') {
    throw new LoadFailure(
      'MODEL_CORRUPTED',
      `${path} is neither a zip (torch.save since PyTorch 1.6) nor a pickle (older torch.save): not a PyTorch checkpoint`,
    );
  }
  return {
    handling: 'integrity',
    ...(sniffed === 'unknown' || sniffed === 'empty' ? {} : { detectedFormat: sniffed }),
  };
}
