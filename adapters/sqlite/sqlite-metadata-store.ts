import { MetadataStoreBase, type PageOutcome } from '../../core/metadata-store-base.js';
import type {
  LoadReportScope,
  LoadTally,
  Page,
  PageRequest,
  TallyScope,
  VersionCondition,
  VersionPatch,
  VersionRef,
} from '../../core/ports.js';
import type { LoadReport } from '../../schemas/load-report.schema.js';
import type { Model } from '../../schemas/model.schema.js';
import type { ProviderRecord } from '../../schemas/provider.schema.js';
import type { ValidationReport } from '../../schemas/report.schema.js';
import type { Alias, Version, VersionStatus } from '../../schemas/version.schema.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { SqliteDatabase } from './database.js';

interface DocRow {
  doc: string;
}

/**
 * The sort key a cursor of this listing holds: the cursor is `[...scope, ...key]`, so a cursor of
 * another listing, or of the same listing over another model or provider, is refused as DynamoDB's is.
 * undefined without a cursor, null for one that is not of this listing.
 */
function cursorKey<K extends 'string' | 'number'>(
  cursor: string | undefined,
  scope: readonly string[],
  kinds: readonly K[],
): (K extends 'number' ? number : string)[] | null | undefined {
  if (cursor === undefined) return undefined;
  const decoded = decodeCursor(cursor, scope.length + kinds.length);
  if (!decoded || scope.some((s, i) => decoded[i] !== s)) return null;
  const key = decoded.slice(scope.length);
  const fits = key.every(
    (k, i) => typeof k === kinds[i] && (typeof k === 'string' || Number.isSafeInteger(k)),
  );
  return fits ? (key as (K extends 'number' ? number : string)[]) : null;
}

/**
 * A page of `limit` items from a query that fetched `limit + 1` rows, with the cursor of its last item
 * (`scope` then its sort key).
 */
function pageOf<T>(
  rows: T[],
  limit: number,
  scope: readonly string[],
  keyOf: (row: T) => (string | number)[],
): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor([...scope, ...keyOf(items[items.length - 1]!)]) };
}

const docs = <T>(rows: DocRow[]): T[] => rows.map((r) => JSON.parse(r.doc) as T);

/**
 * MetadataStore on SQLite (tables in migrations.ts). better-sqlite3 is synchronous: each storage method
 * is one short transaction, so every check and its write are atomic. The contract (errors, limits,
 * patch rules) is MetadataStoreBase's.
 */
export class SqliteMetadataStore extends MetadataStoreBase {
  constructor(private readonly db: SqliteDatabase) {
    super();
  }

  protected async insertModel(model: Model): Promise<'ok' | 'exists'> {
    const result = this.db
      .prepare('INSERT INTO models (name, provider, doc) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING')
      .run(model.name, model.provider, JSON.stringify(model));
    return result.changes === 1 ? 'ok' : 'exists';
  }

