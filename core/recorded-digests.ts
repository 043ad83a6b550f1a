import type { Version } from '../schemas/version.schema.js';

/**
 * The version as readers see it: every file published without an md5 carries the md5 its validation
 * recorded (`report.files[].md5`, computed from the bytes verified against the file's sha256), so a
 * VERIFIED version always names both digests (nodes write `checksums.txt` from them). Only a report entry
 * for the same path and sha256 counts; a file the report has no md5 for (not validated yet, or failed
 * before its bytes were hashed) keeps none. A declared md5 is never replaced: validation checked it.
 */
export function withRecordedDigests(version: Version): Version {
  const report = version.report;
  if (!report || version.files.every((f) => f.md5 !== undefined)) return version;
  const recorded = new Map(report.files.map((f) => [f.path, f]));
  return {
    ...version,
    files: version.files.map((file) => {
      if (file.md5 !== undefined) return file;
      const entry = recorded.get(file.path);
      return entry?.md5 !== undefined && entry.sha256 === file.sha256 ? { ...file, md5: entry.md5 } : file;
    }),
  };
}
