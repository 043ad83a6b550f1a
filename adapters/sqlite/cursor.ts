import { RegistryError } from '../../core/errors.js';

/** Opaque keyset cursors: base64url JSON of the last row's sort key. Never an offset. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): (string | number)[] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(key) &&
      key.length === arity &&
      key.every((k) => typeof k === 'string' || typeof k === 'number')
    )
      return key;
  } catch {
    // fall through to the error below
  }
  throw new RegistryError('INVALID_REQUEST', 'cursor: not a cursor returned by this registry', {
    field: 'cursor',
  });
}
