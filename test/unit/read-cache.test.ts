import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planDownload } from '../../core/download.js';
import { createModel } from '../../core/models.js';
import { cachedReads, READ_CACHE_TTL_MS } from '../../lambdas/aws/read-cache.js';
import { aManifestFile, aNewVersion } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** The downloads Lambda's read cache, in front of a real (SQLite) store. */
describe('read cache of the download path', () => {
  let deps: TestDeps;
  let now: number;
  beforeEach(async () => {
    deps = await localTestDeps();
    now = 1_000_000;
    await createModel(deps, { name: 'det', provider: 'p', description: '', tags: [] });
    await deps.metadata.createVersion(
      aNewVersion({ model: 'det', version: '1', status: 'VERIFIED', files: [aManifestFile()] }),
    );
  });
  afterEach(() => deps.cleanup());
  const cache = (maxEntries?: number) =>
    cachedReads(deps.metadata, { now: () => now, ...(maxEntries ? { maxEntries } : {}) });
  const ref = { model: 'det', version: '1' };

  it('answers a repeat within the TTL from memory, and asks the store again after it', async () => {
    const c = cache();
    const first = await c.store.getVersion(ref);
    expect(await c.store.getVersion(ref)).toEqual(first);
    expect(c.takeStats()).toEqual({ hits: 1, misses: 1 });
    await deps.metadata.updateVersion(ref, { status: ['VERIFIED'] }, { status: 'QUARANTINED' });
    expect((await c.store.getVersion(ref))?.status).toBe('VERIFIED'); // still within the TTL
    now += READ_CACHE_TTL_MS;
    expect((await c.store.getVersion(ref))?.status).toBe('QUARANTINED');
    expect(c.takeStats()).toEqual({ hits: 1, misses: 1 });
  });

  it('caches misses too: a resolve of an alias asks once whether a version of that name exists', async () => {
    const c = cache();
    const resolveDeps = { ...deps, metadata: c.store };
    await deps.metadata.setAlias({ model: 'det', alias: 'production', version: '1', updatedAt: 'x' });
    for (let i = 0; i < 5; i++) await planDownload(resolveDeps, 'det', 'production');
    const { hits, misses } = c.takeStats();
    expect(misses).toBeGreaterThan(0);
    // Four of five plans are answered from memory: every read of theirs is a hit.
    expect(hits).toBe(misses * 4);
    expect(await c.store.getAlias('det', 'nope')).toBeNull();
    expect(await c.store.getAlias('det', 'nope')).toBeNull();
    expect(c.takeStats()).toEqual({ hits: 1, misses: 1 });
  });

  it('shares one request between concurrent identical reads, and never caches a failure', async () => {
    const c = cache();
    await Promise.all([c.store.getModel('det'), c.store.getModel('det')]);
    expect(c.takeStats()).toEqual({ hits: 1, misses: 1 });
    for (let i = 0; i < 2; i++)
      await expect(c.store.listVersions('det', { limit: 0 })).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
      });
    expect(c.takeStats()).toEqual({ hits: 0, misses: 2 });
  });

  it('passes writes through, and keeps at most maxEntries answers', async () => {
    const c = cache(2);
    await c.store.updateVersion(ref, { status: ['VERIFIED'] }, { status: 'DEPRECATED' });
    expect((await deps.metadata.getVersion(ref))?.status).toBe('DEPRECATED');
    for (const name of ['a', 'b', 'c', 'a']) await c.store.getModel(name);
    expect(c.takeStats()).toEqual({ hits: 0, misses: 4 }); // `a` was evicted by `c`
  });
});