  protected async readModel(name: string): Promise<Model | null> {
    const row = this.db.prepare('SELECT doc FROM models WHERE name = ?').get(name) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as Model) : null;
  }

  protected async queryModels(page: PageRequest): Promise<PageOutcome<Model>> {
    const scope = ['models'];
    const after = cursorKey(page.cursor, scope, ['string']);
    if (after === null) return 'bad-cursor';
    const rows = this.db
      .prepare('SELECT doc FROM models WHERE name > ? ORDER BY name LIMIT ?')
      .all(after?.[0] ?? '', page.limit + 1) as DocRow[];
    return pageOf(docs<Model>(rows), page.limit, scope, (m) => [m.name]);
  }

  protected async insertVersion(
    input: Omit<Version, 'seq'>,
  ): Promise<Version | 'model-missing' | 'exists' | 'shadows-alias'> {
    return this.db.transaction(() => {
      const model = this.db.prepare('SELECT next_seq FROM models WHERE name = ?').get(input.model) as
        | { next_seq: number }
        | undefined;
      if (!model) return 'model-missing' as const;
      if (this.readVersionSync(input)) return 'exists' as const;
      if (
        this.db.prepare('SELECT 1 FROM aliases WHERE model = ? AND alias = ?').get(input.model, input.version)
      )
        return 'shadows-alias' as const;
      const version: Version = { ...input, seq: model.next_seq };
      this.db
        .prepare(
          'INSERT INTO versions (model, version, seq, status, updated_at, lease_owner, doc) VALUES (?, ?, ?, ?, ?, NULL, ?)',
        )
        .run(
          version.model,
          version.version,
          version.seq,
          version.status,
          version.updatedAt,
          JSON.stringify(version),
        );
      this.db.prepare('UPDATE models SET next_seq = next_seq + 1 WHERE name = ?').run(input.model);
      return version;
    })();
  }

  protected async readVersion(ref: VersionRef): Promise<Version | null> {
    return this.readVersionSync(ref);
  }

  private readVersionSync(ref: VersionRef): Version | null {
    const row = this.db
      .prepare('SELECT doc FROM versions WHERE model = ? AND version = ?')
      .get(ref.model, ref.version) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as Version) : null;
  }

  protected async queryVersions(
    model: string,
    page: PageRequest,
    status: VersionStatus | undefined,
  ): Promise<PageOutcome<Version>> {
    const scope = ['versions', model];
    const before = cursorKey(page.cursor, scope, ['number']);
    if (before === null) return 'bad-cursor';
    const rows = this.db
      .prepare(
        `SELECT doc FROM versions WHERE model = ? AND seq < ? ${status ? 'AND status = ?' : ''}
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(
        ...[model, before?.[0] ?? Number.MAX_SAFE_INTEGER, ...(status ? [status] : []), page.limit + 1],
      ) as DocRow[];
    return pageOf(docs<Version>(rows), page.limit, scope, (v) => [v.seq]);
  }

  protected async queryVersionsByStatus(
    status: VersionStatus,
    page: PageRequest,
  ): Promise<PageOutcome<Version>> {
    const scope = ['by-status', status];
    const after = cursorKey(page.cursor, scope, ['string', 'string', 'string']);
    if (after === null) return 'bad-cursor';
    const [updatedAt, model, version] = after ?? ['', '', ''];
    const rows = this.db
      .prepare(
        `SELECT doc FROM versions WHERE status = ? AND (updated_at, model, version) > (?, ?, ?)
         ORDER BY updated_at, model, version LIMIT ?`,
      )
      .all(status, updatedAt, model, version, page.limit + 1) as DocRow[];
    return pageOf(docs<Version>(rows), page.limit, scope, (v) => [v.updatedAt, v.model, v.version]);
  }

  protected async writeVersion(
    ref: VersionRef,
    condition: VersionCondition,
    patch: VersionPatch,
  ): Promise<Version | 'missing' | { readonly conflict: VersionStatus }> {
    return this.db.transaction(() => {
      const current = this.readVersionSync(ref);
      if (!current) return 'missing' as const;
      const statusOk = condition.status.includes(current.status);
      const ownerOk =
        condition.leaseOwner === undefined || current.validation.leaseOwner === condition.leaseOwner;
      if (!statusOk || !ownerOk) return { conflict: current.status };
      // JSON.stringify drops keys whose value is undefined: a patch key set to undefined removes the field.
      const next = JSON.parse(JSON.stringify({ ...current, ...patch })) as Version;
      this.db
        .prepare(
          'UPDATE versions SET status = ?, updated_at = ?, lease_owner = ?, doc = ? WHERE model = ? AND version = ?',
        )
        .run(
          next.status,
          next.updatedAt,
          next.validation.leaseOwner ?? null,
          JSON.stringify(next),
          ref.model,
          ref.version,
        );
      return next;
    })();
  }

  protected async readLatestVerified(model: string): Promise<Version | null> {
    const row = this.db
      .prepare("SELECT doc FROM versions WHERE model = ? AND status = 'VERIFIED' ORDER BY seq DESC LIMIT 1")
      .get(model) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as Version) : null;
  }

  protected async writeAlias(
    alias: Alias,
  ): Promise<'ok' | 'shadows-version' | 'version-missing' | { readonly notVerified: VersionStatus }> {
    return this.db.transaction(() => {
      if (this.readVersionSync({ model: alias.model, version: alias.alias }))
        return 'shadows-version' as const;
      const target = this.readVersionSync({ model: alias.model, version: alias.version });
      if (!target) return 'version-missing' as const;
      if (target.status !== 'VERIFIED') return { notVerified: target.status };
      this.db
        .prepare(
          `INSERT INTO aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
        )
        .run(alias.model, alias.alias, alias.version, alias.updatedAt);
      return 'ok' as const;
    })();
  }

  protected async readAlias(model: string, alias: string): Promise<Alias | null> {
    const row = this.db
      .prepare(
        'SELECT model, alias, version, updated_at AS updatedAt FROM aliases WHERE model = ? AND alias = ?',
      )
      .get(model, alias) as Alias | undefined;
    return row ?? null;
  }

  protected async queryAliases(model: string): Promise<Alias[]> {
    return this.db
      .prepare(
        'SELECT model, alias, version, updated_at AS updatedAt FROM aliases WHERE model = ? ORDER BY alias',
      )
      .all(model) as Alias[];
  }

  protected async removeAlias(model: string, alias: string): Promise<void> {
    this.db.prepare('DELETE FROM aliases WHERE model = ? AND alias = ?').run(model, alias);
  }

  protected async insertReport(ref: VersionRef, report: ValidationReport): Promise<'ok' | 'missing'> {
    return this.db.transaction(() => {
      if (!this.readVersionSync(ref)) return 'missing' as const;
      this.db
        .prepare(
          `INSERT INTO reports (model, version, n, doc)
           VALUES (?, ?, (SELECT COALESCE(MAX(n), 0) + 1 FROM reports WHERE model = ? AND version = ?), ?)`,
        )
        .run(ref.model, ref.version, ref.model, ref.version, JSON.stringify(report));
      return 'ok' as const;
    })();
  }

  protected async queryReports(ref: VersionRef, page: PageRequest): Promise<PageOutcome<ValidationReport>> {
    const scope = ['reports', ref.model, ref.version];
    const before = cursorKey(page.cursor, scope, ['number']);
    if (before === null) return 'bad-cursor';
    const rows = this.db
      .prepare('SELECT n, doc FROM reports WHERE model = ? AND version = ? AND n < ? ORDER BY n DESC LIMIT ?')
      .all(ref.model, ref.version, before?.[0] ?? Number.MAX_SAFE_INTEGER, page.limit + 1) as {
      n: number;
      doc: string;
    }[];
    const rowPage = pageOf(rows, page.limit, scope, (r) => [r.n]);
    return { items: docs<ValidationReport>(rowPage.items), nextCursor: rowPage.nextCursor };
  }

  protected async queryModelsByProvider(provider: string, page: PageRequest): Promise<PageOutcome<Model>> {
    const scope = ['provider-models', provider];
    const after = cursorKey(page.cursor, scope, ['string']);
    if (after === null) return 'bad-cursor';
    const rows = this.db
      .prepare('SELECT doc FROM models WHERE provider = ? AND name > ? ORDER BY name LIMIT ?')
      .all(provider, after?.[0] ?? '', page.limit + 1) as DocRow[];
    return pageOf(docs<Model>(rows), page.limit, scope, (m) => [m.name]);
  }

  protected async insertProvider(record: ProviderRecord): Promise<'ok' | 'exists'> {
    const result = this.db
      .prepare('INSERT INTO providers (name, revision, doc) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING')
      .run(record.name, record.revision, JSON.stringify(record));
    return result.changes === 1 ? 'ok' : 'exists';
  }

  protected async readProvider(name: string): Promise<ProviderRecord | null> {
    const row = this.db.prepare('SELECT doc FROM providers WHERE name = ?').get(name) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as ProviderRecord) : null;
  }

  protected async queryProviders(): Promise<ProviderRecord[]> {
    return docs<ProviderRecord>(this.db.prepare('SELECT doc FROM providers ORDER BY name').all() as DocRow[]);
  }

  protected async replaceProvider(
    record: ProviderRecord,
    expectedRevision: number,
  ): Promise<'ok' | 'missing' | { readonly conflict: number }> {
    return this.db.transaction(() => {
      const current = this.db.prepare('SELECT revision FROM providers WHERE name = ?').get(record.name) as
        | { revision: number }
        | undefined;
      if (!current) return 'missing' as const;
      if (current.revision !== expectedRevision) return { conflict: current.revision };
      this.db
        .prepare('UPDATE providers SET revision = ?, doc = ? WHERE name = ?')
        .run(record.revision, JSON.stringify(record), record.name);
      return 'ok' as const;
    })();
  }

  protected async insertLoadReport(report: LoadReport): Promise<void> {
    this.db
      .prepare('INSERT INTO load_reports (model, version, provider, at, doc) VALUES (?, ?, ?, ?, ?)')
      .run(report.model, report.version, report.provider, report.at, JSON.stringify(report));
  }

  protected async queryLoadReports(
    scope: LoadReportScope,
    options: { readonly since?: string | undefined; readonly limit: number },
  ): Promise<LoadReport[]> {
    const [where, args]: [string, string[]] =
      'ref' in scope
        ? ['model = ? AND version = ?', [scope.ref.model, scope.ref.version]]
        : 'provider' in scope
          ? ['provider = ?', [scope.provider]]
          : ['provider IN (SELECT name FROM providers)', []];
    const rows = this.db
      .prepare(`SELECT doc FROM load_reports WHERE ${where} AND at >= ? ORDER BY at DESC, id DESC LIMIT ?`)
      .all(...args, options.since ?? '', options.limit) as DocRow[];
    return docs<LoadReport>(rows);
  }

  protected async updateTally(
    scope: TallyScope,
    next: (tally: LoadTally | null) => LoadTally,
  ): Promise<LoadTally> {
    const key =
      'ref' in scope ? `version:${scope.ref.model}@${scope.ref.version}` : `provider:${scope.provider}`;
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT doc FROM load_tallies WHERE scope = ?').get(key) as
        | DocRow
        | undefined;
      const tally = next(row ? (JSON.parse(row.doc) as LoadTally) : null);
      this.db
        .prepare(
          'INSERT INTO load_tallies (scope, doc) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET doc = excluded.doc',
        )
        .run(key, JSON.stringify(tally));
      return tally;
    })();
  }
}
