import { describe, expect, it } from 'vitest';
import { findPathClash, foldPath } from '../../core/file-paths.js';
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

describe('findPathClash', () => {
  it('accepts paths that differ other than by case or normalization', () => {
    const paths = [
      'det.onnx',
      'det.onnx.data',
      'dict/keys.txt',
      'dict2/keys.txt',
      'a',
      'ab/c',
      'Model1.onnx',
      'model2.onnx',
      'café.txt',
      'cafe.txt',
      'x/y/z',
      'x/y/w',
    ];
    expect(findPathClash(paths)).toBeUndefined();
  });

  it.each([
    ['two cases of one name', ['Model.onnx', 'model.onnx'], 1, 'Model.onnx and model.onnx are one file'],
    ['NFC and NFD of one name', ['caf\u00e9.txt', 'cafe\u0301.txt'], 1, 'are one file'],
    ['two cases of a folder', ['Dict/keys.txt', 'dict/keys.txt'], 1, 'Dict/keys.txt and dict/keys.txt'],
    ['sigma and final sigma', ['λόγος', 'ΛΌΓΟΣ'], 1, 'are one file'],
    ['an exact repeat', ['x', 'y', 'x'], 2, 'duplicate path x'],
    ['a file and a folder of it', ['a', 'a/b'], 1, 'a is both a file and a folder (of a/b)'],
    ['a folder before the file', ['a/b', 'a'], 0, 'a is both a file and a folder (of a/b)'],
    ['a file and a folder in another case', ['A', 'a/b'], 1, 'A is a file and a/b needs a as a folder'],
    [
      'a file and a deeper folder in NFD',
      ['x/caf\u00e9', 'x/Cafe\u0301/y'],
      1,
      'needs x/Cafe\u0301 as a folder',
    ],
  ])('refuses %s, naming both paths', (_what, paths, index, message) => {
    const clash = findPathClash(paths);
    expect(clash).toMatchObject({ index, path: paths[index] });
    expect(clash?.message).toContain(message);
    expect(clash?.message).toContain(clash?.other);
    expect(clash?.message).toContain(paths[index]!.split('/')[0]);
  });

  it('folds each segment on its own: the number of segments never changes', () => {
    const folded = foldPath('Cafe\u0301/ΣΊΣΥΦΟΣ/README.md');
    expect(folded).toBe(foldPath('caf\u00e9/σίσυφοσ/readme.md'));
    expect(folded.split('/')).toEqual(['caf\u00e9', 'σίσυφος', 'readme.md']);
  });
});
