import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../core/errors.js';
import type { MetadataStore } from '../../core/ports.js';
import type { LoadReport } from '../../schemas/load-report.schema.js';
import type { ProviderRecord } from '../../schemas/provider.schema.js';

/** The operations part of the MetadataStore port (providers, load reports), against every adapter. */
export function describeOperationsStoreContract(
  adapterName: string,
  setup: () => Promise<{ store: MetadataStore; cleanup: () => Promise<void> }>,
): void {
  describe(`MetadataStore operations contract: ${adapterName}`, () => {
    let store: MetadataStore;
    let cleanup: (() => Promise<void>) | undefined;
    beforeEach(async () => {
      ({ store, cleanup } = await setup());
    });
    afterEach(async () => {
      await cleanup?.();
    });

    const provider = (name: string, extra: Partial<ProviderRecord> = {}): ProviderRecord => ({
      name,
      state: 'enabled',
      revision: 0,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      ...extra,
    });

    const report = (
      model: string,
      version: string,
      prov: string,
      at: string,
      outcome: 'ok' | 'failed' = 'ok',
    ): LoadReport => ({
      model,
      version,
      provider: prov,
      node: `node-${at.slice(-6, -1)}`,
      source: 'field',
      outcome,
      ...(outcome === 'failed' ? { code: 'INSUFFICIENT_MEMORY' as const } : {}),
      at,
    });

    it('creates a provider once and reads it back', async () => {
      expect(await store.createProviderIfAbsent(provider('paddle'))).toBe(true);
      expect(await store.createProviderIfAbsent(provider('paddle', { state: 'disabled' }))).toBe(false);
      expect(await store.getProvider('paddle')).toEqual(provider('paddle'));
      expect(await store.getProvider('nope')).toBeNull();
      await store.createProviderIfAbsent(provider('easyocr'));
      expect((await store.listProviders()).map((p) => p.name)).toEqual(['easyocr', 'paddle']);
    });

    it('updates a provider only at the expected revision', async () => {
      await store.createProviderIfAbsent(provider('paddle'));
      await store.updateProvider(provider('paddle', { state: 'disabled', reason: 'OOM', revision: 1 }), 0);
      expect((await store.getProvider('paddle'))?.state).toBe('disabled');
      const stale = await store
        .updateProvider(provider('paddle', { state: 'enabled', revision: 1 }), 0)
        .catch((e) => e);
      expect(stale).toBeInstanceOf(RegistryError);
      expect((stale as RegistryError).code).toBe('CONFLICT');
      expect((stale as RegistryError).details).toEqual({ provider: 'paddle', revision: 1 });
      expect(await store.getProvider('paddle')).toMatchObject({
        state: 'disabled',
        reason: 'OOM',
        revision: 1,
      });
      const missing = await store.updateProvider(provider('ghost', { revision: 1 }), 0).catch((e) => e);
      expect((missing as RegistryError).code).toBe('NOT_FOUND');
    });

    it('lists the models of a provider, paginated', async () => {
      for (const [name, prov] of [
        ['a', 'paddle'],
        ['b', 'easyocr'],
        ['c', 'paddle'],
        ['d', 'paddle'],
      ] as const)
        await store.createModel({
          name,
          provider: prov,
          description: '',
          tags: [],
          createdAt: '2026-01-01T00:00:00Z',
        });
      const first = await store.listModelsByProvider('paddle', { limit: 2 });
      expect(first.items.map((m) => m.name)).toEqual(['a', 'c']);
      const second = await store.listModelsByProvider('paddle', { limit: 2, cursor: first.nextCursor });
      expect(second.items.map((m) => m.name)).toEqual(['d']);
      expect(second.nextCursor).toBeUndefined();
    });

    it('keeps load reports by version, by provider and overall, newest first, since a time', async () => {
      await store.appendLoadReport(report('det', '1.0', 'paddle', '2026-01-01T00:00:01.000Z'));
      await store.appendLoadReport(report('det', '1.0', 'paddle', '2026-01-01T00:00:03.000Z', 'failed'));
      await store.appendLoadReport(report('det', '1.0.1', 'paddle', '2026-01-01T00:00:02.000Z'));
      await store.appendLoadReport(report('rec', '2', 'easyocr', '2026-01-01T00:00:04.000Z'));

      const byVersion = await store.listLoadReports({ ref: { model: 'det', version: '1.0' } }, { limit: 10 });
      expect(byVersion.map((r) => r.at.slice(17, 19))).toEqual(['03', '01']);
      expect(byVersion[0]).toMatchObject({ outcome: 'failed', code: 'INSUFFICIENT_MEMORY' });

      const since = await store.listLoadReports(
        { ref: { model: 'det', version: '1.0' } },
        { since: '2026-01-01T00:00:02.000Z', limit: 10 },
      );
      expect(since.map((r) => r.at.slice(17, 19))).toEqual(['03']);

      const byProvider = await store.listLoadReports({ provider: 'paddle' }, { limit: 10 });
      expect(byProvider.map((r) => `${r.version}@${r.at.slice(17, 19)}`)).toEqual([
        '1.0@03',
        '1.0.1@02',
        '1.0@01',
      ]);

      await store.createProviderIfAbsent(provider('paddle'));
      await store.createProviderIfAbsent(provider('easyocr'));
      const all = await store.listLoadReports({ all: true }, { limit: 3 });
      expect(all.map((r) => r.at.slice(17, 19))).toEqual(['04', '03', '02']);
      // `all` covers the providers that have a record; a report naming another is kept under its provider.
      await store.appendLoadReport(report('odd', '1', 'unregistered', '2026-01-01T00:00:05.000Z'));
      expect((await store.listLoadReports({ all: true }, { limit: 1 }))[0]?.at.slice(17, 19)).toBe('04');
      expect(await store.listLoadReports({ provider: 'unregistered' }, { limit: 5 })).toHaveLength(1);
      // Not paginated, so a large limit is taken as asked (a window's worth), not refused.
      expect(await store.listLoadReports({ all: true }, { limit: 100_000 })).toHaveLength(4);

      // Reports of the same instant come back newest arrival first, in every scope.
      const same = '2026-01-01T00:00:09.000Z';
      for (const node of ['n1', 'n2', 'n3'])
        await store.appendLoadReport({ ...report('det', '1.0', 'paddle', same), node });
      const scopes = [
        { ref: { model: 'det', version: '1.0' } },
        { provider: 'paddle' },
        { all: true as const },
      ];
      for (const scope of scopes) {
        const tied = await store.listLoadReports(scope, { since: same, limit: 10 });
        expect(tied.map((r) => r.node)).toEqual(['n3', 'n2', 'n1']);
      }

      for (const limit of [0, -1, 2.5]) {
        const bad = await store.listLoadReports({ provider: 'paddle' }, { limit }).catch((e: unknown) => e);
        expect(bad).toBeInstanceOf(RegistryError);
        expect((bad as RegistryError).code).toBe('INVALID_REQUEST');
        expect((bad as RegistryError).details).toEqual({ field: 'limit' });
      }
    });
  });
}
