import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../core/errors.js';
import type { MetadataStore, Page, VersionPatch, VersionRef } from '../../core/ports.js';
import type { ErrorCode } from '../../schemas/error-codes.schema.js';
import type { Model } from '../../schemas/model.schema.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import type { Version, VersionStatus } from '../../schemas/version.schema.js';
import { aShardedManifest } from '../helpers/builders.js';

/**
 * The behaviour every MetadataStore must have, written against the port only. Each test gets a fresh,
 * empty store from `setup` and releases it with `cleanup`.
 */
export function describeMetadataStoreContract(
  adapterName: string,
  setup: () => Promise<{ store: MetadataStore; cleanup: () => Promise<void> }>,
): void {
  describe(`MetadataStore contract: ${adapterName}`, () => {
    let store: MetadataStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await setup());
    });
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    /** Creates the model and versions 1..n of it, in order; returns the versions. */
    async function seedVersions(
      model: string,
      n: number,
      status: VersionStatus = 'PENDING_UPLOAD',
    ): Promise<Version[]> {
      if (!(await store.getModel(model))) await store.createModel(aModel(model));
      const created: Version[] = [];
      for (let i = 1; i <= n; i++)
        created.push(await store.createVersion(aVersion(model, `1.0.${i}`, { status })));
      return created;
    }

    describe('models', () => {
      it('stores a model and reads it back; an unknown name is null', async () => {
        const model = aModel('ocr-det', { tags: ['ocr', 'detector'], description: 'text detector' });
        await store.createModel(model);
        expect(await store.getModel('ocr-det')).toEqual(model);
        expect(await store.getModel('nope')).toBeNull();
      });

      it('refuses a duplicate model with ALREADY_EXISTS and keeps the stored one', async () => {
        await store.createModel(aModel('ocr-det', { description: 'first' }));
        await rejectsWith(store.createModel(aModel('ocr-det', { description: 'second' })), 'ALREADY_EXISTS');
        expect((await store.getModel('ocr-det'))?.description).toBe('first');
      });

      it('pages through models by cursor without duplicates or gaps', async () => {
        const names = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
        for (const name of names) await store.createModel(aModel(name));
        const pages = await collectPages((cursor) => store.listModels({ limit: 3, cursor }));
        expect(pages.length).toBeGreaterThan(1);
        for (const page of pages) expect(page.items.length).toBeLessThanOrEqual(3);
        const seen = pages.flatMap((p) => p.items.map((m) => m.name));
        expect(seen).toHaveLength(names.length);
        expect([...seen].sort()).toEqual(names);
      });

      it('refuses a limit that is not a positive integer with INVALID_REQUEST naming the field', async () => {
        await seedVersions('det', 1);
        const ref = { model: 'det', version: '1.0.1' };
        for (const limit of [0, -1, 1.5, Number.NaN]) {
          const listings = [
            store.listModels({ limit }),
            store.listVersions('det', { limit }),
            store.listVersionsByStatus('PENDING_UPLOAD', { limit }),
            store.listReports(ref, { limit }),
            store.listModelsByProvider('paddle', { limit }),
          ];
          for (const listing of listings) {
            const err = await rejectsWith(listing, 'INVALID_REQUEST');
            expect(err.details).toMatchObject({ field: 'limit' });
          }
        }
        // A limit past the page cap is served, not refused.
        expect((await store.listModels({ limit: 5000 })).items.map((m) => m.name)).toEqual(['det']);
      });

      it('refuses a malformed cursor with INVALID_REQUEST naming the field', async () => {
        await store.createModel(aModel('m1'));
        for (const cursor of ['not a cursor!', 'AAAA', Buffer.from('{"x":1}').toString('base64url')]) {
          const err = await rejectsWith(store.listModels({ limit: 2, cursor }), 'INVALID_REQUEST');
          expect(err.details).toMatchObject({ field: 'cursor' });
        }
      });
    });

    describe('versions', () => {
      it('numbers versions 1, 2, 3 per model and returns them as stored', async () => {
        const created = await seedVersions('det', 3);
        expect(created.map((v) => v.seq)).toEqual([1, 2, 3]);
        await store.createModel(aModel('rec'));
        expect((await store.createVersion(aVersion('rec', '1.0.0'))).seq).toBe(1);
        const input = aVersion('det', '2.0.0', {
          memoryBudgetBytes: 1024,
          inputShapes: { x: [1, 3, 960, 960] },
          inputValues: { sr: 16000, lang: 'en' },
        });
        const stored = await store.createVersion(input);
        expect(stored).toEqual({ ...input, seq: 4 });
        expect(await store.getVersion({ model: 'det', version: '2.0.0' })).toEqual(stored);
        expect(await store.getVersion({ model: 'det', version: '9.9.9' })).toBeNull();
        expect(await store.getVersion({ model: 'other', version: '2.0.0' })).toBeNull();
      });

      it('refuses a duplicate version with ALREADY_EXISTS, keeps the stored one and leaves no seq gap', async () => {
        await seedVersions('det', 1);
        await rejectsWith(
          store.createVersion(aVersion('det', '1.0.1', { publisher: 'intruder' })),
          'ALREADY_EXISTS',
        );
        const kept = await store.getVersion({ model: 'det', version: '1.0.1' });
        expect(kept?.publisher).toBe('alice');
        expect(kept?.seq).toBe(1);
        expect((await store.createVersion(aVersion('det', '1.0.2'))).seq).toBe(2);
      });

      it('gives 10 concurrent createVersion calls distinct, gapless seqs', async () => {
        await store.createModel(aModel('det'));
        const created = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.createVersion(aVersion('det', `2.0.${i}`))),
        );
        expect(created.map((v) => v.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        for (const v of created) expect((await store.getVersion(v))?.seq).toBe(v.seq);
      });

      it('applies an update only when the status condition holds, CONFLICT otherwise', async () => {
        const [v] = await seedVersions('det', 1);
        const ref = refOf(v!);
        const updated = await store.updateVersion(
          ref,
          { status: ['PENDING_UPLOAD'] },
          { status: 'UPLOADED', updatedAt: at(10) },
        );
        expect(updated).toMatchObject({
          ...ref,
          status: 'UPLOADED',
          updatedAt: at(10),
          seq: 1,
          publisher: 'alice',
        });
        expect(await store.getVersion(ref)).toEqual(updated);

        await rejectsWith(
          store.updateVersion(
            ref,
            { status: ['PENDING_UPLOAD', 'VALIDATING'] },
            { status: 'FAILED', updatedAt: at(11) },
          ),
          'CONFLICT',
        );
        expect(await store.getVersion(ref)).toEqual(updated);
      });

      it('checks the lease owner when the condition names one', async () => {
        const [v] = await seedVersions('det', 1, 'VALIDATING');
        const ref = refOf(v!);
        await store.updateVersion(
          ref,
          { status: ['VALIDATING'] },
          { validation: { attempts: 1, leaseOwner: 'w1' } },
        );
        await rejectsWith(
          store.updateVersion(
            ref,
            { status: ['VALIDATING'], leaseOwner: 'w2' },
            { status: 'VERIFIED', updatedAt: at(5) },
          ),
          'CONFLICT',
        );
        expect((await store.getVersion(ref))?.status).toBe('VALIDATING');
        const done = await store.updateVersion(
          ref,
          { status: ['VALIDATING'], leaseOwner: 'w1' },
          { status: 'VERIFIED', updatedAt: at(6), validation: { attempts: 1 } },
        );
        expect(done.status).toBe('VERIFIED');
        expect(done.validation).toEqual({ attempts: 1 });
        // A version without a lease owner does not match a condition that names one.
        const unleased = await store.createVersion(aVersion('det', 'unleased', { status: 'VALIDATING' }));
        await rejectsWith(
          store.updateVersion(refOf(unleased), { status: ['VALIDATING'], leaseOwner: 'w1' }, {}),
          'CONFLICT',
        );
      });

      it('lets exactly one of 10 concurrent racers win the same transition', async () => {
        const [v] = await seedVersions('det', 1, 'UPLOADED');
        const ref = refOf(v!);
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            store.updateVersion(
              ref,
              { status: ['UPLOADED'] },
              { status: 'VALIDATING', updatedAt: at(20), validation: { attempts: 1, leaseOwner: `w${i}` } },
            ),
          ),
        );
        const winners = results.filter((r) => r.status === 'fulfilled');
        const losers = results.filter((r) => r.status === 'rejected');
        expect(winners).toHaveLength(1);
        for (const l of losers)
          expect(((l as PromiseRejectedResult).reason as RegistryError).code).toBe('CONFLICT');
        const winner = (winners[0] as PromiseFulfilledResult<Version>).value;
        expect((await store.getVersion(ref))?.validation.leaseOwner).toBe(winner.validation.leaseOwner);
      });

      it('removes the patched fields whose value is undefined and keeps the others', async () => {
        const [v] = await seedVersions('det', 1, 'VALIDATING');
        const ref = refOf(v!);
        const failed = await store.updateVersion(
          ref,
          { status: ['VALIDATING'] },
          {
            status: 'FAILED',
            statusReason: {
              code: 'INSUFFICIENT_MEMORY',
              message: 'peak 9 GiB over 8 GiB',
              file: 'model.onnx',
            },
            report: aReport(1),
            memoryBudgetBytes: 8 * 1024 ** 3,
            updatedAt: at(30),
          },
        );
        expect(failed.statusReason?.code).toBe('INSUFFICIENT_MEMORY');
        expect(failed.report).toEqual(aReport(1));
        const cleared = await store.updateVersion(
          ref,
          { status: ['FAILED'] },
          { status: 'UPLOADED', statusReason: undefined, memoryBudgetBytes: undefined, updatedAt: at(31) },
        );
        for (const read of [cleared, await store.getVersion(ref)]) {
          expect(read?.statusReason).toBeUndefined();
          expect(read?.memoryBudgetBytes).toBeUndefined();
          expect(read?.report).toEqual(aReport(1));
          expect(read?.status).toBe('UPLOADED');
        }
      });

      it('refuses a version of an unknown model with NOT_FOUND', async () => {
        const err = await rejectsWith(store.createVersion(aVersion('ghost', '1.0.0')), 'NOT_FOUND');
        expect(err.details).toMatchObject({ model: 'ghost' });
        expect(await store.getVersion({ model: 'ghost', version: '1.0.0' })).toBeNull();
      });

      it('says in a CONFLICT what the status was and what was expected', async () => {
        const [v] = await seedVersions('det', 1, 'UPLOADED');
        const err = await rejectsWith(
          store.updateVersion(refOf(v!), { status: ['VALIDATING', 'FAILED'] }, { status: 'VERIFIED' }),
          'CONFLICT',
        );
        expect(err.details).toEqual({
          model: 'det',
          version: '1.0.1',
          status: 'UPLOADED',
          expected: ['VALIDATING', 'FAILED'],
        });
      });

      it('refuses a patch that removes a required field with INVALID_REQUEST naming it, writing nothing', async () => {
        const [v] = await seedVersions('det', 1, 'UPLOADED');
        const ref = refOf(v!);
        for (const field of ['validation', 'status', 'updatedAt'] as const) {
          const err = await rejectsWith(
            store.updateVersion(
              ref,
              { status: ['UPLOADED'] },
              { statusReason: undefined, [field]: undefined },
            ),
            'INVALID_REQUEST',
          );
          expect(err.details).toMatchObject({ field });
        }
        expect(await store.getVersion(ref)).toEqual(v);
      });

      it('refuses a patch of an immutable field and an empty condition with INVALID_REQUEST', async () => {
        const [v] = await seedVersions('det', 1, 'UPLOADED');
        const ref = refOf(v!);
        const immutable = { seq: 9, publisher: 'mallory' } as unknown as VersionPatch;
        const err = await rejectsWith(
          store.updateVersion(ref, { status: ['UPLOADED'] }, immutable),
          'INVALID_REQUEST',
        );
        expect(err.details).toMatchObject({ field: 'seq' });
        const empty = await rejectsWith(
          store.updateVersion(ref, { status: [] }, { status: 'VALIDATING' }),
          'INVALID_REQUEST',
        );
        expect(empty.details).toMatchObject({ field: 'condition.status' });
        expect(await store.getVersion(ref)).toEqual(v);
      });

      it('refuses to update a version that does not exist', async () => {
        await store.createModel(aModel('det'));
        const err = await rejectsWith(
          store.updateVersion(
            { model: 'det', version: '0.0.0' },
            { status: ['UPLOADED'] },
            { status: 'VALIDATING' },
          ),
          'NOT_FOUND',
        );
        expect(err.details).toMatchObject({ model: 'det', version: '0.0.0' });
        expect(await store.getVersion({ model: 'det', version: '0.0.0' })).toBeNull();
      });
    });

    describe('listing versions', () => {
      it('lists newest (highest seq) first, paged by cursor without duplicates or gaps', async () => {
        await seedVersions('det', 7);
        await seedVersions('other', 2);
        const pages = await collectPages((cursor) => store.listVersions('det', { limit: 3, cursor }));
        expect(pages.length).toBeGreaterThanOrEqual(3);
        for (const page of pages) expect(page.items.length).toBeLessThanOrEqual(3);
        expect(pages.flatMap((p) => p.items.map((v) => v.seq))).toEqual([7, 6, 5, 4, 3, 2, 1]);
        expect((await store.listVersions('nope', { limit: 10 })).items).toEqual([]);
      });

      it('filters by status, still newest first and paged', async () => {
        const versions = await seedVersions('det', 7);
        for (const seq of [2, 4, 5, 7]) {
          await store.updateVersion(
            refOf(versions[seq - 1]!),
            { status: ['PENDING_UPLOAD'] },
            { status: 'VERIFIED' },
          );
        }
        const pages = await collectPages((cursor) =>
          store.listVersions('det', { limit: 2, cursor, status: 'VERIFIED' }),
        );
        for (const page of pages) expect(page.items.length).toBeLessThanOrEqual(2);
        const items = pages.flatMap((p) => p.items);
        expect(items.map((v) => v.seq)).toEqual([7, 5, 4, 2]);
        expect(items.every((v) => v.status === 'VERIFIED')).toBe(true);
        const pending = await store.listVersions('det', { limit: 10, status: 'PENDING_UPLOAD' });
        expect(pending.items.map((v) => v.seq)).toEqual([6, 3, 1]);
      });

      it('refuses a cursor of another listing, or of another model, with INVALID_REQUEST', async () => {
        await seedVersions('a', 3);
        await seedVersions('b', 3);
        const ofA = (await store.listVersions('a', { limit: 1 })).nextCursor;
        const ofModels = (await store.listModels({ limit: 1 })).nextCursor;
        const ofStatus = (await store.listVersionsByStatus('PENDING_UPLOAD', { limit: 1 })).nextCursor;
        expect([ofA, ofModels, ofStatus].every((c) => typeof c === 'string')).toBe(true);
        const refused = [
          store.listVersions('b', { limit: 1, cursor: ofA }),
          store.listVersions('a', { limit: 1, cursor: ofModels }),
          store.listModels({ limit: 1, cursor: ofStatus }),
          store.listVersionsByStatus('PENDING_UPLOAD', { limit: 1, cursor: ofA }),
          store.listVersionsByStatus('VERIFIED', { limit: 1, cursor: ofStatus }),
          store.listReports({ model: 'a', version: '1.0.1' }, { limit: 1, cursor: ofA }),
          store.listModelsByProvider('paddle', { limit: 1, cursor: ofA }),
        ];
        for (const listing of refused) {
          const err = await rejectsWith(listing, 'INVALID_REQUEST');
          expect(err.details).toMatchObject({ field: 'cursor' });
        }
      });

      it('refuses a malformed version cursor with INVALID_REQUEST', async () => {
        await seedVersions('det', 1);
        const err = await rejectsWith(
          store.listVersions('det', { limit: 1, cursor: '%%%' }),
          'INVALID_REQUEST',
        );
        expect(err.details).toMatchObject({ field: 'cursor' });
      });

      it('lists versions of one status across models, oldest update first, paged', async () => {
        await store.createModel(aModel('a'));
        await store.createModel(aModel('b'));
        const plan: [string, string, number][] = [
          ['a', '1', 3],
          ['b', '1', 1],
          ['a', '2', 5],
          ['b', '2', 2],
          ['a', '3', 4],
        ];
        for (const [model, version, minute] of plan)
          await store.createVersion(aVersion(model, version, { status: 'UPLOADED', updatedAt: at(minute) }));
        await store.createVersion(aVersion('a', 'pending', { status: 'PENDING_UPLOAD', updatedAt: at(0) }));

        const pages = await collectPages((cursor) =>
          store.listVersionsByStatus('UPLOADED', { limit: 2, cursor }),
        );
        expect(pages.length).toBeGreaterThanOrEqual(3);
        const order = pages.flatMap((p) => p.items.map((v) => `${v.model}@${v.version}`));
        expect(order).toEqual(['b@1', 'b@2', 'a@1', 'a@3', 'a@2']);

        // A transition moves the version from one status list to the other.
        await store.updateVersion(
          { model: 'b', version: '1' },
          { status: ['UPLOADED'] },
          { status: 'VALIDATING', updatedAt: at(9) },
        );
        const uploaded = await store.listVersionsByStatus('UPLOADED', { limit: 10 });
        expect(uploaded.items.map((v) => `${v.model}@${v.version}`)).toEqual(['b@2', 'a@1', 'a@3', 'a@2']);
        const validating = await store.listVersionsByStatus('VALIDATING', { limit: 10 });
        expect(validating.items.map((v) => `${v.model}@${v.version}`)).toEqual(['b@1']);
        expect((await store.listVersionsByStatus('VERIFIED', { limit: 10 })).items).toEqual([]);
      });

      it('finds the highest-seq VERIFIED version as latest', async () => {
        const versions = await seedVersions('det', 4);
        expect(await store.latestVerified('det')).toBeNull();
        expect(await store.latestVerified('nope')).toBeNull();
        for (const v of [versions[0]!, versions[2]!])
          await store.updateVersion(refOf(v), { status: ['PENDING_UPLOAD'] }, { status: 'VERIFIED' });
        expect((await store.latestVerified('det'))?.seq).toBe(3); // seq 4 is newer but not VERIFIED
        await store.updateVersion(refOf(versions[2]!), { status: ['VERIFIED'] }, { status: 'QUARANTINED' });
        expect((await store.latestVerified('det'))?.seq).toBe(1);
      });
    });

    describe('aliases', () => {
      it('points an alias only at a VERIFIED version, atomically checked', async () => {
        const [v1, v2] = await seedVersions('det', 2);
        await store.updateVersion(refOf(v1!), { status: ['PENDING_UPLOAD'] }, { status: 'VERIFIED' });
        const prod = { model: 'det', alias: 'production', version: v1!.version, updatedAt: at(1) };
        await store.setAlias(prod);
        expect(await store.getAlias('det', 'production')).toEqual(prod);

        await rejectsWith(
          store.setAlias({ ...prod, version: v2!.version, updatedAt: at(2) }),
          'NOT_VERIFIED',
        );
        expect(await store.getAlias('det', 'production')).toEqual(prod);

        await store.updateVersion(refOf(v2!), { status: ['PENDING_UPLOAD'] }, { status: 'VERIFIED' });
        const moved = { ...prod, version: v2!.version, updatedAt: at(3) };
        await store.setAlias(moved);
        expect(await store.getAlias('det', 'production')).toEqual(moved);
      });

      it('refuses an alias to a version that does not exist', async () => {
        await seedVersions('det', 1);
        await rejectsWith(
          store.setAlias({ model: 'det', alias: 'staging', version: '7.7.7', updatedAt: at(1) }),
          'NOT_FOUND',
        );
        expect(await store.getAlias('det', 'staging')).toBeNull();
      });

      it('shares one name space between versions and aliases, checked in the same write', async () => {
        const [v1] = await seedVersions('det', 1);
        await store.updateVersion(refOf(v1!), { status: ['PENDING_UPLOAD'] }, { status: 'VERIFIED' });
        await store.setAlias({ model: 'det', alias: 'production', version: v1!.version, updatedAt: at(1) });
        // A version named like an existing alias: refused, nothing written, no seq consumed.
        await rejectsWith(store.createVersion(aVersion('det', 'production')), 'CONFLICT');
        expect(await store.getVersion({ model: 'det', version: 'production' })).toBeNull();
        expect((await store.createVersion(aVersion('det', '2.0.0'))).seq).toBe(2);
        // An alias named like an existing version: refused, nothing written.
        await store.createVersion(aVersion('det', 'staging'));
        await rejectsWith(
          store.setAlias({ model: 'det', alias: 'staging', version: v1!.version, updatedAt: at(2) }),
          'CONFLICT',
        );
        expect(await store.getAlias('det', 'staging')).toBeNull();
        // The name space is per model.
        const [o1] = await seedVersions('other', 1);
        expect(o1!.version).toBe('1.0.1');
        expect(await store.createVersion(aVersion('other', 'production'))).toMatchObject({ seq: 2 });
      });

      it('says in NOT_VERIFIED which status the target has', async () => {
        const [v1] = await seedVersions('det', 1, 'VALIDATING');
        const err = await rejectsWith(
          store.setAlias({ model: 'det', alias: 'production', version: v1!.version, updatedAt: at(1) }),
          'NOT_VERIFIED',
        );
        expect(err.details).toEqual({ model: 'det', version: '1.0.1', status: 'VALIDATING' });
      });

      it('refuses an alias named like a version with CONFLICT even when its target is missing', async () => {
        await seedVersions('det', 1);
        const err = await rejectsWith(
          store.setAlias({ model: 'det', alias: '1.0.1', version: '7.7.7', updatedAt: at(1) }),
          'CONFLICT',
        );
        expect(err.details).toMatchObject({ field: 'alias' });
        expect(await store.getAlias('det', '1.0.1')).toBeNull();
      });

      it('lists and deletes aliases per model', async () => {
        const [v1] = await seedVersions('det', 1);
        const [o1] = await seedVersions('other', 1);
        for (const v of [v1!, o1!])
          await store.updateVersion(refOf(v), { status: ['PENDING_UPLOAD'] }, { status: 'VERIFIED' });
        for (const alias of ['production', 'staging'])
          await store.setAlias({ model: 'det', alias, version: v1!.version, updatedAt: at(1) });
        await store.setAlias({ model: 'other', alias: 'canary', version: o1!.version, updatedAt: at(1) });

        expect((await store.listAliases('det')).map((a) => a.alias).sort()).toEqual([
          'production',
          'staging',
        ]);
        await store.deleteAlias('det', 'staging');
        expect(await store.getAlias('det', 'staging')).toBeNull();
        expect((await store.listAliases('det')).map((a) => a.alias)).toEqual(['production']);
        expect((await store.listAliases('other')).map((a) => a.alias)).toEqual(['canary']);
        expect(await store.listAliases('nope')).toEqual([]);
      });
    });

    describe('reports', () => {
      it('refuses a report of a version that does not exist with NOT_FOUND', async () => {
        await seedVersions('det', 1);
        const ghost = { model: 'det', version: '9.9.9' };
        const err = await rejectsWith(store.appendReport(ghost, aReport(1)), 'NOT_FOUND');
        expect(err.details).toMatchObject(ghost);
        await rejectsWith(store.appendReport({ model: 'nope', version: '1' }, aReport(1)), 'NOT_FOUND');
        expect((await store.listReports(ghost, { limit: 10 })).items).toEqual([]);
      });

      it('keeps the report history of each version, newest first, paged', async () => {
        const [v1, v2] = await seedVersions('det', 2);
        for (const attempt of [1, 2, 3]) await store.appendReport(refOf(v1!), aReport(attempt));
        await store.appendReport(refOf(v2!), aReport(9));

        const pages = await collectPages((cursor) => store.listReports(refOf(v1!), { limit: 2, cursor }));
        for (const page of pages) expect(page.items.length).toBeLessThanOrEqual(2);
        const reports = pages.flatMap((p) => p.items);
        expect(reports.map((r) => r.attempt)).toEqual([3, 2, 1]);
        expect(reports[0]).toEqual(aReport(3));
        expect((await store.listReports(refOf(v2!), { limit: 10 })).items).toEqual([aReport(9)]);
      });
    });

    describe('a version of 5 000 files', () => {
      it('stores its manifest and reports whole, and reads them back by every read path', async () => {
        await store.createModel(aModel('shards'));
        const files = aShardedManifest(5000);
        const created = await store.createVersion(aVersion('shards', '1', { files, status: 'VALIDATING' }));
        const ref = refOf(created);
        expect((await store.getVersion(ref))?.files).toEqual(files);

        const report = aBigReport(files, 1);
        const verified = await store.updateVersion(
          ref,
          { status: ['VALIDATING'] },
          { status: 'VERIFIED', report, updatedAt: at(5) },
        );
        expect(verified.files).toEqual(files);
        expect(verified.report).toEqual(report);
        const read = await store.getVersion(ref);
        expect(read?.report).toEqual(report);
        expect(read?.files).toHaveLength(5000);
        expect((await store.latestVerified('shards'))?.report?.files).toHaveLength(5000);
        expect((await store.listVersions('shards', { limit: 10 })).items[0]?.files).toEqual(files);
        expect((await store.listVersionsByStatus('VERIFIED', { limit: 10 })).items[0]?.report).toEqual(
          report,
        );

        // A later report replaces the earlier one whole; removing it leaves none.
        const second = aBigReport(files, 2);
        await store.updateVersion(ref, { status: ['VERIFIED'] }, { report: second });
        expect((await store.getVersion(ref))?.report).toEqual(second);
        await store.updateVersion(ref, { status: ['VERIFIED'] }, { report: undefined });
        const bare = await store.getVersion(ref);
        expect(bare?.report).toBeUndefined();
        expect(bare?.files).toEqual(files);

        await store.appendReport(ref, report);
        await store.appendReport(ref, aReport(3));
        expect((await store.listReports(ref, { limit: 10 })).items).toEqual([aReport(3), report]);
      });

      it('refuses a changed status on it like on any version (the condition still holds)', async () => {
        await store.createModel(aModel('shards'));
        const created = await store.createVersion(aVersion('shards', '1', { files: aShardedManifest(5000) }));
        const err = await rejectsWith(
          store.updateVersion(
            refOf(created),
            { status: ['VALIDATING'] },
            { report: aBigReport(created.files, 1) },
          ),
          'CONFLICT',
        );
        expect(err.details).toMatchObject({ status: 'PENDING_UPLOAD' });
        expect((await store.getVersion(refOf(created)))?.report).toBeUndefined();
      });
    });

    describe('field-load tallies', () => {
      const load = (node: string, outcome: 'ok' | 'failed', minute: number, principal = `node:${node}`) => ({
        reporter: principal === `node:${node}` ? principal : `${principal}/${node}`,
        principal,
        node,
        outcome,
        at: at(minute),
      });
      const ref = { model: 'det', version: '1' };

      it('keeps each reporter’s and credential’s latest failure and the nodes whose latest load was ok', async () => {
        await store.tallyFieldLoad({ ref }, load('n1', 'ok', 1), 8);
        await store.tallyFieldLoad({ ref }, load('n2', 'ok', 2), 8);
        await store.tallyFieldLoad({ ref }, load('n1', 'failed', 3, 'fleet'), 8);
        const tally = await store.tallyFieldLoad({ ref }, load('n3', 'failed', 4, 'fleet'), 8);
        expect(tally.okNodes).toEqual({ n2: at(2) });
        expect(tally.failedReporters).toEqual({ 'fleet/n1': at(3), 'fleet/n3': at(4) });
        expect(tally.failedPrincipals).toEqual({ fleet: at(4) });
        // Scopes are separate: another version and a provider start empty.
        const other = await store.tallyFieldLoad(
          { ref: { model: 'det', version: '2' } },
          load('n9', 'ok', 5),
          8,
        );
        expect(other).toEqual({ failedReporters: {}, failedPrincipals: {}, okNodes: { n9: at(5) } });
        const provider = await store.tallyFieldLoad({ provider: 'paddle' }, load('n9', 'failed', 6), 8);
        expect(provider.failedReporters).toEqual({ 'node:n9': at(6) });
      });

      it('stays bounded: each map keeps its `keep` most recent entries, whatever the fleet', async () => {
        let tally = await store.tallyFieldLoad({ ref }, load('n0', 'failed', 0), 3);
        for (let i = 1; i < 10; i++)
          tally = await store.tallyFieldLoad({ ref }, load(`n${i}`, 'failed', i), 3);
        expect(tally.failedReporters).toEqual({ 'node:n7': at(7), 'node:n8': at(8), 'node:n9': at(9) });
        expect(Object.keys(tally.failedPrincipals)).toHaveLength(3);
        await rejectsWith(store.tallyFieldLoad({ ref }, load('n1', 'ok', 1), 0), 'INVALID_REQUEST');
      });

      it('loses no load to concurrent reports', async () => {
        await Promise.all(
          Array.from({ length: 12 }, (_, i) => store.tallyFieldLoad({ ref }, load(`n${i}`, 'ok', i), 64)),
        );
        const tally = await store.tallyFieldLoad({ ref }, load('n99', 'failed', 30), 64);
        expect(Object.keys(tally.okNodes).sort()).toEqual(
          Array.from({ length: 12 }, (_, i) => `n${i}`).sort(),
        );
      });
    });
  });
}

