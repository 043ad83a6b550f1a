import { gunzipSync, gzipSync } from 'node:zlib';

/**
 * Large documents of a version (its manifest, its validation reports) outside the item that names them,
 * so that a version can hold thousands of files within DynamoDB's 400 KB item limit.
 *
 * A document whose JSON is at most INLINE_BYTES stays in its item as a map, as before. A larger one is
 * gzipped and cut into parts of at most PART_BYTES, each stored as a binary attribute of its own item
 * under the same partition (dynamodb-table-layout.ts names the keys); the owning item keeps only how
 * many parts there are. Reading it back is one Query of the parts' key prefix.
 */

/** Documents up to this many bytes of JSON stay inline (a version of a few dozen files). */
export const INLINE_BYTES = 32 * 1024;
/** The most bytes of gzipped JSON one part item holds: under 400 KB with its keys. */
export const PART_BYTES = 300 * 1024;

/** The gzipped parts of the document, or null when it is small enough to stay inline. */
export function spill(value: unknown): Uint8Array[] | null {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  if (json.length <= INLINE_BYTES) return null;
  const packed = gzipSync(json);
  const parts: Uint8Array[] = [];
  for (let at = 0; at < packed.length; at += PART_BYTES) parts.push(packed.subarray(at, at + PART_BYTES));
  return parts;
}

/**
 * The document the parts (in order) hold. Throws when they do not make one: a part missing, or bytes
 * that were not written by `spill` (the caller reads again, strongly consistent, or reports the fault).
 */
export function unspill(parts: readonly Uint8Array[]): unknown {
  return JSON.parse(gunzipSync(Buffer.concat(parts.map((p) => Buffer.from(p)))).toString('utf8'));
}
