import { describe, expect, it } from 'vitest';
import { NodeId } from '../../schemas/load-report.schema.js';
import { AliasName, FilePath, ModelName, ProviderName, VersionString } from '../../schemas/names.schema.js';

describe('FilePath: well-formed Unicode only', () => {
  it.each([
    ['a lone high surrogate', 'x\ud800.txt'],
    ['a lone low surrogate', 'x\udc00.txt'],
    ['a low surrogate before a high one', 'x\udc00\ud800.txt'],
    ['a lone surrogate in a folder', 'models/\ud83d/det.onnx'],
  ])('refuses %s, naming the rule', (_what, path) => {
    const parsed = FilePath.safeParse(path);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toContain('well-formed Unicode');
  });

  it('accepts characters outside the BMP (a surrogate pair) and other scripts', () => {
    for (const path of ['models/😀.onnx', 'dict/ключи.txt', 'café.txt', '模型/权重.bin'])
      expect(FilePath.safeParse(path).success, path).toBe(true);
  });

  // The registry's other names become paths and keys as well: their grammars are ASCII, so a lone
  // surrogate (or any character a file system could fold) can never pass them.
  it.each([
    ['ModelName', ModelName],
    ['ProviderName', ProviderName],
    ['VersionString', VersionString],
    ['AliasName', AliasName],
    ['NodeId', NodeId],
  ] as const)('%s refuses a lone surrogate and non-ASCII', (_name, schema) => {
    expect(schema.safeParse('a').success).toBe(true);
    expect(schema.safeParse('a\ud800').success).toBe(false);
    expect(schema.safeParse('caf\u00e9').success).toBe(false);
  });
});
