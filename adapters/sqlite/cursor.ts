/** Opaque keyset cursors: base64url JSON of the last row's sort key. Never an offset. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key a cursor holds, or null when it is not a cursor of `arity` keys made by encodeCursor. */
export function decodeCursor(cursor: string, arity: number): (string | number)[] | null {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(key) &&
      key.length === arity &&
      key.every((k) => typeof k === 'string' || typeof k === 'number')
    )
      return key;
  } catch {
    // not JSON: not a cursor
  }
  return null;
}
