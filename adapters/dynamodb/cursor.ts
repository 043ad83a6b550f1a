import { invalid } from '../../core/errors.js';

/**
 * Page cursors: DynamoDB's LastEvaluatedKey (string attributes only, in this table) as base64url JSON.
 * Opaque to clients; on the way back in it is checked against the query it is used with, so a forged
 * or foreign cursor is an INVALID_REQUEST instead of a DynamoDB ValidationException or another model's page.
 */
export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export interface CursorShape {
  /** Exactly the attributes of the key: the table's, plus the index's for an index query. */
  readonly keyAttrs: readonly string[];
  /** The partition attribute of the query and the value it must hold. */
  readonly partitionAttr: string;
  readonly partition: string;
  /** When set, the table sort key `sk` must start with it. */
  readonly sortPrefix?: string;
}

export function decodeCursor(cursor: string, shape: CursorShape): Record<string, string> {
  const bad = () => invalid('cursor', 'not a cursor of this listing');
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad();
  const entries = Object.entries(parsed);
  const sameAttrs =
    entries.length === shape.keyAttrs.length &&
    shape.keyAttrs.every((a) => typeof (parsed as Record<string, unknown>)[a] === 'string');
  if (!sameAttrs) throw bad();
  const key = parsed as Record<string, string>;
  if (key[shape.partitionAttr] !== shape.partition) throw bad();
  if (shape.sortPrefix !== undefined && !key.sk?.startsWith(shape.sortPrefix)) throw bad();
  return key;
}
