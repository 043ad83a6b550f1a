import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { goldenPathFor, parseGoldenFile } from '../../gpu-validator/golden-io.js';
import { checkInputNames, type ModelInputs } from '../../gpu-validator/input-names.js';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { inspectOnnx } from '../../gpu-validator/onnx-inspect.js';
import {
  readSampleSet,
  type SampleReading,
  type SampleSet,
  sampleSetsIn,
} from '../../gpu-validator/sample-io.js';
import { readDeclaredTypes } from '../../gpu-validator/value-types.js';
import type { InputShapes, InputValues } from '../../schemas/version.schema.js';
import { CliError } from '../cli-error.js';
import type { LocalFile } from '../collect-files.js';

/**
 * What `publish` says about a version's inputs, checked against its local ONNX files before anything is
 * uploaded (an unknown name or a shape contradicting a fixed dim exits 2 naming the inputs that exist),
 * and `--sample-inputs` turned into files of the version by convention, so the engine finds them with
 * the model: a golden JSON becomes `DIR/NAME.golden.json` beside `DIR/NAME.onnx` (golden-io.ts), a folder
 * of ONNX test data becomes `DIR/test_data_set_N/…` in the model's folder (sample-io.ts).
 */

const SET = /^test_data_set_\d+$/;

/** `NAME=V` pairs: a number where V parses as one, else the string. */
export function parseInputValues(specs: readonly string[]): InputValues {
  const values: InputValues = {};
  for (const spec of specs) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m?.[1] || m[2] === undefined)
      throw CliError.usage(
        `--input-value expects NAME=VALUE (a number, or a string), got "${spec}"`,
        'publish',
      );
    const n = Number(m[2]);
    values[m[1]] = m[2].trim() !== '' && Number.isFinite(n) ? n : m[2];
  }
  return values;
}

/** A local ONNX file: its inputs as the inspector reads them, and where it is (its types are read on demand). */
interface LocalModel extends ModelInputs {
  localPath: string;
}

function inspectModels(files: readonly LocalFile[]): LocalModel[] {
  const models: LocalModel[] = [];
  for (const f of files.filter((x) => x.path.endsWith('.onnx'))) {
    try {
      models.push({ path: f.path, localPath: f.localPath, inputs: inspectOnnx(f.localPath).inputs });
    } catch {
      // An unreadable model is the server's to judge (with its real cause); its names cannot be checked here.
    }
  }
  return models;
}

/** The one model sample inputs belong to: the only ONNX file, or the only one having all their names. */
function targetModel(models: ModelInputs[], names: string[], path: string): ModelInputs {
  const fits = models.filter((m) => names.every((n) => m.inputs.some((i) => i.name === n)));
  const candidates = models.length === 1 ? models : fits;
  if (candidates.length === 1) return candidates[0] as ModelInputs;
  throw CliError.usage(
    `--sample-inputs ${path}: ${candidates.length === 0 ? 'no' : 'more than one'} model of this version has the inputs ${names.join(', ') || '(unnamed)'}; put the samples in the model's own folder instead`,
    'publish',
  );
}

function goldenSamples(path: string, models: ModelInputs[]): { names: string[]; files: LocalFile[] } {
  let names: string[];
  try {
    names = Object.keys(parseGoldenFile(basename(path), readFileSync(path, 'utf8')).inputs);
  } catch (error) {
    throw CliError.usage(`--sample-inputs ${(error as Error).message}`, 'publish');
  }
  const model = targetModel(models, names, path);
  const target = goldenPathFor(model.path);
  return { names, files: [{ path: target, localPath: path, size: statSync(path).size }] };
}

/**
 * A folder of ONNX test data, read by the validator's own rule (sample-io.ts `readSampleSet`): each file
 * as the message its model slot's declared type says, so a sequence or optional sample is no error here
 * either. The model is the only one, or the only one whose inputs the files name and fit.
 */
