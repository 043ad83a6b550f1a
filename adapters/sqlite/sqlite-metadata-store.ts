import { aliasShadowsVersion, versionShadowsAlias } from '../../core/aliases.js';
import { RegistryError } from '../../core/errors.js';
import type {
  LoadReportScope,
  MetadataStore,
  Page,
  PageRequest,
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

const isUniqueViolation = (e: unknown) =>
  e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('SQLITE_CONSTRAINT');

/** A page of `limit` items from a query that fetched `limit + 1` rows, with the cursor of its last item. */
function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => (string | number)[]): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(keyOf(items[items.length - 1]!)) };
}

/** better-sqlite3 is synchronous: each method is one short transaction, wrapped in a Promise for the port. */
export class SqliteMetadataStore implements MetadataStore {
  constructor(private readonly db: SqliteDatabase) {}

  async createModel(model: Model): Promise<void> {
    try {
      this.db
        .prepare('INSERT INTO models (name, provider, doc) VALUES (?, ?, ?)')
        .run(model.name, model.provider, JSON.stringify(model));
    } catch (e) {
      if (isUniqueViolation(e))
        throw new RegistryError('ALREADY_EXISTS', `model ${model.name} already exists`, {
          model: model.name,
        });
      throw e;
    }
  }

  async getModel(name: string): Promise<Model | null> {
    const row = this.db.prepare('SELECT doc FROM models WHERE name = ?').get(name) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as Model) : null;
  }

  async listModels(page: PageRequest): Promise<Page<Model>> {
    const after = page.cursor ? String(decodeCursor(page.cursor, 1)[0]) : '';
    const rows = this.db
      .prepare('SELECT doc FROM models WHERE name > ? ORDER BY name LIMIT ?')
      .all(after, page.limit + 1) as DocRow[];
    return pageOf(
      rows.map((r) => JSON.parse(r.doc) as Model),
      page.limit,
      (m) => [m.name],
    );
  }

  async createVersion(input: Omit<Version, 'seq'>): Promise<Version> {
    return this.db.transaction(() => {
      const model = this.db.prepare('SELECT next_seq FROM models WHERE name = ?').get(input.model) as
        | { next_seq: number }
        | undefined;
      if (!model)
        throw new RegistryError('NOT_FOUND', `model ${input.model} not found`, { model: input.model });
      const version: Version = { ...input, seq: model.next_seq };
      if (
        this.db.prepare('SELECT 1 FROM aliases WHERE model = ? AND alias = ?').get(input.model, input.version)
      )
        throw versionShadowsAlias(input.model, input.version);
      try {
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
      } catch (e) {
        if (isUniqueViolation(e))
          throw new RegistryError(
            'ALREADY_EXISTS',
            `version ${input.model}@${input.version} already exists`,
            {
              model: input.model,
              version: input.version,
            },
          );
        throw e;
      }
      this.db.prepare('UPDATE models SET next_seq = next_seq + 1 WHERE name = ?').run(input.model);
      return version;
    })();
  }

  async getVersion(ref: VersionRef): Promise<Version | null> {
    return this.readVersion(ref);
  }

  private readVersion(ref: VersionRef): Version | null {
    const row = this.db
      .prepare('SELECT doc FROM versions WHERE model = ? AND version = ?')
      .get(ref.model, ref.version) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as Version) : null;
  }

  async listVersions(
    model: string,
    page: PageRequest & { status?: VersionStatus | undefined },
  ): Promise<Page<Version>> {
    const before = page.cursor ? Number(decodeCursor(page.cursor, 1)[0]) : Number.MAX_SAFE_INTEGER;
    const rows = this.db
      .prepare(
        `SELECT doc FROM versions WHERE model = ? AND seq < ? ${page.status ? 'AND status = ?' : ''}
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(...[model, before, ...(page.status ? [page.status] : []), page.limit + 1]) as DocRow[];
    return pageOf(
      rows.map((r) => JSON.parse(r.doc) as Version),
      page.limit,
      (v) => [v.seq],
    );
  }

  async listVersionsByStatus(status: VersionStatus, page: PageRequest): Promise<Page<Version>> {
    const [updatedAt, model, version] = page.cursor ? decodeCursor(page.cursor, 3).map(String) : ['', '', ''];
    const rows = this.db
      .prepare(
        `SELECT doc FROM versions WHERE status = ? AND (updated_at, model, version) > (?, ?, ?)
         ORDER BY updated_at, model, version LIMIT ?`,
      )
      .all(status, updatedAt, model, version, page.limit + 1) as DocRow[];
    return pageOf(
      rows.map((r) => JSON.parse(r.doc) as Version),
      page.limit,
      (v) => [v.updatedAt, v.model, v.version],
    );
  }

  async updateVersion(ref: VersionRef, condition: VersionCondition, patch: VersionPatch): Promise<Version> {
    return this.db.transaction(() => {
      const current = this.readVersion(ref);
      if (!current)
        throw new RegistryError('NOT_FOUND', `version ${ref.model}@${ref.version} not found`, { ...ref });
      const statusOk = condition.status.includes(current.status);
      const ownerOk =
        condition.leaseOwner === undefined || current.validation.leaseOwner === condition.leaseOwner;
      if (!statusOk || !ownerOk)
        throw new RegistryError(
          'CONFLICT',
          `${ref.model}@${ref.version} changed concurrently (now ${current.status})`,
          {
            ...ref,
            status: current.status,
          },
        );
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

  async latestVerified(model: string): Promise<Version | null> {
    const row = this.db
      .prepare("SELECT doc FROM versions WHERE model = ? AND status = 'VERIFIED' ORDER BY seq DESC LIMIT 1")
      .get(model) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as Version) : null;
  }

  async setAlias(alias: Alias): Promise<void> {
    this.db.transaction(() => {
      if (this.readVersion({ model: alias.model, version: alias.alias }))
        throw aliasShadowsVersion(alias.model, alias.alias);
      const target = this.readVersion({ model: alias.model, version: alias.version });
      if (target?.status !== 'VERIFIED')
        throw new RegistryError(
          'NOT_VERIFIED',
          `${alias.model}@${alias.version} is ${target?.status ?? 'missing'}: only a VERIFIED version can be aliased`,
          { model: alias.model, version: alias.version, status: target?.status ?? null },
        );
      this.db
        .prepare(
          `INSERT INTO aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
        )
        .run(alias.model, alias.alias, alias.version, alias.updatedAt);
    })();
  }

  async getAlias(model: string, alias: string): Promise<Alias | null> {
    const row = this.db
      .prepare(
        'SELECT model, alias, version, updated_at AS updatedAt FROM aliases WHERE model = ? AND alias = ?',
      )
      .get(model, alias) as Alias | undefined;
    return row ?? null;
  }

  async listAliases(model: string): Promise<Alias[]> {
    return this.db
      .prepare(
        'SELECT model, alias, version, updated_at AS updatedAt FROM aliases WHERE model = ? ORDER BY alias',
      )
      .all(model) as Alias[];
  }

  async deleteAlias(model: string, alias: string): Promise<void> {
    this.db.prepare('DELETE FROM aliases WHERE model = ? AND alias = ?').run(model, alias);
  }

  async appendReport(ref: VersionRef, report: ValidationReport): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO reports (model, version, n, doc)
         VALUES (?, ?, (SELECT COALESCE(MAX(n), 0) + 1 FROM reports WHERE model = ? AND version = ?), ?)`,
      )
      .run(ref.model, ref.version, ref.model, ref.version, JSON.stringify(report));
  }

  async listReports(ref: VersionRef, page: PageRequest): Promise<Page<ValidationReport>> {
    const before = page.cursor ? Number(decodeCursor(page.cursor, 1)[0]) : Number.MAX_SAFE_INTEGER;
    const rows = this.db
      .prepare('SELECT n, doc FROM reports WHERE model = ? AND version = ? AND n < ? ORDER BY n DESC LIMIT ?')
      .all(ref.model, ref.version, before, page.limit + 1) as { n: number; doc: string }[];
    const page_ = pageOf(rows, page.limit, (r) => [r.n]);
    return {
      items: page_.items.map((r) => JSON.parse(r.doc) as ValidationReport),
      nextCursor: page_.nextCursor,
    };
  }
  async listModelsByProvider(provider: string, page: PageRequest): Promise<Page<Model>> {
    const after = page.cursor ? String(decodeCursor(page.cursor, 1)[0]) : '';
    const rows = this.db
      .prepare('SELECT doc FROM models WHERE provider = ? AND name > ? ORDER BY name LIMIT ?')
      .all(provider, after, page.limit + 1) as DocRow[];
    return pageOf(
      rows.map((r) => JSON.parse(r.doc) as Model),
      page.limit,
      (m) => [m.name],
    );
  }

  async createProviderIfAbsent(record: ProviderRecord): Promise<boolean> {
    const result = this.db
      .prepare('INSERT INTO providers (name, revision, doc) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING')
      .run(record.name, record.revision, JSON.stringify(record));
    return result.changes === 1;
  }

  async getProvider(name: string): Promise<ProviderRecord | null> {
    const row = this.db.prepare('SELECT doc FROM providers WHERE name = ?').get(name) as DocRow | undefined;
    return row ? (JSON.parse(row.doc) as ProviderRecord) : null;
  }

  async listProviders(): Promise<ProviderRecord[]> {
    const rows = this.db.prepare('SELECT doc FROM providers ORDER BY name').all() as DocRow[];
    return rows.map((r) => JSON.parse(r.doc) as ProviderRecord);
  }

  async updateProvider(record: ProviderRecord, expectedRevision: number): Promise<void> {
    this.db.transaction(() => {
      const current = this.db.prepare('SELECT revision FROM providers WHERE name = ?').get(record.name) as
        | { revision: number }
        | undefined;
      if (!current)
        throw new RegistryError('NOT_FOUND', `provider ${record.name} not found`, { provider: record.name });
      if (current.revision !== expectedRevision)
        throw new RegistryError('CONFLICT', `provider ${record.name} changed concurrently`, {
          provider: record.name,
          revision: current.revision,
        });
      this.db
        .prepare('UPDATE providers SET revision = ?, doc = ? WHERE name = ?')
        .run(record.revision, JSON.stringify(record), record.name);
    })();
  }

  async appendLoadReport(report: LoadReport): Promise<void> {
    this.db
      .prepare('INSERT INTO load_reports (model, version, provider, at, doc) VALUES (?, ?, ?, ?, ?)')
      .run(report.model, report.version, report.provider, report.at, JSON.stringify(report));
  }

  async listLoadReports(
    scope: LoadReportScope,
    options: { since?: string | undefined; limit: number },
  ): Promise<LoadReport[]> {
    const [where, args]: [string, string[]] =
      'ref' in scope
        ? ['model = ? AND version = ?', [scope.ref.model, scope.ref.version]]
        : 'provider' in scope
          ? ['provider = ?', [scope.provider]]
          : ['1 = 1', []];
    const rows = this.db
      .prepare(`SELECT doc FROM load_reports WHERE ${where} AND at >= ? ORDER BY at DESC, id DESC LIMIT ?`)
      .all(...args, options.since ?? '', options.limit) as DocRow[];
    return rows.map((r) => JSON.parse(r.doc) as LoadReport);
  }
}