/** A passed report with one integrity-only entry per file: over 1 MB of JSON for 5 000 files. */
function aBigReport(files: Version['files'], attempt: number): ValidationReport {
  return {
    ...aReport(attempt),
    files: files.map((f) => ({
      path: f.path,
      sha256: f.sha256,
      size: f.size,
      format: 'other',
      check: 'integrity-only',
      ok: true,
      inputs: [],
      outputs: [],
    })),
  };
}

// ---- fixtures and helpers ----

const at = (minute: number): string => new Date(Date.UTC(2030, 0, 1, 0, minute)).toISOString();

const refOf = (v: Version): VersionRef => ({ model: v.model, version: v.version });

function aModel(name: string, overrides: Partial<Model> = {}): Model {
  return { name, provider: 'paddle', description: '', tags: [], createdAt: at(0), ...overrides };
}

function aVersion(
  model: string,
  version: string,
  overrides: Partial<Omit<Version, 'seq'>> = {},
): Omit<Version, 'seq'> {
  return {
    model,
    version,
    provider: 'paddle',
    status: 'PENDING_UPLOAD',
    files: [
      { path: 'model.onnx', size: 1234, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), format: 'onnx' },
      { path: 'dict/keys.txt', size: 0, sha256: 'c'.repeat(64), md5: 'd'.repeat(32), format: 'other' },
    ],
    totalSize: 1234,
    inputShapes: { x: [1, 3, 48, 320] },
    publisher: 'alice',
    createdAt: at(0),
    updatedAt: at(0),
    validation: { attempts: 0 },
    ...overrides,
  };
}

