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
