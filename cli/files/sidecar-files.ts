/**
 * The names of the files `modelgate fetch` writes next to the model files (schemas reserve these names).
 * A module of its own, free of zod, so that `verify` can list a folder and start hashing before the
 * schemas are loaded.
 */
export const METADATA_FILE = '.modelgate.json';
export const MD5_SUMS_FILE = 'checksums.txt';
export const SHA256_SUMS_FILE = 'SHA256SUMS';
/** `fetch --verify-key` also installs the registry's signatures (schemas/signature.schema.ts) there. */
export const SIDECAR_FILES: readonly string[] = [
  METADATA_FILE,
  MD5_SUMS_FILE,
  SHA256_SUMS_FILE,
  'model.sig',
  'validation.sig',
];
