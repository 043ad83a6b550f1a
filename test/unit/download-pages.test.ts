import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchDownloadPlan } from '../../cli/files/download-plan.js';
import { setAlias } from '../../core/aliases.js';
import { DOWNLOAD_PAGE_FILES, planDownload } from '../../core/download.js';
import { RegistryError } from '../../core/errors.js';
import { createModel } from '../../core/models.js';
import type { DownloadPlan, ManifestFile } from '../../schemas/version.schema.js';
import { aManifestFile, aNewVersion } from '../helpers/builders.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** A download plan of many files comes in pages, and the CLI puts the pages back together safely. */
describe('paginated download plans', () => {
  let deps: TestDeps;
  const count = 2 * DOWNLOAD_PAGE_FILES + 201;
  const files: ManifestFile[] = Array.from({ length: count }, (_, i) =>
    aManifestFile({
      path: `shards/${String(i).padStart(5, '0')}.bin`,
      size: i,
      sha256: createHash('sha256').update(`${i}`).digest('hex'),
      md5: createHash('md5').update(`${i}`).digest('hex'),
      format: 'other',
    }),
  );

  beforeEach(async () => {
    deps = await localTestDeps();
    await createModel(deps, { name: 'big', provider: 'p', description: '', tags: [] });
    for (const version of ['1', '2'])
      await deps.metadata.createVersion(aNewVersion({ model: 'big', version, status: 'VERIFIED', files }));
    await setAlias(deps, 'big', 'production', '1');
  });
  afterEach(() => deps.cleanup());

  /** Every page of the plan of `ref`, following the cursors. */
  async function pages(ref: string): Promise<DownloadPlan[]> {
    const out = [await planDownload(deps, 'big', ref)];
    while (out.at(-1)!.nextCursor && out.length < 10)
      out.push(await planDownload(deps, 'big', ref, { cursor: out.at(-1)!.nextCursor }));
    return out;
  }

  it('signs at most DOWNLOAD_PAGE_FILES files a page, in manifest order, with no gap or repeat', async () => {
    const all = await pages('production');
    expect(all.map((p) => p.files.length)).toEqual([DOWNLOAD_PAGE_FILES, DOWNLOAD_PAGE_FILES, 201]);
    expect(all.at(-1)!.nextCursor).toBeUndefined();
    expect(all.flatMap((p) => p.files.map((f) => f.path))).toEqual(files.map((f) => f.path));
    for (const p of all) expect(p.version.version).toBe('1');
  });

  it('pins the version the first page resolved, even when the alias moves between pages', async () => {
    const first = await planDownload(deps, 'big', 'production');
    await setAlias(deps, 'big', 'production', '2');
    const second = await planDownload(deps, 'big', 'production', { cursor: first.nextCursor });
    expect(second.version.version).toBe('1');
  });

  it('refuses a later page of a version quarantined meanwhile, and cursors not of this plan', async () => {
    const first = await planDownload(deps, 'big', 'production');
    await deps.metadata.updateVersion(
      { model: 'big', version: '1' },
      { status: ['VERIFIED'] },
      { status: 'QUARANTINED', updatedAt: deps.clock.now().toISOString() },
    );
    await expect(planDownload(deps, 'big', 'production', { cursor: first.nextCursor })).rejects.toMatchObject(
      {
        code: 'NOT_VERIFIED',
      },
    );
    const bad = (cursor: string) => planDownload(deps, 'big', '2', { cursor });
    for (const cursor of [
      first.nextCursor!, // made for `production`
      'not-base64-json',
      Buffer.from(JSON.stringify(['2', '2', -1])).toString('base64url'),
      Buffer.from(JSON.stringify(['2', '../x', 500])).toString('base64url'),
      Buffer.from(JSON.stringify(['2', '2', count])).toString('base64url'),
    ]) {
      const err = await bad(cursor).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'cursor' } });
    }
  });

  it('the CLI follows the pages into one checked plan', async () => {
    const requested: (string | undefined)[] = [];
    const plan = await fetchDownloadPlan((cursor) => {
      requested.push(cursor);
      return planDownload(deps, 'big', 'production', { cursor }).then((p) => JSON.parse(JSON.stringify(p)));
    }, 'big');
    expect(requested).toHaveLength(3);
    expect(requested[0]).toBeUndefined();
    expect(plan.files.map((f) => f.path)).toEqual(files.map((f) => f.path));
  });

  it('the CLI refuses pages that repeat, switch versions or hold nothing, as UNSAFE_PLAN', async () => {
    const [p1, p2] = await pages('production');
    const of2 = await planDownload(deps, 'big', '2', {
      cursor: Buffer.from(JSON.stringify(['2', '2', DOWNLOAD_PAGE_FILES])).toString('base64url'),
    });
    const serve = (later: unknown) => (cursor: string | undefined) =>
      Promise.resolve(JSON.parse(JSON.stringify(cursor === undefined ? p1 : later)));
    const cases: [unknown, RegExp][] = [
      [{ ...p2, nextCursor: p1!.nextCursor }, /nextCursor: repeats an earlier page/],
      [of2, /version: a later page is of big@2/],
      [{ ...p2, files: [] }, /files: a page of the plan holds no file/],
    ];
    for (const [later, message] of cases)
      await expect(fetchDownloadPlan(serve(later), 'big')).rejects.toMatchObject({
        code: 'UNSAFE_PLAN',
        message,
      });
  });
});
