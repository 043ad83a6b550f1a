import type { TensorInfo } from '../schemas/report.schema.js';
import { LoadFailure } from './load-failure.js';
import { checkConfiguredShape } from './synthesize-inputs.js';

/**
 * The input names a publisher gives (`--input-shape`, `--input-value`, `--sample-inputs`) must be real
 * inputs of the version's models: a name that matches none would be silently ignored, and the version
 * verified on shapes or values it is not served with. A configured shape must also agree with the fixed
 * dims of every model having that input. Used by the CLI before anything is uploaded and by the engine
 * before any load (API users), with the same message.
 */

export interface ModelInputs {
  /** The model's path in the version. */
  path: string;
  inputs: readonly TensorInfo[];
}

export interface GivenInputs {
  shapes?: Readonly<Record<string, number[]>>;
  values?: Readonly<Record<string, unknown>>;
  /** Names of the sample inputs (`--sample-inputs`), with the flag's own wording. */
  samples?: readonly string[];
}

function existing(models: readonly ModelInputs[]): string {
  return models
    .map((m) => `${m.path} has ${m.inputs.map((i) => i.name).join(', ') || 'no inputs'}`)
    .join('; ');
}

/** CONFIG_INVALID naming the first unknown name and the inputs that exist, or a contradicting shape. */
export function checkInputNames(models: readonly ModelInputs[], given: GivenInputs): LoadFailure | undefined {
  const named = (name: string) => models.some((m) => m.inputs.some((i) => i.name === name));
  const flags: [string, readonly string[]][] = [
    ['--input-shape', Object.keys(given.shapes ?? {})],
    ['--input-value', Object.keys(given.values ?? {})],
    ['--sample-inputs', given.samples ?? []],
  ];
  for (const [flag, names] of flags) {
    const unknown = names.filter((n) => !named(n));
    if (unknown.length > 0) {
      return new LoadFailure(
        'CONFIG_INVALID',
        `${flag} names ${unknown.map((n) => `"${n}"`).join(', ')}, not an input of any model of this version: ${existing(models)}`,
        { inputs: unknown },
      );
    }
  }
  for (const [name, dims] of Object.entries(given.shapes ?? {})) {
    for (const model of models) {
      const input = model.inputs.find((i) => i.name === name);
      if (!input || input.type === 'non-tensor') continue;
      try {
        checkConfiguredShape(input, dims);
      } catch (error) {
        return new LoadFailure(
          'CONFIG_INVALID',
          `--input-shape ${name}: ${model.path}: ${(error as Error).message}`,
        );
      }
    }
  }
  return undefined;
}
