import type { MetadataStore } from '../../core/ports.js';

/**
 * A short read-through cache in front of a MetadataStore, for a Lambda that only reads (downloads):
 * thousands of nodes resolving `production` at deploy time ask the same few keys within seconds, and
 * each warm container answers the repeats from memory. Misses (null: no such alias, version, model) are
 * cached as well, since resolving an alias also asks whether a version of that name exists. A cached
 * answer is at most `ttlMs` old, which is why only the read-only download path uses it: a version
 * quarantined now is refused by new plans within `ttlMs`, and `fetch` asks the (uncached) version route
 * again before it switches a node to what it downloaded.
 *
 * Concurrent identical reads share one request; a read that fails is not cached. At most `maxEntries`
 * answers are kept (oldest first out).
 */

/** The reads the cache answers: lookups by key. Listings, writes and everything else pass through. */
const CACHED_READS = new Set<keyof MetadataStore>([
  'getModel',
  'getVersion',
  'getAlias',
  'latestVerified',
  'getProvider',
  'listVersions',
]);

/** How long a cached answer is served (ms): seconds, so a change reaches every node within a deploy step. */
export const READ_CACHE_TTL_MS = 5_000;

export interface ReadCacheStats {
  /** Reads answered from memory. */
  readonly hits: number;
  /** Reads that went to the store (and were then cached). */
  readonly misses: number;
}

export interface ReadCache {
  readonly store: MetadataStore;
  /** Hits and misses since the last call (a Lambda flushes them as metrics once per invocation). */
  takeStats(): ReadCacheStats;
}

export function cachedReads(
  store: MetadataStore,
  options: { readonly ttlMs?: number; readonly maxEntries?: number; readonly now?: () => number } = {},
): ReadCache {
  const ttlMs = options.ttlMs ?? READ_CACHE_TTL_MS;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { readonly expires: number; readonly value: Promise<unknown> }>();
  let hits = 0;
  let misses = 0;

  const read = (method: keyof MetadataStore, args: unknown[]): Promise<unknown> => {
    const key = `${method}\u0000${JSON.stringify(args)}`;
    const cached = entries.get(key);
    if (cached && cached.expires > now()) {
      hits++;
      return cached.value;
    }
    misses++;
    const value = (store[method] as (...a: unknown[]) => Promise<unknown>).apply(store, args);
    entries.delete(key);
    if (entries.size >= maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    entries.set(key, { expires: now() + ttlMs, value });
    value.catch(() => {
      if (entries.get(key)?.value === value) entries.delete(key);
    });
    return value;
  };

  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const original = Reflect.get(target, property, receiver) as unknown;
      if (typeof original !== 'function') return original;
      if (CACHED_READS.has(property as keyof MetadataStore))
        return (...args: unknown[]) => read(property as keyof MetadataStore, args);
      return (original as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return {
    store: proxy,
    takeStats() {
      const stats = { hits, misses };
      hits = 0;
      misses = 0;
      return stats;
    },
  };
}
