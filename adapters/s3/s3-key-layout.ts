import { RegistryError } from '../../core/errors.js';
import { isSha256Hex } from '../../schemas/names.schema.js';

/**
 * Where the S3 blob store keeps what, below its key prefix. The CDK app grants each role exactly the
 * prefixes whose objects that role's calls read or write (cdk/constructs/data-access.ts), from this one
 * table: a key the store uses outside the prefixes a role was granted is refused by S3 with 403
 * (AccessDenied: without s3:GetObject on a key, even "no such key" is a 403), which s3rver in the tests
 * would never show.
 * - `blobs`: the content-addressed model files, `blobs/sha256/<first 2 hex>/<hex>`;
 * - `corruptMarks`: `corrupt/sha256/<hex>`, naming the ETag and LastModified of an object found rotten;
 * - `proofs`: `proven/sha256/<hex>`, naming an object a validation hashed whole and found to be the blob
 *   (its version, ETag, LastModified and S3's checksum), with its md5 and size: the next validation of
 *   that same object downloads it without hashing it again.
 */
export const S3_KEY_LAYOUT = {
  blobs: 'blobs/sha256/',
  corruptMarks: 'corrupt/sha256/',
  proofs: 'proven/sha256/',
} as const;

export type S3KeyLayout = typeof S3_KEY_LAYOUT;

/** The object keys of one blob and of its marks. */
export interface BlobKeys {
  readonly blob: string;
  readonly corruptMark: string;
  readonly proof: string;
}

/**
 * The keys of the blob named `sha256` under `keyPrefix` ('' or ending in '/'). INVALID_REQUEST (field
 * `sha256`) for a name that is not 64 lower-case hex digits: a name never steers a key.
 */
export function blobKeys(keyPrefix: string, sha256: string): BlobKeys {
  if (!isSha256Hex(sha256))
    throw new RegistryError('INVALID_REQUEST', 'sha256 must be 64 lower-case hex digits', {
      field: 'sha256',
    });
  return {
    blob: `${keyPrefix}${S3_KEY_LAYOUT.blobs}${sha256.slice(0, 2)}/${sha256}`,
    corruptMark: `${keyPrefix}${S3_KEY_LAYOUT.corruptMarks}${sha256}`,
    proof: `${keyPrefix}${S3_KEY_LAYOUT.proofs}${sha256}`,
  };
}