function aReport(attempt: number): ValidationReport {
  return {
    outcome: attempt % 2 ? 'passed' : 'failed',
    ...(attempt % 2
      ? {}
      : { error: { code: 'MODEL_CORRUPTED', message: 'not a protobuf', file: 'model.onnx' } }),
    runtime: { name: 'onnxruntime-node', version: '1.30.0' },
    executionProvider: 'cpu',
    worker: `worker-${attempt}`,
    attempt,
    startedAt: at(attempt),
    finishedAt: at(attempt + 1),
    durationMs: 1500.5,
    memoryBudgetBytes: 4 * 1024 ** 3,
    files: [
      {
        path: 'model.onnx',
        sha256: 'a'.repeat(64),
        size: 1234,
        format: 'onnx',
        check: 'loaded',
        ok: true,
        loadMs: 12.5,
        peakRssBytes: 123_456_789,
        inputs: [{ name: 'x', type: 'float32', shape: ['batch', 3, 48, 320] }],
        outputs: [],
      },
    ],
    totals: { loadMs: 12.5, inferenceMs: 3, peakRssBytes: 123_456_789 },
    nodeClasses: [{ nodeClass: 'cpu-8g', fits: true, reason: 'peak × 1.5 ≤ 8 GiB' }],
  };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<RegistryError> {
  const outcome = await promise.then(
    () => new Error('expected a rejection, got a result'),
    (e: unknown) => e,
  );
  expect(outcome).toBeInstanceOf(RegistryError);
  const err = outcome as RegistryError;
  expect(err.code).toBe(code);
  return err;
}

/** Follows nextCursor to the end (bounded, so a cursor that never ends fails the test instead of hanging). */
async function collectPages<T>(
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): Promise<Page<T>[]> {
  const pages: Page<T>[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    pages.push(page);
    cursor = page.nextCursor;
    if (pages.length > 50) throw new Error('pagination did not end after 50 pages');
  } while (cursor);
  return pages;
}
