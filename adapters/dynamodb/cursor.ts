/**
 * Page cursors: DynamoDB's LastEvaluatedKey (string attributes only, in this table) as base64url JSON.
 * Opaque to clients; on the way back in it is checked against the query it is used with, so a forged
 * or foreign cursor is refused (the store answers INVALID_REQUEST) instead of a DynamoDB ValidationException or another model's page.
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

/** The key a cursor holds, or null when it is not a key of the listing `shape` describes. */
export function decodeCursor(cursor: string, shape: CursorShape): Record<string, string> | null {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const entries = Object.entries(parsed);
  const sameAttrs =
    entries.length === shape.keyAttrs.length &&
    shape.keyAttrs.every((a) => typeof (parsed as Record<string, unknown>)[a] === 'string');
  if (!sameAttrs) return null;
  const key = parsed as Record<string, string>;
  if (key[shape.partitionAttr] !== shape.partition) return null;
  if (shape.sortPrefix !== undefined && !key.sk?.startsWith(shape.sortPrefix)) return null;
  return key;
}
