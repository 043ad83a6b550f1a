import { z } from 'zod';
import { ModelName, ProviderName, VersionString } from '../../schemas/names.schema.js';
import { ValidationReport } from '../../schemas/report.schema.js';
import { InputShapes, InputValues, ManifestFile, type Version } from '../../schemas/version.schema.js';

/** What `.modelgate.json` holds: enough for `verifyDir` and an operator to know what is installed. */
export const InstalledMetadata = z.object({
  model: ModelName,
  version: VersionString,
  seq: z.number().int().positive(),
  provider: ProviderName,
  files: z.array(ManifestFile),
  fetchedAt: z.string(),
  /**
   * What the version was validated with, so `doctor` can check this node offline: the shapes and values
   * it is served at and the validation report (runtime, execution provider, peaks, per-file inspection).
   * Absent in folders fetched before doctor existed.
   */
  inputShapes: InputShapes.optional(),
  inputValues: InputValues.optional(),
  report: ValidationReport.optional(),
});
export type InstalledMetadata = z.infer<typeof InstalledMetadata>;

export function installedMetadata(
  version: Version,
  files: readonly ManifestFile[],
  now: Date,
): InstalledMetadata {
  return {
    model: version.model,
    version: version.version,
    seq: version.seq,
    provider: version.provider,
    files: files.map(({ path, size, sha256, md5, format }) => ({ path, size, sha256, md5, format })),
    fetchedAt: now.toISOString(),
    inputShapes: version.inputShapes,
    ...(version.inputValues ? { inputValues: version.inputValues } : {}),
    ...(version.report ? { report: version.report } : {}),
  };
}

/**
 * `md5sum -c` / `sha256sum -c` text format: "<hex>  <path>" (two spaces = text mode). Paths can hold
 * neither newlines nor backslashes (FilePath), so no escaping is ever needed.
 */
export function checksumLines(files: readonly ManifestFile[], digest: 'md5' | 'sha256'): string {
  return files.map((file) => `${file[digest]}  ${file.path}\n`).join('');
}
