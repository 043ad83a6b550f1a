import type { QueryCommandInput, QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import type { PageOutcome } from '../../core/metadata-store-base.js';
import type { PageRequest } from '../../core/ports.js';
import { type CursorShape, decodeCursor, encodeCursor } from './cursor.js';
import type { Item } from './dynamodb-table-layout.js';

/** One Query against the table (the caller adds TableName and maps SDK errors). */
export type RunQuery = (
  input: Omit<QueryCommandInput, 'TableName'>,
) => Promise<Pick<QueryCommandOutput, 'Items' | 'LastEvaluatedKey'>>;

/** A filtered query reads at most this many rounds for one page before handing back a partial page. */
const MAX_FILTERED_ROUNDS = 10;

/** Every item a query matches, following LastEvaluatedKey, at most `limit`. */
export async function queryAll(
  query: RunQuery,
  input: Omit<QueryCommandInput, 'TableName'>,
  limit = Number.POSITIVE_INFINITY,
): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const out = await query({
      ...input,
      ...(Number.isFinite(limit) ? { Limit: limit - items.length } : {}),
      ExclusiveStartKey: start,
    });
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start && items.length < limit);
  return items;
}

/**
 * One page of a query, filled up to `page.limit` items (already checked: 1..1000) even when a filter
 * drops some (bounded rounds). The cursor is the key of the last item returned (or DynamoDB's
 * LastEvaluatedKey when the page ends on a filtered-out stretch), so no item is ever skipped or
 * repeated between pages. 'bad-cursor' when the cursor is not a key of this listing (`cursorShape`).
 */
export async function queryPage(
  query: RunQuery,
  input: Omit<QueryCommandInput, 'TableName'>,
  page: PageRequest,
  cursorShape: CursorShape,
): Promise<PageOutcome<Item>> {
  const limit = page.limit;
  let start: Item | undefined;
  if (page.cursor !== undefined) {
    const decoded = decodeCursor(page.cursor, cursorShape);
    if (!decoded) return 'bad-cursor';
    start = decoded;
  }
  const items: Item[] = [];
  const filtered = input.FilterExpression !== undefined;
  for (let round = 0; !filtered || round < MAX_FILTERED_ROUNDS; round++) {
    const wanted = limit - items.length;
    // One extra item tells whether another page exists, so a full last page carries no cursor.
    const out = await query({
      ...input,
      Limit: filtered ? Math.min(1000, Math.max(wanted + 1, 50)) : wanted + 1,
      ExclusiveStartKey: start,
    });
    const batch = out.Items ?? [];
    const taken = batch.slice(0, wanted);
    items.push(...taken);
    const last = taken.at(-1);
    if (batch.length > taken.length && last)
      return { items, nextCursor: encodeCursor(pick(last, cursorShape.keyAttrs)) };
    if (!out.LastEvaluatedKey) return { items };
    start = out.LastEvaluatedKey;
    if (items.length >= limit) return { items, nextCursor: encodeCursor(start) };
  }
  // A sparse filter: hand back what was found and let the caller continue from here.
  return { items, nextCursor: start ? encodeCursor(start) : undefined };
}

/** The page of items mapped to domain objects, or 'bad-cursor' as it was. */
export function mapPage<T>(outcome: PageOutcome<Item>, map: (item: Item) => T): PageOutcome<T> {
  return outcome === 'bad-cursor' ? outcome : { ...outcome, items: outcome.items.map(map) };
}

function pick(item: Item, attrs: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(attrs.map((a) => [a, item[a]]));
}