function testDataSamples(path: string, models: LocalModel[]): { names: string[]; files: LocalFile[] } {
  const folders = SET.test(basename(path))
    ? [{ name: basename(path), dir: path }]
    : readdirSync(path)
        .filter((n) => SET.test(n))
        .map((n) => ({ name: n, dir: join(path, n) }));
  const found = folders.flatMap((set) =>
    readdirSync(set.dir)
      .filter((n) => /^(input|output)_\d+\.pb$/.test(n))
      .map((name) => ({ path: `${set.name}/${name}`, localPath: join(set.dir, name) })),
  );
  const sets = sampleSetsIn('.', found).filter((s) => s.inputs.length > 0);
  if (sets.length === 0)
    throw CliError.usage(
      `--sample-inputs ${path}: no test_data_set_N folder (input_K.pb files) in it`,
      'publish',
    );
  const read = models.map((model) => readAll(sets, model));
  const namesOf = (r: (typeof read)[number]) => [...new Set(r.readings?.flatMap((x) => x.inputNames) ?? [])];
  const fits = read.filter(
    (r) => r.readings && namesOf(r).every((n) => n === '' || r.model.inputs.some((i) => i.name === n)),
  );
  const chosen = models.length === 1 ? read : fits;
  if (chosen.length !== 1) {
    const names = [...new Set(read.flatMap(namesOf))].filter(Boolean);
    const unread = read.find((r) => r.error);
    throw CliError.usage(
      `--sample-inputs ${path}: ${chosen.length === 0 ? 'no' : 'more than one'} model of this version has the inputs ${names.join(', ') || '(unnamed)'}; put the samples in the model's own folder instead` +
        (chosen.length === 0 && unread?.error
          ? ` (read as ${unread.model.path}'s: ${unread.error.message})`
          : ''),
      'publish',
    );
  }
  const target = chosen[0] as (typeof read)[number];
  if (target.error) throw CliError.usage(`--sample-inputs ${path}: ${target.error.message}`, 'publish');
  const dir = posix.dirname(target.model.path);
  const files = found.map((f) => ({
    path: posix.join(dir, f.path),
    localPath: f.localPath,
    size: statSync(f.localPath).size,
  }));
  return { names: namesOf(target).filter(Boolean), files };
}

/** Every set read against one model; the first error (the validator's CONFIG_INVALID) if any. */
function readAll(
  sets: SampleSet[],
  model: LocalModel,
): { model: LocalModel; readings?: SampleReading[]; error?: LoadFailure } {
  try {
    const declared = readDeclaredTypes(model.localPath);
    return { model, readings: sets.map((set) => readSampleSet(set, declared)) };
  } catch (error) {
    if (!(error instanceof LoadFailure)) throw error;
    return { model, error };
  }
}

/**
 * Checks every input name given against the local ONNX files and returns the sample files to publish
 * with the version. Exits 2 (a usage error) on an unknown name or a shape contradicting a fixed dim.
 */
export function checkPublishInputs(
  files: readonly LocalFile[],
  given: { shapes: InputShapes; values: InputValues; sampleInputs?: string },
): LocalFile[] {
  const models = inspectModels(files);
  const asked = Object.keys(given.shapes).length + Object.keys(given.values).length > 0 || given.sampleInputs;
  if (!asked) return [];
  if (models.length === 0)
    throw CliError.usage(
      'input shapes, values and samples need an ONNX model in the version to apply to',
      'publish',
    );
  let samples: { names: string[]; files: LocalFile[] } = { names: [], files: [] };
  if (given.sampleInputs) {
    const path = given.sampleInputs;
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info) throw CliError.usage(`--sample-inputs ${path}: no such file or folder`, 'publish');
    samples = info.isDirectory() ? testDataSamples(path, models) : goldenSamples(path, models);
    const clash = samples.files.find((s) => files.some((f) => f.path === s.path));
    if (clash)
      throw CliError.usage(
        `--sample-inputs would publish ${clash.path}, which the version already has`,
        'publish',
      );
  }
  const problem = checkInputNames(models, {
    shapes: given.shapes,
    values: given.values,
    samples: samples.names,
  });
  if (problem) throw CliError.usage(problem.message, 'publish');
  return samples.files;
}
