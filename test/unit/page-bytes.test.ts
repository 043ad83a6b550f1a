import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import { MAX_PAGE_BYTES } from '../../core/pages.js';
import { listVersions } from '../../core/versions.js';
import { aNewVersion, aShardedManifest } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/**
 * A listing page stays within MAX_PAGE_BYTES of JSON: a Lambda cannot answer more than 6 MB, and API
 * Gateway turns a larger answer into a bare 500. Eight versions of 5 000 files are ~7 MB of JSON.
 */
describe('listing pages bounded in bytes', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
    await createModel(deps, { name: 'wide', provider: 'p', description: '', tags: [] });
  });
  afterEach(() => deps.cleanup());

  it('answers fewer versions than asked when they pass the byte budget, and its cursor reaches every one once', async () => {
    const files = aShardedManifest(5000);
    for (let v = 0; v < 8; v++)
      await deps.metadata.createVersion(aNewVersion({ model: 'wide', version: `v${v}`, files }));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listVersions(deps, 'wide', { limit: 100, cursor });
      expect(page.items.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(MAX_PAGE_BYTES + 1024);
      seen.push(...page.items.map((v) => v.version));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(['v7', 'v6', 'v5', 'v4', 'v3', 'v2', 'v1', 'v0']);
  }, 60_000);
});
