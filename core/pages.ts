import type { Model } from '../schemas/model.schema.js';
import type { Page, RegistryDeps } from './ports.js';

/**
 * Every item of a cursor-paginated listing, fetching the next page only when the caller gets there:
 * use cases iterate, they never carry cursors. Stopping early (a `return` inside `for await`) fetches
 * nothing more.
 */
export async function* eachItem<T>(
  listPage: (cursor: string | undefined) => Promise<Page<T>>,
): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await listPage(cursor);
    yield* page.items;
    cursor = page.nextCursor;
  } while (cursor);
}

/** Every model of `provider`, read from the store page by page (200 a page) as the caller iterates. */
export const modelsOfProvider = (deps: RegistryDeps, provider: string): AsyncGenerator<Model> =>
  eachItem((cursor) => deps.metadata.listModelsByProvider(provider, { limit: 200, cursor }));

/**
 * The most JSON one page of an API listing may carry. A Lambda answers at most 6 MB (past it API Gateway
 * gives a bare 500 with no error code), and the same listing answers alike on every deployment; a
 * version with thousands of files and their reports is close to a megabyte, so a page of 100 can pass it.
 */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * A page of at most `limit` items and MAX_PAGE_BYTES of JSON (at least one item): when the page read holds
 * more, it is read again for as many leading items as fit, so its cursor continues right after them.
 */
export async function pageWithinBytes<T>(
  limit: number,
  read: (limit: number) => Promise<Page<T>>,
): Promise<Page<T>> {
  const page = await read(limit);
  let bytes = 0;
  let fit = 0;
  for (const item of page.items) {
    bytes += Buffer.byteLength(JSON.stringify(item));
    if (bytes > MAX_PAGE_BYTES) break;
    fit++;
  }
  return fit === page.items.length ? page : read(Math.max(1, fit));
}
