import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Recognises a file by its first bytes, before any parser sees it (DESIGN.md Validation step 2). A model
 * file that is really a Git LFS pointer, an HTML error page or another format fails with a cause that says
 * so, instead of the protobuf byte offsets an ONNX parser would give.
 *
 * Signatures (from each format's specification):
 * - Git LFS pointer: the text `version https://git-lfs.github.com/spec/v1` (git-lfs spec), under 1 KiB;
 * - HTML: `<!DOCTYPE html` or `<html`, after optional BOM and whitespace, any case;
 * - zip: a local file header `PK\x03\x04` or an empty archive's end record `PK\x05\x06`;
 * - GGUF: the magic `GGUF` (ggml docs/gguf.md);
 * - safetensors: an 8-byte little-endian header length followed by `{` (huggingface/safetensors);
 * - ORT format: the FlatBuffers file identifier `ORTM` at bytes 4-8 (onnxruntime ort.fbs);
 * - pickle: the PROTO opcode 0x80 and a protocol 2-5 (legacy `torch.save`).
 * ONNX protobuf has no magic number: anything else is left to the ONNX inspector.
 */
export type SniffedFormat =
  | 'empty'
  | 'git-lfs-pointer'
  | 'html'
  | 'zip'
  | 'gguf'
  | 'safetensors'
  | 'ort'
  | 'pickle'
  | 'unknown';

export const SNIFF_BYTES = 512;
const LFS_PREFIX = 'version https://git-lfs.github.com/spec/';
const LFS_MAX_BYTES = 1024;

/** Reads up to SNIFF_BYTES from the start of the file and its size. Errors (ENOENT, EACCES) propagate. */
export function readHead(path: string): { head: Buffer; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, size));
    let got = 0;
    while (got < head.length) {
      const n = readSync(fd, head, got, head.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return { head: head.subarray(0, got), size };
  } finally {
    closeSync(fd);
  }
}

export function sniffFormat(head: Buffer, size: number): SniffedFormat {
  if (size === 0) return 'empty';
  if (size <= LFS_MAX_BYTES && head.toString('latin1', 0, LFS_PREFIX.length) === LFS_PREFIX)
    return 'git-lfs-pointer';
  if (isHtml(head)) return 'html';
  const magic = head.toString('latin1', 0, 4);
  if (magic === 'PK\x03\x04' || magic === 'PK\x05\x06') return 'zip';
  if (magic === 'GGUF') return 'gguf';
  if (head.length >= 8 && head.toString('latin1', 4, 8) === 'ORTM') return 'ort';
  if (isSafetensors(head, size)) return 'safetensors';
  if (head.length >= 2 && head[0] === 0x80 && (head[1] as number) >= 2 && (head[1] as number) <= 5)
    return 'pickle';
  return 'unknown';
}

function isHtml(head: Buffer): boolean {
  const text = head
    .toString('latin1', 0, Math.min(head.length, 256))
    .replace(/^\xef\xbb\xbf/, '')
    .trimStart()
    .toLowerCase();
  return text.startsWith('<!doctype html') || text.startsWith('<html');
}

function isSafetensors(head: Buffer, size: number): boolean {
  if (head.length < 9) return false;
  const headerBytes = head.readBigUInt64LE(0);
  return headerBytes >= 2n && headerBytes <= BigInt(size - 8) && head[8] === 0x7b;
}

/** What a report calls each sniffed format, where it is worth naming. */
export const FORMAT_NAMES: Record<Exclude<SniffedFormat, 'unknown' | 'empty'>, string> = {
  'git-lfs-pointer': 'a Git LFS pointer',
  html: 'an HTML page',
  zip: 'a zip archive',
  gguf: 'a GGUF model',
  safetensors: 'a safetensors file',
  ort: 'an ORT-format model',
  pickle: 'a Python pickle',
};
