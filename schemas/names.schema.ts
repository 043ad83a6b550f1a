import { z } from 'zod';

// DESIGN.md "Domain": the exact grammars. They exclude '/', '..' as a whole name, control characters and
// whitespace, so a name is always safe as a path segment, a DynamoDB key part and a Prometheus label.
/** A model's name: 1..100 of lower-case letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const ModelName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,99}$/,
    'must match ^[a-z0-9][a-z0-9._-]{0,99}$ (lower-case letters, digits, . _ -)',
  );
/** A provider's name (a group of models): 1..64 of lower-case letters, digits, `.`, `_`, `-`. */
export const ProviderName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must match ^[a-z0-9][a-z0-9._-]{0,63}$');
/** A version's name: 1..64 of letters, digits, `.`, `_`, `+`, `-`, starting with a letter or digit. */
export const VersionString = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, 'must match ^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$');
/** `latest` is implicit (the highest-sequence VERIFIED version) and cannot be set. */
export const AliasName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must match ^[a-z][a-z0-9_-]{0,63}$')
  .refine((s) => s !== 'latest', 'latest is implicit and cannot be set');
/** A SHA-256 digest as 64 lower-case hex digits: a blob's name in every store and on the wire. */
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');
/** True when `value` is a `Sha256Hex` digest (for stores that filter names rather than reject them). */
export const isSha256Hex = (value: string): boolean => Sha256Hex.safeParse(value).success;
/** An MD5 digest as 32 lower-case hex digits (the manifest carries it for S3's Content-MD5). */
export const Md5Hex = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits');

/**
 * Files the fetch command writes next to the model files. A manifest may use none of them as a path nor
 * as a folder above one (`checksums.txt/a` would make fetch's own file collide with a folder), compared
 * case-insensitively so that a node on a case-insensitive file system cannot collide either.
 */
export const RESERVED_TOP_LEVEL_FILES = [
  'checksums.txt',
  'SHA256SUMS',
  '.modelgate.json',
  'model.sig',
  'validation.sig',
] as const;
const RESERVED_LOWER = new Set(RESERVED_TOP_LEVEL_FILES.map((name) => name.toLowerCase()));

/** NAME_MAX of Linux file systems (ext4, xfs, btrfs): the longest file name, in bytes. */
export const MAX_SEGMENT_BYTES = 255;
const utf8 = new TextEncoder();

/**
 * A file's path inside a version: well-formed Unicode, relative, POSIX separators, no empty, '.' or '..'
 * segment, no segment over 255 bytes (UTF-8), no control characters or backslashes, not under a name
 * fetch writes. It becomes a path on every node that fetches the version. Two paths of one version must
 * also differ on a case-insensitive file system: that rule spans files, see core/file-paths.ts.
 */
export const FilePath = z
  .string()
  .min(1)
  .max(512)
  // A lone UTF-16 surrogate has no UTF-8 form: Node writes it to disk as U+FFFD, so `a\ud800` and
  // `a\udc00` would be one file, and no path read back from disk would ever equal the declared one.
  .refine((p) => p.isWellFormed(), 'must be well-formed Unicode (no lone UTF-16 surrogate)')
  .refine(
    (p) => ![...p].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || c === '\\'),
    'must not contain control characters or backslashes',
  )
  .refine((p) => !p.startsWith('/'), 'must be relative')
  .refine(
    (p) => p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
    "must not contain empty, '.' or '..' segments",
  )
  .refine(
    (p) => p.split('/').every((s) => utf8.encode(s).length <= MAX_SEGMENT_BYTES),
    `must not have a segment longer than ${MAX_SEGMENT_BYTES} bytes (a file system's longest name)`,
  )
  .refine(
    (p) => !RESERVED_LOWER.has((p.split('/')[0] ?? '').toLowerCase()),
    `must not be, nor be under, ${RESERVED_TOP_LEVEL_FILES.join(', ')} (written by fetch)`,
  );
